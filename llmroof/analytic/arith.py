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
