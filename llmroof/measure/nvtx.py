"""NVTX ranges in the ``llmroof`` domain, through the ``nvtx`` package; a no-op where it is absent.

Every timed region sits inside one of these ranges, so an ``nsys profile`` of a run lines up with llmroof's
own records (docs/profiling.md shows how).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

DOMAIN = "llmroof"
_module: Any = None
_loaded = False


def _nvtx() -> Any:
    global _module, _loaded
    if not _loaded:
        _loaded = True
        try:
            import nvtx

            _module = nvtx
        except Exception:
            _module = None
    return _module


def set_module(module: Any) -> None:
    """Use ``module`` (a fake in tests, or None to disable) instead of the ``nvtx`` package."""
    global _module, _loaded
    _module, _loaded = module, True


def available() -> bool:
    return _nvtx() is not None


@contextlib.contextmanager
def annotate(message: str, color: str = "blue") -> Iterator[None]:
    """``with annotate("decode b=8 c=2048"):`` marks the region in the ``llmroof`` NVTX domain."""
    module = _nvtx()
    if module is None:
        yield
        return
    with module.annotate(message, color=color, domain=DOMAIN):
        yield
