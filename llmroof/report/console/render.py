"""A rich console whose tables stay readable at any width: a table wider than a terminal prints as
``column: value`` lines; to a file or a pipe, at its own width."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from typing import Any

PIPE_WIDTH = 160
"""Width of output that goes to a file or a pipe (rich would use 80 columns); tables wider still get their width."""
MIN_WIDTH = 10
"""Narrower COLUMNS are taken as this."""


def user(text: object) -> str:
    """Text from outside llmroof (a model name from a config.json, a device from a hardware file, a file
    name, a server's message) ready for a rich console: terminal escapes and control characters removed
    (:func:`llmroof.labels.plain_text`) and rich markup escaped, so ``H100 [beta]`` prints as written and
    ``x [/] y`` cannot end a style. Every f-string printed through rich wraps user text in this."""
    from rich.markup import escape

    from llmroof.labels import plain_text

    return escape(plain_text(text))


def terminal_width() -> tuple[int | None, bool]:
    """(width, elastic). A terminal, or a valid COLUMNS, sets the width and tables must fit it; output to a file
    or a pipe is ``PIPE_WIDTH`` wide and elastic (a wider table is printed at its own width). COLUMNS that is not
    a positive number (``COLUMNS=0``) is ignored, as if unset."""
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return max(MIN_WIDTH, int(columns)), False
    if sys.stdout.isatty():
        try:
            return max(MIN_WIDTH, os.get_terminal_size(sys.stdout.fileno()).columns), False
        except (OSError, ValueError):
            return 80, False
    return PIPE_WIDTH, True


def print_json(data: Any) -> None:
    """``data`` as JSON on stdout (the text of writers.dumps, several times faster on long lists)."""
    from llmroof.jsontext import dumps as json_text

    sys.stdout.write(json_text(data) + "\n")


def print_csv(rows: Iterable[Mapping[str, Any]]) -> None:
    from llmroof.results.io import csv_text

    sys.stdout.write(csv_text(rows))


def console(
    file: Any = None, width: int | None = None, elastic: bool | None = None, **options: Any
) -> Any:
    """A rich console that never prints a table with blank or cut cells: a table narrower than the console is
    printed as is; a wider one, on a terminal, as one ``column: value`` line per cell (row by row), and to a
    file or a pipe at its own width. ``width`` fixes the width; ``elastic`` whether wider tables widen it."""
    from rich.console import Console

    class FittingConsole(Console):
        def print(self, *objects: Any, **kwargs: Any) -> None:
            from rich.table import Table

            objects = tuple(_without_controls(obj) for obj in objects)
            for index, obj in enumerate(objects):
                if not isinstance(obj, Table):
                    continue
                needed = table_min_width(obj)
                if needed <= self.width:
                    continue
                if elastic:
                    self._print_wide(objects[:index], obj, objects[index + 1 :], needed, kwargs)
                    return
                objects = (*objects[:index], vertical(obj), *objects[index + 1 :])
            super().print(*objects, **kwargs)

        def _print_wide(
            self, before: tuple, table: Any, after: tuple, needed: int, kwargs: dict
        ) -> None:
            if before:
                super().print(*before, **kwargs)
            saved = self.width
            self.width = needed
            try:
                super().print(table, **kwargs)
            finally:
                self.width = saved
            if after:
                self.print(*after, **kwargs)

    if width is None:
        width, detected = terminal_width()
        elastic = detected if elastic is None else elastic
    else:
        elastic = bool(elastic)
    options.setdefault("highlight", False)
    options.setdefault("soft_wrap", True)
    return FittingConsole(file=file, width=width, **options)


def _without_controls(obj: Any) -> Any:
    """Strings and table cells without terminal escapes or control characters (line breaks kept): the last
    guard, whatever a caller forgot to pass through :func:`user`."""
    from rich.table import Table
    from rich.text import Text

    from llmroof.labels import plain_text

    def clean(cell: Any) -> Any:
        if isinstance(cell, str):
            return plain_text(cell, one_line=False)
        if isinstance(cell, Text) and plain_text(cell.plain, one_line=False) != cell.plain:
            return Text(plain_text(cell.plain, one_line=False), style=cell.style)
        return cell

    if isinstance(obj, Table):
        obj.title = clean(obj.title) if obj.title is not None else None
        for column in obj.columns:
            column.header = clean(column.header)
            column._cells = [clean(cell) for cell in column._cells]
        return obj
    return clean(obj)


def table_min_width(table: Any) -> int:
    """Columns the table needs so that no cell is cut or blanked: per column its widest unbreakable piece (the
    whole text of a no_wrap column, else the longest word), its padding, and the borders."""
    from rich.cells import cell_len

    left, right = table.padding[3], table.padding[1]
    total = 0
    for column in table.columns:
        texts = [_plain(column.header), *(_plain(cell) for cell in column._cells)]
        if column.no_wrap:
            widest = max(
                (cell_len(line) for text in texts for line in text.splitlines() or [""]), default=0
            )
        else:
            widest = max((cell_len(word) for text in texts for word in text.split()), default=0)
        total += max(widest, column.min_width or 0) + left + right
    borders = len(table.columns) + 1 if table.box else 0
    return total + borders


def _plain(cell: Any) -> str:
    plain = getattr(cell, "plain", None)  # rich Text
    if plain is not None:
        return str(plain)
    if isinstance(cell, str):
        from rich.errors import MarkupError
        from rich.text import Text

        try:
            return Text.from_markup(cell).plain if "[" in cell else cell
        except MarkupError:
            return cell
    return str(cell)


def vertical(table: Any) -> Any:
    """The table as ``column: value`` lines, a blank line between rows: readable at any width."""
    from rich.console import Group
    from rich.text import Text

    headers = [_plain(column.header) for column in table.columns]
    lines: list[Any] = []
    if table.title:
        lines.append(Text(_plain(table.title), style="bold"))
    rows = max((len(column._cells) for column in table.columns), default=0)
    for index in range(rows):
        if index:
            lines.append(Text(""))
        for header, column in zip(headers, table.columns):
            value = _plain(column._cells[index]) if index < len(column._cells) else ""
            lines.append(Text(f"{header}: {value}"))
    return Group(*lines)
