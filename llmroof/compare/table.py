"""A comparison as rich tables: for the terminal (and for ``--format table --out FILE``, without colour)."""

from __future__ import annotations

from typing import Any

from llmroof.compare import text as fmt
from llmroof.compare.comparison import Comparison, Row
from llmroof.labels import plain_text

STYLE = {
    "regression": "bold red",
    "improvement": "bold green",
    "inconclusive": "yellow",
    "unchanged": "",
}


def _table(title: str, rows: list[Row]) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left")
    for column in fmt.COLUMNS:
        table.add_column(
            column,
            justify="left" if column in ("benchmark", "metric", "verdict", "why") else "right",
            no_wrap=column != "why",
            min_width=16 if column == "why" else None,
        )
    for row in rows:
        cells = fmt.cells(row)
        table.add_row(*(Text(cells[c]) for c in fmt.COLUMNS), style=STYLE[row.verdict] or None)
    return table


def print_tables(comparison: Comparison, out: Any) -> None:
    """Print to the rich console ``out``."""
    from rich.markup import escape

    out.print(fmt.side_line(comparison.base), markup=False)
    out.print(fmt.side_line(comparison.new), markup=False)
    if comparison.caveat:
        out.print(f"[yellow]caveat:[/] {escape(plain_text(comparison.caveat))}")
    out.print(fmt.noise_line(comparison), markup=False)
    if comparison.differences:
        out.print("Differences between the runs (environment changes can explain a shift):")
        for d in comparison.differences:
            flag = " [red](mismatch: compared anyway)[/]" if d.blocking else ""
            out.print(escape(f"  {d.scope}.{d.key}: {d.base} -> {d.new}") + flag)
    out.print(_table("Per configuration (full depth)", fmt.config_rows(comparison)))
    ops = fmt.op_rows(comparison)
    if ops:
        moved = [r for r in ops if r.verdict != "unchanged"]
        gating = (
            "gating" if any(r.gates for r in ops) else "reported, not gating (--gate-ops to gate)"
        )
        title = f"Per-op times (one layer, {gating}): {len(moved)} of {len(ops)} changed or inconclusive"
        if moved:
            out.print(_table(title + "; unchanged ones not shown", moved))
        else:
            out.print(title)
    if comparison.unmatched:
        out.print(
            "Not compared (on one side only): " + ", ".join(comparison.unmatched), markup=False
        )
    out.print(fmt.intervals_note(comparison), markup=False)
    out.print(f"[{STYLE[comparison.verdict()] or 'bold'}]{fmt.summary_line(comparison)}[/]")
