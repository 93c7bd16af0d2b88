"""Table cells for the report: the text a reader sees and the number a sort uses.

A table is ``{"columns": [{"name", "numeric"}], "rows": [[cell, ...]]}`` and a cell ``{"text", "sort"}``;
the templates render it as a plain HTML table, readable with or without JavaScript.
"""

from __future__ import annotations

from typing import Any

from llmroof.units import gib, percent, seconds, si


def cell(text: Any, sort: float | str | None = None) -> dict[str, Any]:
    """A cell: ``text`` as shown; ``sort`` the value sorting uses (the text when None)."""
    shown = "-" if text is None else str(text)
    return {"text": shown, "sort": shown if sort is None else sort}


def number(value: float | None, unit: str = "") -> dict[str, Any]:
    """An SI-prefixed quantity (``1.5 TFLOP/s``), sorted by its value."""
    return cell(si(value, unit), _key(value))


def time_cell(value_s: float | None) -> dict[str, Any]:
    return cell(seconds(value_s), _key(value_s))


def percent_cell(fraction: float | None) -> dict[str, Any]:
    return cell(percent(fraction), _key(fraction))


def gib_cell(nbytes: float | None) -> dict[str, Any]:
    return cell(gib(nbytes), _key(nbytes))


def ratio_cell(value: float | None, digits: int = 2) -> dict[str, Any]:
    return cell("-" if value is None else f"{value:.{digits}f}", _key(value))


def integer(value: int | None) -> dict[str, Any]:
    return cell("-" if value is None else str(value), _key(value))


def table(columns: list[tuple[str, bool]], rows: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """``columns``: (name, numeric) pairs; numeric columns align right."""
    return {
        "columns": [{"name": name, "numeric": numeric} for name, numeric in columns],
        "rows": rows,
    }


def key_values(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A two-column table of names and values; None values are left out."""
    rows = [[cell(name), cell(value)] for name, value in pairs if value is not None and value != ""]
    return table([("", False), ("", False)], rows)


def _key(value: float | None) -> float | str:
    """Numbers sort by value; a missing value sorts first."""
    return "" if value is None else float(value)
