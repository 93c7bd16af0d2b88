"""``llmroof history add|show|check|export``: every CI run kept in a database (SQLite by default,
PostgreSQL for a team), trends with change points, and a gate that reads the history. Needs no torch;
matplotlib only for ``--format html``, psycopg only for a ``postgresql://`` database."""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from llmroof.history.detect import DetectSettings
    from llmroof.history.trend import Selection
    from llmroof.results.records.history import HistoryRecord

history_app = typer.Typer(
    name="history",
    no_args_is_help=True,
    add_completion=False,
    help="Every CI run in a database: add results, show trends, check for regressions.",
)

DB_HELP = (
    "The history: a SQLite file, or postgresql://user@host/db (default $LLMROOF_HISTORY, else "
    "llmroof-history.sqlite)."
)


class HistoryFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"
    html = "html"


def _db_option() -> Any:
    return typer.Option(None, "--db", help=DB_HELP, show_default=False)


@history_app.command("add")
def add(
    results: list[Path] = typer.Argument(
        ...,
        show_default=False,
        help="Results files (profile, --repeat, bench, compare --format json).",
    ),
    db: str | None = _db_option(),
    commit: str | None = typer.Option(
        None, "--commit", help="Commit (default: the CI's variable, else git)."
    ),
    branch: str | None = typer.Option(
        None, "--branch", help="Branch (default: the CI's variable, else git)."
    ),
    time: str | None = typer.Option(
        None, "--time", help="ISO 8601 time (default: the commit's time, else now)."
    ),
    machine: str | None = typer.Option(
        None, "--machine", help="Machine fingerprint (default: the calibration's)."
    ),
    timeout: float = typer.Option(
        30.0, "--timeout", min=0.0, help="Seconds to wait for a locked database."
    ),
) -> None:
    """Add results to the history; re-adding a file changes nothing."""
    from llmroof.history.provenance import provenance
    from llmroof.history.trend import add_to_history

    added = add_to_history(
        db,
        results,
        provenance(commit=commit, branch=branch, time=time),
        machine=machine,
        timeout_s=timeout,
    )
    where = added.provenance
    print(
        f"added {added.new_runs} run(s), {added.new_values} values, at {where.commit[:10]} on {where.branch} "
        f"({where.time_utc}) to {added.database}; {added.known_runs} already there"
    )


def _selection(
    machine: str | None,
    config: str | None,
    metric: list[str] | None,
    branch: str | None,
    last: int | None,
) -> Selection:
    from llmroof.history.trend import Selection

    return Selection(
        machine=machine, config=config, metrics=tuple(metric or ()), branch=branch, last=last
    )


def _settings(alpha: float, min_segment: int, min_size: str) -> DetectSettings:
    from llmroof.cli.compare import parse_threshold
    from llmroof.errors import LlmroofError
    from llmroof.history.detect import DetectSettings

    try:
        return DetectSettings(
            alpha=alpha, min_segment=min_segment, min_size=parse_threshold(min_size, "--min-size")
        )
    except ValueError as exc:
        raise LlmroofError(str(exc)) from None


def render(record: HistoryRecord, fmt: HistoryFormat) -> str:
    from llmroof.history import render as out

    if fmt is HistoryFormat.json:
        from llmroof.writers import dumps

        return dumps(record.to_dict()) + "\n"
    if fmt is HistoryFormat.csv:
        from llmroof.writers import csv_text

        return csv_text(out.csv_rows(record))
    if fmt is HistoryFormat.markdown:
        return out.render_markdown(record)
    if fmt is HistoryFormat.html:
        from llmroof.report.answer import history_answer

        return out.render_html(record, history_answer(record))
    return out.render_table(record)


def _emit(record: HistoryRecord, fmt: HistoryFormat, out: Path | None) -> None:
    text = render(record, fmt)
    if out is None:
        sys.stdout.write(text)
        return
    from llmroof.history.render import summary_line
    from llmroof.writers import write_text_atomic

    write_text_atomic(out, text)
    print(f"{summary_line(record)}; wrote {out}")


# Options that several history commands share: declared once (a typer.Option is a plain default).
MACHINE_OPTION = typer.Option(None, "--machine", help="Only this machine fingerprint.")
CONFIG_OPTION = typer.Option(
    None, "--config", "-c", help="Only configurations containing this text."
)
METRIC_OPTION = typer.Option(None, "--metric", "-M", help="Only this metric (repeatable).")
BRANCH_OPTION = typer.Option(None, "--branch", help="Only runs of this branch.")
LAST_OPTION = typer.Option(
    None, "--last", "-n", min=1, help="Only the newest N runs of each series."
)
FMT_OPTION = typer.Option(
    HistoryFormat.table, "--format", "-f", help="table, json, csv, markdown, html."
)
OUT_OPTION = typer.Option(None, "--out", "-o", dir_okay=False, help="Write to this file.")
ALPHA_OPTION = typer.Option(0.05, "--alpha", help="False-alarm level of the change-point test.")
MIN_SEGMENT_OPTION = typer.Option(
    5, "--min-segment", min=2, help="Fewest runs on each side of a change."
)
MIN_SIZE_OPTION = typer.Option(
    "1%", "--min-size", help="Smallest change of the median that counts."
)


