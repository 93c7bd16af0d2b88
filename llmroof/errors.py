"""User-facing errors: one line of what is wrong, one line of what to do about it.

The CLI turns a :class:`LlmroofError` into a one-line message and exit code 2, never a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class LlmroofError(Exception):
    """Bad input from the user: an unknown name, a malformed file, a shape that does not divide."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message} (hint: {self.hint})"


def closest_names(name: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """The ``n`` choices closest to ``name``, compared case-insensitively."""
    by_lower = {c.lower(): c for c in choices}
    matches = difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=0.4)
    return [by_lower[m] for m in matches]


def unknown_name_error(kind: str, name: str, choices: Iterable[str], listing: str) -> LlmroofError:
    """An error for an unknown catalog name that suggests the closest known names."""
    close = closest_names(name, choices)
    suggestion = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
    return LlmroofError(f"unknown {kind} {name!r}", f"{suggestion}`{listing}` lists them all")
