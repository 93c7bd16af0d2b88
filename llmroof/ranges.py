"""The one parser of value lists and ranges on the command line (``--sweep``, ``comm --sizes``), and of
thresholds (``--threshold 5%`` or ``0.05``: :func:`parse_threshold`).

A list is comma-separated items; each item is a value, a doubling range ``a..b`` (a, 2a, 4a, ... up to b) or an
arithmetic range ``a..b:step`` (a, a+step, ... up to b). Values go through the caller's ``parse_value`` (plain
integers by default; ``comm`` accepts ``4K``-style sizes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_VALUES = 10_000_000
"""Most values one list may expand to (a typo such as ``1..10**12:1`` fails fast instead of filling memory)."""

USAGE = "a list (1,2,4), a doubling range (1..256) or an arithmetic range (512..131072:512)"


def parse_range_list(text: str, parse_value: Callable[[str], int] = int) -> list[int]:
    """The values of ``text``, in the order written; ValueError (with a one-line reason) on bad input."""
    values: list[int] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise ValueError(f"empty item in {text!r}")
        if ".." in item:
            values.extend(_expand(item, parse_value))
        else:
            values.append(_positive(item, parse_value))
        if len(values) > MAX_VALUES:
            raise ValueError(f"{text!r} expands to more than {MAX_VALUES:,} values")
    return values


def _expand(item: str, parse_value: Callable[[str], int]) -> list[int]:
    bounds, _, step_text = item.partition(":")
    lo_text, _, hi_text = bounds.partition("..")
    lo, hi = _positive(lo_text, parse_value), _positive(hi_text, parse_value)
    if hi < lo:
        raise ValueError(f"{item!r}: the upper end is below the lower")
    if step_text:
        step = _positive(step_text, parse_value)
        if (hi - lo) // step + 1 > MAX_VALUES:
            raise ValueError(f"{item!r} expands to more than {MAX_VALUES:,} values")
        return list(range(lo, hi + 1, step))
    values, value = [], lo
    while value <= hi:
        values.append(value)
        value *= 2
    return values


def _positive(text: str, parse_value: Callable[[str], int]) -> int:
    try:
        value = parse_value(text.strip())
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not a positive integer") from None
    if value < 1:
        raise ValueError(f"{text.strip()!r} is not a positive integer")
    return value


def number_list(
    option: str, text: str, kind: Callable[[str], Any] = int, *, minimum: float = 1
) -> tuple[Any, ...]:
    """The one parser of a plain comma-separated list of numbers (``--batch 1,4``, ``--rate 2,4``): every
    item present (``1,,2`` is refused, not read as ``1,2``), finite, and at least ``minimum``;
    :class:`LlmroofError` naming ``option`` otherwise."""
    import math

    from llmroof.errors import LlmroofError, shorten

    noun = ("positive integers" if minimum == 1 else "integers") if kind is int else "numbers"
    example = "1,8,32" if kind is int else "2,4.5"
    values = []
    for item in text.split(","):
        if not item.strip():
            raise LlmroofError(
                f"{option} {shorten(text)!r}: an empty item",
                f"give {noun} separated by commas, e.g. {example}",
            )
        try:
            value = kind(item.strip())
        except (ValueError, OverflowError):
            raise LlmroofError(
                f"{option} {shorten(text)!r}: expected {noun} ({shorten(item.strip(), 40)!r} is not "
                "one)",
                f"e.g. {option} {example}",
            ) from None
        if not math.isfinite(value) or value < minimum:
            raise LlmroofError(
                f"{option} {shorten(text)!r}: expected {noun} of at least {minimum:g} "
                f"({shorten(item.strip(), 40)} is not)",
                f"e.g. {option} {example}",
            )
        values.append(value)
    return tuple(values)


def parse_threshold(text: str, option: str = "--threshold") -> float:
    """``"5%"`` or ``"0.05"`` -> 0.05. A bare number of 1 or more is refused: 5 could mean 5% or 500%."""
    import math

    from llmroof.errors import LlmroofError

    stripped = text.strip()
    try:
        value = float(stripped[:-1]) / 100 if stripped.endswith("%") else float(stripped)
    except ValueError:
        raise LlmroofError(
            f"{option} {text!r}: expected a percentage such as 5% or a fraction such as 0.05"
        ) from None
    if not math.isfinite(value):
        raise LlmroofError(
            f"{option} {text!r}: not a finite number",
            "a percentage such as 5% or a fraction such as 0.05",
        )
    if not stripped.endswith("%") and value >= 1:
        raise LlmroofError(
            f"{option} {text!r}: a fraction below 1, or a percentage",
            f"write {stripped}% or {value / 100:g}",
        )
    if not 0 <= value < 10:
        raise LlmroofError(f"{option} {text!r}: expected a change between 0% and 1000%")
    return value