@history_app.command("show")
def show(
    db: str | None = _db_option(),
    machine: str | None = MACHINE_OPTION,
    config: str | None = CONFIG_OPTION,
    metric: list[str] | None = METRIC_OPTION,
    branch: str | None = BRANCH_OPTION,
    last: int | None = LAST_OPTION,
    fmt: HistoryFormat = FMT_OPTION,
    out: Path | None = OUT_OPTION,
    alpha: float = ALPHA_OPTION,
    min_segment: int = MIN_SEGMENT_OPTION,
    min_size: str = MIN_SIZE_OPTION,
) -> None:
    """Each series' trend and change points."""
    from llmroof.history.store import open_store
    from llmroof.history.trend import trends

    settings = _settings(alpha, min_segment, min_size)
    with open_store(db, readonly=True) as store:
        record = trends(store, _selection(machine, config, metric, branch, last), settings)
    _emit(record, fmt, out)


@history_app.command("check")
def check(
    db: str | None = _db_option(),
    threshold: str = typer.Option(
        "5%", "--threshold", "-t", help="Smallest regression that fails: 5% or 0.05."
    ),
    since: str | None = typer.Option(
        None,
        "--since",
        help="Gate only on changes that began at or after this "
        "commit, date or Nd (default: the merge base with main; all on main).",
    ),
    machine: str | None = MACHINE_OPTION,
    config: str | None = CONFIG_OPTION,
    metric: list[str] | None = METRIC_OPTION,
    branch: str | None = BRANCH_OPTION,
    last: int | None = LAST_OPTION,
    fmt: HistoryFormat = FMT_OPTION,
    out: Path | None = OUT_OPTION,
    alpha: float = ALPHA_OPTION,
    min_segment: int = MIN_SEGMENT_OPTION,
    min_size: str = MIN_SIZE_OPTION,
    step_summary: bool = typer.Option(
        True,
        "--step-summary/--no-step-summary",
        help="Append markdown to $GITHUB_STEP_SUMMARY when that is set.",
    ),
) -> None:
    """The newest change point of each series; exit 1 when one is a regression beyond --threshold that
    began at or after --since, else 0."""
    from llmroof.cli.compare import parse_threshold
    from llmroof.history.provenance import merge_base
    from llmroof.history.store import open_store
    from llmroof.history.trend import trends

    settings = _settings(alpha, min_segment, min_size)
    limit = parse_threshold(threshold)
    since = since or merge_base()
    with open_store(db, readonly=True) as store:
        record = trends(
            store,
            _selection(machine, config, metric, branch, last),
            settings,
            command="check",
            threshold=limit,
            since=since,
        )
    _emit(record, fmt, out)
    if step_summary and os.environ.get("GITHUB_STEP_SUMMARY"):
        from llmroof.history.render import render_markdown

        try:
            with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as handle:
                handle.write(render_markdown(record) + "\n")
        except OSError as exc:
            print(
                f"llmroof: warning: cannot append to $GITHUB_STEP_SUMMARY: {exc}", file=sys.stderr
            )
    if record.verdict == "regression":
        raise typer.Exit(1)


@history_app.command("export")
def export(
    db: str | None = _db_option(),
    machine: str | None = MACHINE_OPTION,
    config: str | None = CONFIG_OPTION,
    metric: list[str] | None = METRIC_OPTION,
    branch: str | None = BRANCH_OPTION,
    out: Path | None = OUT_OPTION,
) -> None:
    """CSV in the layout Apache Otava reads: time, commit, branch, then one column per series."""
    from llmroof.history.detect import DetectSettings
    from llmroof.history.store import open_store
    from llmroof.history.trend import export_rows, trends
    from llmroof.writers import csv_text, write_text_atomic

    with open_store(db, readonly=True) as store:
        record = trends(store, _selection(machine, config, metric, branch, None), DetectSettings())
    text = csv_text(export_rows(record))
    if out is None:
        sys.stdout.write(text)
    else:
        write_text_atomic(out, text)
        print(f"{len(record.series)} series; wrote {out}")


def register(app: typer.Typer) -> None:
    app.add_typer(history_app, name="history")
