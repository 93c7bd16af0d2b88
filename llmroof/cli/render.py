"""Rendering helpers: JSON and CSV to stdout; the rich console of every command (the report layer's
:func:`~llmroof.report.console.render.console`, whose tables stay readable at any width)."""

from __future__ import annotations

from llmroof.report.console.render import console, print_csv, print_json, terminal_width, user

__all__ = ["console", "print_csv", "print_json", "terminal_width", "user"]
