"""What ``llmroof analyze --sweep`` prints: a one-axis sweep (``llmroof.sweep/1``) as JSON, CSV or a
table with its crossover; a grid's frontier (``llmroof.grid/1``) likewise, thinned for the terminal,
with the layouts it skipped and a summary line."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from llmroof.report.console.render import console, print_csv, print_json, user
from llmroof.units import seconds, si

if TYPE_CHECKING:  # annotations only: a plain analyze imports neither record
    from llmroof.results.records.grid import FrontierRow, GridRecord
    from llmroof.results.records.sweep import SweepRecord

SWEEP_COLUMNS = ("TTFT", "TPOT", "tokens/s", "bytes/token", "FLOP/byte", "decode bound", "fits")
FRONTIER_COLUMNS = (
    "layout",
    "prompt",
    "context",
    "compute-bound from batch",
    "largest batch that fits",
    "TPOT there",
    "tokens/s there",
    "max batch (memory)",
)
FRONTIER_TABLE_ROWS = 40
SKIPPED_SHOWN = 5


def print_sweep(record: SweepRecord, fmt: str = "table") -> None:
    """A one-axis sweep: JSON, CSV (one line per row) or a table."""
    if fmt == "json":
        print_json(record.to_dict())
        return
    if fmt == "csv":
        print_csv(row.to_dict() for row in record.rows)
        return
    from rich.table import Table

    from llmroof.analytic.sweep import crossover

    rows, axis = record.rows, record.axis
    cross = crossover(rows)
    table = Table(
        title=f"{user(record.model)} on {user(record.hardware)}: sweep over {axis}",
        title_justify="left",
    )
    for column in (axis, *SWEEP_COLUMNS):
        table.add_column(column, justify="right")
    for index, row in enumerate(rows):
        bound = row.decode_bound + (" <- crossover" if index == cross else "")
        table.add_row(
            str(row.value),
            seconds(row.ttft_s),
            seconds(row.tpot_s),
            si(row.tokens_per_s),
            si(row.bytes_per_token, "B"),
            f"{row.decode_intensity:.1f}",
            bound,
            "yes" if row.fits else "NO",
            style="bold" if index == cross else None,
        )
    out = console()
    out.print(table)
    if cross is None:
        out.print("Decode does not change bound over this range.")


def print_grid(
    record: GridRecord, fmt: str, layouts: int, summary: str, *, streamed: bool = False
) -> None:
    """A grid of ``layouts``: the layouts it skipped (stderr), then, unless its rows ``streamed`` to
    stdout, the frontier as JSON, CSV or a thinned table, and the ``summary`` line."""
    for note in record.skipped[:SKIPPED_SHOWN]:
        print(f"llmroof: skipped {note}", file=sys.stderr)
    if len(record.skipped) > SKIPPED_SHOWN:
        more = len(record.skipped) - SKIPPED_SHOWN
        print(f"llmroof: skipped {more} more layouts (--format json lists them)", file=sys.stderr)
    if streamed:
        return  # every row went to stdout
    if fmt == "json":
        print_json(record.to_dict())
    elif fmt == "csv":
        print_csv([row.to_dict() for row in record.frontier])
    else:
        print_frontier(record.frontier, layouts, summary)
    if fmt != "table":
        print(f"llmroof: {summary}", file=sys.stderr)


def print_frontier(rows: Sequence[FrontierRow], layouts: int, summary: str) -> None:
    """The frontier, thinned to about :data:`FRONTIER_TABLE_ROWS` rows: every layout, evenly spaced
    (prompt, context) points of each, the first and last always."""
    from rich.table import Table

    per_layout = len(rows) // layouts
    keep = max(2, FRONTIER_TABLE_ROWS // layouts)
    if per_layout <= keep:
        picked = list(range(per_layout))
    else:
        picked = sorted({round(k * (per_layout - 1) / (keep - 1)) for k in range(keep)})
    title = "Frontier: where decode turns compute-bound and where memory runs out"
    table = Table(
        title=title if layouts > 1 else f"{title} ({_layout(rows[0])})", title_justify="left"
    )
    for column in FRONTIER_COLUMNS[0 if layouts > 1 else 1 :]:
        table.add_column(
            column, justify="left" if column == "layout" else "right", no_wrap=column == "layout"
        )
    for start in range(0, len(rows), per_layout):
        for index in picked:
            r = rows[start + index]
            table.add_row(
                *([_layout(r)] if layouts > 1 else []),
                str(r.prompt_len),
                str(r.context_len),
                "-" if r.compute_bound_batch is None else str(r.compute_bound_batch),
                "none" if r.max_fitting_batch is None else str(r.max_fitting_batch),
                "-" if r.tpot_s is None else seconds(r.tpot_s),
                "-" if r.tokens_per_s is None else si(r.tokens_per_s),
                str(r.max_batch),
            )
    out = console()
    out.print(table)
    shown = len(picked) * layouts
    if shown < len(rows):
        out.print(
            f"{shown} of {len(rows)} frontier rows shown (evenly spaced); "
            "--format json or csv lists all."
        )
    out.print(summary)


def _layout(r: FrontierRow) -> str:
    return f"{r.model} {r.hardware} tp{r.tp} pp{r.pp} {r.weight_dtype}/{r.kv_dtype}"
