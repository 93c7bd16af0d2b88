"""llmroof: how close is your LLM inference to the memory wall?

The package is layered; imports point one way, down this chain:

    specs (models, hardware, dtypes) -> analytic (per-op FLOPs and bytes, roofline, parallelism)
    -> measurement (kernels, timer, sampler) -> results -> report / compare / plan -> cli

Nothing below ``cli`` prints; nothing in ``specs`` or ``analytic`` imports torch.

The Python API (``docs/api.md``): ``llmroof.load(path)`` reads any results file into its typed record,
``record.to_pandas()`` tabulates it; ``llmroof.analyze(...)``, ``llmroof.sweep(...)``, ``llmroof.profile(...)``
and ``llmroof.ceilings(...)`` mirror the CLI, as does every function of :mod:`llmroof.api` (``api.plan``,
``api.simulate``, ``api.bench``, ``api.trace``, ``api.compare``, ``api.comm``, ``api.sample``:
``llmroof.plan`` and the like name the packages). They are loaded on first use, so ``import llmroof`` stays light (no torch, numpy or pandas).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmroof.version import __version__

if TYPE_CHECKING:  # typed for checkers; loaded on first use at run time (below)
    from llmroof.api import analyze, ceilings, load, profile, sweep

__all__ = ["__version__", "analyze", "ceilings", "load", "profile", "sweep"]


def __getattr__(name: str) -> Any:
    if name in ("analyze", "ceilings", "load", "profile", "sweep"):
        from llmroof import api

        return getattr(api, name)
    raise AttributeError(f"module 'llmroof' has no attribute {name!r}")
