"""What ``llmroof history`` prints: a history record as a table, JSON, CSV, markdown or an HTML page
(on stdout, or into a file with a summary line), the line ``history add`` ends with, the markdown
``check`` appends to a GitHub job summary, and the CSV of ``export``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from llmroof.results.records.history import HistoryRecord

if TYPE_CHECKING:
    from llmroof.history.trend import Added

FORMATS = ("table", "json", "csv", "markdown", "html")


def history_text(record: HistoryRecord, fmt: str) -> str:
    """``record`` as ``fmt``, one of :data:`FORMATS`."""
    from llmroof.history import render as out

    if fmt == "json":
        from llmroof.writers import dumps

        return dumps(record.to_dict()) + "\n"
    if fmt == "csv":
        from llmroof.writers import csv_text

        return csv_text(out.csv_rows(record))
    if fmt == "markdown":
        return out.render_markdown(record)
    if fmt == "html":
        from llmroof.report.answer import history_answer

        return out.render_html(record, history_answer(record))
    return out.render_table(record)


def print_result(record: HistoryRecord, fmt: str = "table", out: Path | None = None) -> None:
    """``record`` as ``fmt`` on stdout; with ``out``, into that file and a summary line on stdout."""
    text = history_text(record, fmt)
    if out is None:
        sys.stdout.write(text)
        return
    from llmroof.history.render import summary_line
    from llmroof.writers import write_text_atomic

    write_text_atomic(out, text)
    print(f"{summary_line(record)}; wrote {out}")


def print_check(
    record: HistoryRecord, fmt: str = "table", out: Path | None = None, step_summary: bool = True
) -> None:
    """``history check``: :func:`print_result`, then (``step_summary``, in GitHub Actions) the
    markdown appended to ``$GITHUB_STEP_SUMMARY``; a summary that cannot be written is a warning."""
    print_result(record, fmt, out)
    if not (step_summary and os.environ.get("GITHUB_STEP_SUMMARY")):
        return
    from llmroof.history.render import render_markdown

    try:
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as handle:
            handle.write(render_markdown(record) + "\n")
    except OSError as exc:
        print(f"llmroof: warning: cannot append to $GITHUB_STEP_SUMMARY: {exc}", file=sys.stderr)


def print_added(added: Added) -> None:
    """The line ``history add`` ends with: what was new, where, at which commit."""
    where = added.provenance
    print(
        f"added {added.new_runs} run(s), {added.new_values} values, at {where.commit[:10]} on "
        f"{where.branch} ({where.time_utc}) to {added.database}; {added.known_runs} already there"
    )


def print_export(record: HistoryRecord, out: Path | None = None) -> None:
    """``history export``: the Otava CSV on stdout, or into ``out`` with a count of the series."""
    from llmroof.history.trend import export_rows
    from llmroof.writers import csv_text, write_text_atomic

    text = csv_text(export_rows(record))
    if out is None:
        sys.stdout.write(text)
    else:
        write_text_atomic(out, text)
        print(f"{len(record.series)} series; wrote {out}")
