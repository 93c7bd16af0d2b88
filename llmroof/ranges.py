"""The one parser of value lists and ranges on the command line (``--sweep``, ``comm --sizes``).

A list is comma-separated items; each item is a value, a doubling range ``a..b`` (a, 2a, 4a, ... up to b) or an
arithmetic range ``a..b:step`` (a, a+step, ... up to b). Values go through the caller's ``parse_value`` (plain
integers by default; ``comm`` accepts ``4K``-style sizes).
"""

from __future__ import annotations

from collections.abc import Callable

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
