"""``llmroof.trace/1``: a real engine's profiler trace on the roofline (``llmroof trace --format json``),
key by key in ``docs/results-schema.md`` and ``docs/trace.md``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llmroof import schemas
from llmroof.results.records.base import Record, many, one, opt, seq


@dataclass(frozen=True, kw_only=True)
class TraceHardware(Record):
    """The roofs the ops are set against."""

    name: str
    """Catalog name (``h100-sxm``), or ``cpu`` (this machine's calibrated ceilings)."""
    source: str
    """``datasheet`` or ``calibrated``."""
    peak_flops_per_s: float | None
    """Compute roof at the trace's dtype (None where unpublished)."""
    memory_bandwidth_bytes_per_s: float
    """Memory (DRAM/HBM) roof."""
    launch_floor_s: float | None = None
    """The third wall: least time of one kernel launch (GPU) or op dispatch (CPU), where measured."""


@dataclass(frozen=True, kw_only=True)
class TraceModel(Record):
    name: str
    layers: int
    """Decoder layers of the model."""


@dataclass(frozen=True, kw_only=True)
class TraceLayout(Record):
    tp: int
    pp: int
    ep: int
    source: str
    """``options``, ``distributedInfo``, ``file name`` or ``default``."""


@dataclass(frozen=True, kw_only=True)
class Coverage(Record):
    kernel_time_s: float
    """Sum of every kernel's time (CPU-only traces: every top-level op's)."""
    attributed_fraction: float
    """Share of kernel time attributed to model ops."""
    classified_fraction: float
    """Share of kernel time with a category other than ``other``."""
    unattributed_s: float
    """Kernel time attributed to no model op (sampling, before the first layer, unmatched): shown, never hidden."""


@dataclass(frozen=True, kw_only=True)
class CategoryTime(Record):
    category: str
    time_s: float
    """Kernel time of the category (overlaps on several streams counted once)."""
    fraction: float
    """time_s / coverage.kernel_time_s."""


@dataclass(frozen=True, kw_only=True)
class TraceStep(Record):
    """One engine step."""

    index: int
    name: str
    """The annotation (``ProfilerStep#3``, ``execute_context_0(0)_generation_8(8)``) or ``step N``."""
    phase: str
    """``prefill``, ``decode`` or ``mixed``."""
    batch: int
    prompt_tokens: int | None
    """Prefill: prompt tokens per sequence."""
    context_tokens: int | None
    """Decode: tokens in each sequence's KV cache, the new one included."""
    source: str
    """Where batch and context came from: ``annotation``, ``shapes`` or ``options``."""
    time_s: float
    """Wall time from the step's first kernel start to its last kernel end."""
    kernel_time_s: float
    """Time some kernel of the step ran (overlaps counted once)."""
    idle_s: float
    """time_s - kernel_time_s: the device idle inside the step (launch gaps)."""
    bound_s: float
    """The analytic bound of the whole step (fused minimum-traffic op set and its collectives)."""
    roofline_fraction: float | None
    """bound_s / time_s."""
    attributed_s: float
    """Kernel time of the step attributed to model ops."""


@dataclass(frozen=True, kw_only=True)
class TraceOp(Record):
    """One model op in one phase, over every step and layer of that phase."""

    op: str
    phase: str
    category: str
    """The category of most of its kernel time."""
    count: int
    """Instances found (layers x steps)."""
    layers: int
    """Distinct layers it was found in (0 for ops outside the layers)."""
    time_s: float
    """Measured time, its kernels' overlaps counted once."""
    bound_s: float | None
    """The analytic (roofline) bound of those instances; None where the
    model has no such op at this phase."""
    roofline_fraction: float | None
    """bound_s / time_s."""
    bound: str | None
    """``memory``, ``compute``, or ``launch`` where launches x the launch floor exceed the roofline bound (the
    third wall explains the op's time)."""
    kernels: tuple[str, ...] = seq()
    """Distinct kernel (or CPU op) names merged into the op."""
    launches: int = 0
    """Kernels (CPU ops) launched."""
    time_lost_s: float = 0.0
    """time_s - bound_s: what the table ranks by."""
    achieved_bytes_per_s: float | None = None
    """The op's analytic bytes / time_s."""
    achieved_flops_per_s: float | None = None
    """The op's analytic FLOPs / time_s."""
    suspect: str | None = opt()
    """Why the result is not to be trusted (a fraction above 1.05: a mapping error, not a result)."""


@dataclass(frozen=True, kw_only=True)
class TraceKernel(Record):
    """One kernel name: its launches and time, and the op(s) it was attributed to."""

    name: str
    category: str
    op: str | None
    """The op most of its time went to (None: unattributed)."""
    count: int
    time_s: float


@dataclass(frozen=True, kw_only=True)
class TraceRecord(Record):
    """A whole ``llmroof.trace/1`` file."""

    SCHEMA = schemas.TRACE

    files: tuple[str, ...] = seq()
    hardware: TraceHardware = one(TraceHardware)
    model: TraceModel = one(TraceModel)
    layout: TraceLayout = one(TraceLayout)
    dtype: str
    device_names: tuple[str, ...] = seq()
    """Device names the trace records."""
    coverage: Coverage = one(Coverage)
    categories: tuple[CategoryTime, ...] = many(CategoryTime)
    steps: tuple[TraceStep, ...] = many(TraceStep)
    ops: tuple[TraceOp, ...] = many(TraceOp)
    """Ranked by time lost against their bound."""
    kernels: tuple[TraceKernel, ...] = many(TraceKernel)
    warnings: tuple[str, ...] = seq(default=())

    def to_pandas(self, *, kernels: bool = False) -> Any:
        """One row per op (``kernels=True``: per kernel name)."""
        import pandas as pd

        return pd.DataFrame([r.to_dict() for r in (self.kernels if kernels else self.ops)])
