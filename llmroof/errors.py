"""User-facing errors: one line of what is wrong, one line of what to do about it.

The CLI turns a :class:`LlmroofError` into a one-line message and exit code 2, never a traceback.

Exit codes of every command (README "Exit codes"): 0 success; 1 a regression (``compare``); 2 bad input or an
environment the command cannot use (:class:`LlmroofError`, usage errors, unreadable or unwritable files);
3 inconclusive (``compare --fail-on inconclusive``); 128 + N stopped by signal N (130 Ctrl-C, 143 SIGTERM,
129 SIGHUP, 141 a closed pipe); ``sample -- CMD`` passes on CMD's own code, 128 + N when a signal killed it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

EXIT_OK = 0
EXIT_USER_ERROR = 2
EXIT_SIGNAL_BASE = 128


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP, delivered as Ctrl-C is (a :class:`KeyboardInterrupt`), so every command that keeps
    what it finished on Ctrl-C does so on these too; the process exits ``128 + signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def interrupt_exit_code(exc: BaseException) -> int:
    """130 for Ctrl-C, 128 + N for signal N."""
    return EXIT_SIGNAL_BASE + (exc.signum if isinstance(exc, Interrupted) else 2)


class LlmroofError(Exception):
    """Bad input from the user: an unknown name, a malformed file, a shape that does not divide."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message} (hint: {self.hint})"


INT_LIMIT = 2**53
"""Larger integers are refused (CLI and API): beyond float precision, no count or size means anything."""
FLOAT_LIMIT = 1e15
"""Larger (or non-finite) numbers are refused (CLI and API)."""


def number_problem(value: object) -> str | None:
    """What is wrong with a number given as an option (NaN, infinity, an absurd magnitude), or None: the one
    check every numeric option of the CLI (at parse time) and of the Python API goes through."""
    import math

    if isinstance(value, bool):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a finite number"
    if isinstance(value, float) and abs(value) > FLOAT_LIMIT:
        return f"{value:g} is too large (at most {FLOAT_LIMIT:g})"
    if isinstance(value, int) and abs(value) > INT_LIMIT:
        shown = (
            str(value) if value.bit_length() < 200 else f"an integer of {value.bit_length()} bits"
        )
        return f"{shorten(shown, 30)} is too large (at most 2**53)"
    return None


def check_numbers(**options: object) -> None:
    """:class:`LlmroofError` for the first option (a number, or a sequence of them) with a
    :func:`number_problem`; the Python API's parse-time check, the CLI's own."""
    for name, value in options.items():
        items = value if isinstance(value, (list, tuple)) else (value,)
        for item in items:
            problem = number_problem(item)
            if problem:
                raise LlmroofError(f"{name}: {problem}", "give a finite number of sensible size")


def check_range(
    name: str, value: float | None, low: float, high: float = FLOAT_LIMIT, *, integer: bool = False
) -> None:
    """One option's bounds (None: not given): :class:`LlmroofError` naming ``name`` outside [low, high]."""
    if value is None:
        return
    problem = number_problem(value)
    whole = isinstance(value, int) and not isinstance(value, bool)
    if problem is None and integer and not whole:
        problem = f"{value!r} is not an integer"
    if problem is None and not low <= value <= high:
        problem = f"{value:g} is not from {low:g} to {high:g}"
    if problem:
        raise LlmroofError(f"{name}: {problem}", None)


def shorten(text: str, limit: int = 120) -> str:
    """``text`` cut to ``limit`` characters (with an ellipsis in the middle), so a hostile or mistyped
    name of thousands of characters still makes a one-line message."""
    if len(text) <= limit:
        return text
    half = (limit - 3) // 2
    return f"{text[:half]}...{text[-half:]}"


def closest_names(name: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """The ``n`` choices closest to ``name``, compared case-insensitively."""
    by_lower = {c.lower(): c for c in choices}
    matches = difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=0.4)
    return [by_lower[m] for m in matches]


def unknown_name_error(kind: str, name: str, choices: Iterable[str], listing: str) -> LlmroofError:
    """An error for an unknown catalog name that suggests the closest known names."""
    close = closest_names(name, choices) if len(name) <= 200 else []
    suggestion = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
    return LlmroofError(
        f"unknown {kind} {shorten(name)!r}", f"{suggestion}`{listing}` lists them all"
    )
