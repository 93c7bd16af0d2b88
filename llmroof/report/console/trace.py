"""What ``llmroof trace`` prints: a summary line, the steps, the ops ranked by time lost against
their bound, the categories and the warnings (or the record as JSON, or one CSV row per kernel),
on stdout or into a file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from llmroof.results.records.trace import TraceRecord
from llmroof.units import si

STEP_COLUMNS = ("step", "phase", "batch", "tokens", "source", "time", "bound", "of roof", "idle")
OP_COLUMNS = ("op", "phase", "category", "count", "time", "bound", "of roof", "bound by", "lost")


def print_result(record: TraceRecord, fmt: str = "table", out: Path | None = None) -> None:
    """``fmt``: table, json or csv (per kernel); written to ``out`` when given, else to stdout."""
    from llmroof.results.io import csv_text, dumps, write_csv_atomic, write_json_atomic

    if fmt == "json":
        if out is not None:
            write_json_atomic(out, record.to_dict())
        else:
            sys.stdout.write(dumps(record.to_dict()) + "\n")
    elif fmt == "csv":
        rows = [k.to_dict() for k in record.kernels]
        if out is not None:
            write_csv_atomic(out, rows)
        else:
            sys.stdout.write(csv_text(rows))
    else:
        print_table(record, out)


def print_table(record: TraceRecord, out: Path | None = None) -> None:
    """The tables on the terminal, or into ``out`` (160 columns, wider tables at their width)."""
    from llmroof.report.console.render import console

    if out is None:
        print_summary(record, console())
        return
    import io

    from llmroof.results.io import write_text_atomic

    buffer = io.StringIO()
    print_summary(record, console(file=buffer, width=160, elastic=True))
    write_text_atomic(out, buffer.getvalue())


def print_summary(record: TraceRecord, con: Any) -> None:
    """Everything ``print_table`` shows, on ``con``, a rich console."""
    cov = record.coverage
    line = (
        f"{record.model.name} on {record.hardware.name} ({record.hardware.source}, {record.dtype}, "
        f"tp {record.layout.tp}): {len(record.steps)} steps, kernel time "
        f"{si(cov.kernel_time_s, 's')}, {cov.attributed_fraction:.1%} attributed to model ops, "
        f"{cov.classified_fraction:.1%} classified, {si(cov.unattributed_s, 's')} unattributed"
    )
    con.print(line, markup=False, highlight=False)
    con.print(_steps(record))
    con.print(_ops(record))
    con.print(_categories(record))
    for warning in record.warnings:
        con.print(f"warning: {warning}", markup=False, highlight=False)


def _percent(fraction: float | None) -> str:
    return f"{fraction:.1%}" if fraction is not None else "-"


def _steps(record: TraceRecord) -> Any:
    from rich.table import Table

    table = Table(title="Steps", title_justify="left")
    for column in STEP_COLUMNS:
        table.add_column(
            column, justify="left" if column in ("step", "phase", "source") else "right"
        )
    for s in record.steps:
        tokens = s.prompt_tokens if s.phase == "prefill" else s.context_tokens
        table.add_row(
            s.name,
            s.phase,
            str(s.batch),
            str(tokens),
            s.source,
            si(s.time_s, "s"),
            si(s.bound_s, "s"),
            _percent(s.roofline_fraction),
            si(s.idle_s, "s"),
        )
    return table


def _ops(record: TraceRecord) -> Any:
    from rich.table import Table

    table = Table(title="Ops, ranked by time lost against their bound", title_justify="left")
    for column in OP_COLUMNS:
        left = column in ("op", "phase", "category", "bound by")
        table.add_column(column, justify="left" if left else "right")
    for o in record.ops:
        table.add_row(
            o.op + (" (suspect)" if o.suspect else ""),
            o.phase,
            o.category,
            str(o.count),
            si(o.time_s, "s"),
            si(o.bound_s, "s") if o.bound_s is not None else "-",
            _percent(o.roofline_fraction),
            o.bound or "-",
            si(o.time_lost_s, "s"),
        )
    return table


def _categories(record: TraceRecord) -> Any:
    from rich.table import Table

    table = Table(title="Categories", title_justify="left")
    for column in ("category", "time", "share"):
        table.add_column(column, justify="left" if column == "category" else "right")
    for c in record.categories:
        table.add_row(c.category, si(c.time_s, "s"), f"{c.fraction:.1%}")
    return table
