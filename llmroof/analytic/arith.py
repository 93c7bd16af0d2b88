"""Element-wise min/max/where that take Python numbers or numpy arrays alike.

The per-op formulas in :mod:`llmroof.analytic` are written once and evaluated both for one configuration (Python
ints and floats, the scalar path) and for whole grids of batch, prompt and context (numpy arrays, the vectorised
path). Builtin ``min``/``max`` and ``if`` on a value break on arrays, so formulas use these instead; numpy is
imported only when an array is actually passed, so the scalar path (and the CLI's start-up) never loads it.
"""

from __future__ import annotations

from typing import Any

_SCALARS = (int, float)


def minimum(a: Any, b: Any) -> Any:
    """``min(a, b)`` for numbers, ``numpy.minimum`` for arrays."""
    if type(a) in _SCALARS and type(b) in _SCALARS:
        return a if a <= b else b
    import numpy as np

    return np.minimum(a, b)


def maximum(a: Any, b: Any) -> Any:
    """``max(a, b)`` for numbers, ``numpy.maximum`` for arrays."""
    if type(a) in _SCALARS and type(b) in _SCALARS:
        return a if a >= b else b
    import numpy as np

    return np.maximum(a, b)


def where(condition: Any, a: Any, b: Any) -> Any:
    """``a if condition else b`` for a Python bool, ``numpy.where`` for an array of conditions."""
    if type(condition) is bool:
        return a if condition else b
    import numpy as np

    return np.where(condition, a, b)


def to_float(x: Any) -> Any:
    """``float(x)`` for a number, a float64 array for an array (each value rounded as ``float`` rounds it)."""
    if type(x) in _SCALARS:
        return float(x)
    import numpy as np

    return np.asarray(x, dtype=np.float64)


def to_int(x: Any) -> Any:
    """``int(x)`` for a number, an int64 array for an array (truncating toward zero, as ``int`` does)."""
    if type(x) in _SCALARS:
        return int(x)
    import numpy as np

    return np.asarray(x).astype(np.int64)


def largest(values: Any) -> Any:
    """``max(values)`` over a non-empty sequence of numbers or arrays: the element-wise largest."""
    first, *rest = values
    for value in rest:
        first = maximum(first, value)
    return first


def smallest(values: Any) -> Any:
    """``min(values)`` over a non-empty sequence of numbers or arrays: the element-wise smallest."""
    first, *rest = values
    for value in rest:
        first = minimum(first, value)
    return first
