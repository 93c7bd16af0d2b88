"""Rendering helpers: JSON and CSV to stdout; the rich console of every command (the report layer's
:func:`~llmroof.report.console.render.console`, whose tables stay readable at any width)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any

from llmroof.jsontext import dumps as json_text
from llmroof.report.console.render import console, terminal_width, user
from llmroof.results.io import csv_text

__all__ = ["console", "print_csv", "print_json", "terminal_width", "user"]


def print_json(data: Any) -> None:
    sys.stdout.write(
        json_text(data) + "\n"
    )  # the text of writers.dumps, several times faster on long lists


def print_csv(rows: Iterable[Mapping[str, Any]]) -> None:
    sys.stdout.write(csv_text(rows))
