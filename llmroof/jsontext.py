"""JSON text as llmroof prints and writes it (2-space indent, NaN and infinity as null), byte for byte what
``json.dumps(clean(data), indent=2, allow_nan=False)`` writes, several times faster on long lists of flat
records (the rows of a sweep).

With an indent, the standard library encodes in Python; without one, in C. A container whose items are all
scalars (a sweep's row) is written here by the C encoder with the indented layout's separators, so only the
nesting above it runs in Python. A leaf module: it imports only the standard library.
"""

from __future__ import annotations

import json
import math
from typing import Any

INDENT = 2
_SCALARS = (str, int, float, bool, type(None))


def dumps(data: Any) -> str:
    """``data`` as indented JSON text, non-finite floats written as null."""
    return _encode(data, 0)


def _encode(value: Any, level: int) -> str:
    if isinstance(value, dict):
        return _container(value, level, "{", "}") if value else "{}"
    if isinstance(value, (list, tuple)):
        return _container(value, level, "[", "]") if value else "[]"
    return _scalar(value)


def _container(
    value: dict[Any, Any] | list[Any] | tuple[Any, ...], level: int, open_: str, close: str
) -> str:
    pad = "\n" + " " * (INDENT * (level + 1))
    items = value.values() if isinstance(value, dict) else value
    flat = all(type(v) in _SCALARS and (type(v) is not float or math.isfinite(v)) for v in items)
    if flat and (not isinstance(value, dict) or all(type(k) is str for k in value)):
        text = json.dumps(value, separators=("," + pad, ": "), allow_nan=False)  # C: no indent
        return open_ + pad + text[1:-1] + pad[:-INDENT] + close
    if isinstance(value, dict):
        parts = [f"{_key(k)}: {_encode(v, level + 1)}" for k, v in value.items()]
    else:
        parts = [_encode(v, level + 1) for v in value]
    return open_ + pad + ("," + pad).join(parts) + pad[:-INDENT] + close


def _key(key: Any) -> str:
    """A key as ``json.dumps`` writes it: strings quoted; numbers, booleans and None as their JSON text, quoted."""
    if isinstance(key, str):
        return json.dumps(key)
    return json.dumps({key: 0}, allow_nan=False)[
        1:-4
    ]  # '{"1": 0}': the standard library's own rule


def _scalar(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "null"
    return json.dumps(value, allow_nan=False)
