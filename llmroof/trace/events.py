"""What llmroof keeps of a profiler trace: kernels, CPU ops and annotation ranges, in compact columns.

Every reader (:mod:`llmroof.trace.chrome` for PyTorch's Chrome-trace JSON, :mod:`llmroof.trace.nsys` for an
Nsight Systems SQLite export) fills one :class:`TraceEvents`. Times are microseconds on the trace's own clock.
Kernels and CPU ops are kept in ``array`` columns (about 40 bytes a kernel), and input shapes only for the
ops whose shapes name a model op (matrix products, attention, embedding), so that a 2 GB trace fits in
bounded memory.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Any

SHAPE_OPS = frozenset(
    {
        "aten::linear",
        "aten::mm",
        "aten::addmm",
        "aten::matmul",
        "aten::bmm",
        "aten::baddbmm",
        "aten::embedding",
        "aten::scaled_dot_product_attention",
        "aten::_scaled_dot_product_flash_attention",
        "aten::_scaled_dot_product_flash_attention_for_cpu",
        "aten::_scaled_dot_product_efficient_attention",
        "aten::_scaled_dot_product_cudnn_attention",
        "aten::index_select",
    }
)
"""CPU ops whose input shapes the trace keeps: they tell a projection from another, and give batch and context."""


class Names:
    """Interned strings: each name once, referred to by its index."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.names: list[str] = []

    def id(self, name: str) -> int:
        found = self.index.get(name)
        if found is None:
            found = self.index[name] = len(self.names)
            self.names.append(name)
        return found


@dataclass
class Kernels:
    """Device kernels (and, in nsys exports, memcpy/memset), one column per field."""

    name: array = field(default_factory=lambda: array("q"))
    start_us: array = field(default_factory=lambda: array("d"))
    dur_us: array = field(default_factory=lambda: array("d"))
    stream: array = field(default_factory=lambda: array("q"))
    external_id: array = field(default_factory=lambda: array("q"))
    """The launching CPU op's external id (-1: none, as in a CUDA-graph replay)."""
    correlation: array = field(default_factory=lambda: array("q"))
    """The runtime call's correlation id (-1: none)."""

    def add(
        self,
        name: int,
        start_us: float,
        dur_us: float,
        stream: int,
        external_id: int,
        correlation: int,
    ) -> None:
        self.name.append(name)
        self.start_us.append(start_us)
        self.dur_us.append(dur_us)
        self.stream.append(stream)
        self.external_id.append(external_id)
        self.correlation.append(correlation)

    def __len__(self) -> int:
        return len(self.name)


@dataclass
class CpuOps:
    """CPU operators (``cpu_op``), one column per field; input shapes of :data:`SHAPE_OPS` apart."""

    name: array = field(default_factory=lambda: array("q"))
    start_us: array = field(default_factory=lambda: array("d"))
    dur_us: array = field(default_factory=lambda: array("d"))
    tid: array = field(default_factory=lambda: array("q"))
    external_id: array = field(default_factory=lambda: array("q"))
    shapes: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    """Row -> the op's input shapes (``Input Dims``), for :data:`SHAPE_OPS` only."""

    def add(self, name: int, start_us: float, dur_us: float, tid: int, external_id: int) -> int:
        self.name.append(name)
        self.start_us.append(start_us)
        self.dur_us.append(dur_us)
        self.tid.append(tid)
        self.external_id.append(external_id)
        return len(self.name) - 1

    def __len__(self) -> int:
        return len(self.name)


@dataclass(frozen=True)
class Range:
    """An annotation: ``ProfilerStep#3``, vLLM's ``execute_context_...``, an NVTX range."""

    name: str
    start_us: float
    dur_us: float
    gpu: bool
    """On the device timeline (``gpu_user_annotation``) rather than a CPU thread's."""

    @property
    def end_us(self) -> float:
        return self.start_us + self.dur_us


@dataclass
class TraceEvents:
    """One rank's trace, as read."""

    source: str
    names: Names = field(default_factory=Names)
    kernels: Kernels = field(default_factory=Kernels)
    cpu_ops: CpuOps = field(default_factory=CpuOps)
    ranges: list[Range] = field(default_factory=list)
    launch_correlation: array = field(default_factory=lambda: array("q"))
    """Runtime launch calls (cudaLaunchKernel, cudaGraphLaunch...): their correlation ids..."""
    launch_us: array = field(default_factory=lambda: array("d"))
    """...the CPU time (us) of each call..."""
    launch_external: array = field(default_factory=lambda: array("q"))
    """...and the launching op's external id (-1: none), for kernels that lack it."""

    def add_launch(self, correlation: int, start_us: float, external: int) -> None:
        self.launch_correlation.append(correlation)
        self.launch_us.append(start_us)
        self.launch_external.append(external)

    device_names: list[str] = field(default_factory=list)
    """Device names the trace records (``deviceProperties``, ``TARGET_INFO_GPU``)."""
    distributed: dict[str, Any] = field(default_factory=dict)
    """``distributedInfo`` (rank, world size), where recorded."""
