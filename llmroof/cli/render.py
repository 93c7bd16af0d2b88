"""Rendering helpers: JSON and CSV to stdout, rich consoles."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any

from llmroof.results.io import csv_text, dumps


def print_json(data: Any) -> None:
    sys.stdout.write(dumps(data) + "\n")


def print_csv(rows: Iterable[Mapping[str, Any]]) -> None:
    sys.stdout.write(csv_text(rows))


def console():  # type: ignore[no-untyped-def]
    """A rich console; piped output gets a wide page instead of rich's 80 columns, so tables do not wrap."""
    import os

    from rich.console import Console

    wide = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160
    return Console(highlight=False, width=wide, soft_wrap=True)
