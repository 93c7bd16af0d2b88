"""From a trace's events to *units*, the things attribution names: a top-level CPU op with the kernels it
launched (eager PyTorch: ``aten::linear`` and its GEMM, ``aten::layer_norm`` and its pieces), or one kernel
that no CPU op launched (a CUDA-graph replay), or, in a CPU-only trace, one top-level CPU op.

Kernels of one unit are merged (split-K GEMM + reduce, eager RMSNorm's pieces inside one module op); nested
CPU ops are counted once, as the top-level op that holds them.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

from llmroof.trace.events import TraceEvents
from llmroof.trace.rules import Classifier

PRIORITY = (
    "attention",
    "attention_prefill",
    "attention_decode",
    "gemm",
    "moe_gemm",
    "communication",
    "moe_routing",
    "norm",
    "kv_cache_write",
    "rope",
    "activation",
    "quantize",
    "sampling",
    "elementwise",
    "copy",
    "other",
)
"""A unit whose kernels have several categories takes the first of these."""


@dataclass
class Unit:
    """One attributable piece of work, in execution order."""

    name: str
    category: str
    role: str | None
    cpu_us: float | None
    """When the CPU launched (or ran) it: for placing it in CPU-side step ranges."""
    gpu_us: float
    """When its first kernel started (CPU-only traces: when the op started)."""
    intervals: list[tuple[float, float]] = field(default_factory=list)
    """(start, end) of each kernel (CPU-only traces: the op itself), us."""
    kernels: list[str] = field(default_factory=list)
    shape: tuple[Any, ...] | None = None
    """Input shapes of the launching op, where recorded."""

    @property
    def busy_us(self) -> float:
        return sum(end - start for start, end in self.intervals)


def top_level_rows(events: TraceEvents) -> list[int]:
    """For each CPU op row, the row of the outermost op on its thread that encloses it (itself if none)."""
    ops = events.cpu_ops
    order = sorted(range(len(ops)), key=lambda r: (ops.tid[r], ops.start_us[r], -ops.dur_us[r]))
    top = list(range(len(ops)))
    current, end, tid = -1, -1.0, None
    for row in order:
        start = ops.start_us[row]
        if ops.tid[row] != tid or start >= end:
            current, end, tid = row, start + ops.dur_us[row], ops.tid[row]
        top[row] = current
    return top


def build_units(events: TraceEvents, classify: Classifier) -> list[Unit]:
    """Units of one trace, ordered by when their work started."""
    names = events.names.names
    ops = events.cpu_ops
    if not len(events.kernels):
        return _cpu_units(events, classify)
    top = top_level_rows(events)
    row_of_external = {ops.external_id[r]: r for r in range(len(ops)) if ops.external_id[r] >= 0}
    units: dict[Any, Unit] = {}
    k = events.kernels
    for i in range(len(k)):
        external = k.external_id[i]
        correlation = k.correlation[i]
        if external < 0 and correlation >= 0:
            external = events.launch_external.get(correlation, -1)
        row = row_of_external.get(external) if external >= 0 else None
        key: Any = ("op", top[row]) if row is not None else ("kernel", i)
        name = names[k.name[i]]
        start, dur = k.start_us[i], k.dur_us[i]
        unit = units.get(key)
        if unit is None:
            cpu = events.launches.get(correlation) if correlation >= 0 else None
            if cpu is None and row is not None:
                cpu = ops.start_us[top[row]]
            shape = None
            if row is not None:
                shape = ops.shapes.get(row, ops.shapes.get(top[row]))
            category, role = classify(name)
            unit = units[key] = Unit(
                name=names[ops.name[top[row]]] if row is not None else name,
                category=category,
                role=role,
                cpu_us=cpu,
                gpu_us=start,
                shape=shape,
            )
        else:
            category, role = classify(name)
            if PRIORITY.index(category) < PRIORITY.index(unit.category):
                unit.category = category
                unit.role = role if unit.role is None else unit.role
        unit.gpu_us = min(unit.gpu_us, start)
        unit.intervals.append((start, start + dur))
        unit.kernels.append(name)
    return sorted(units.values(), key=lambda u: u.gpu_us)


def _cpu_units(events: TraceEvents, classify: Classifier) -> list[Unit]:
    """A CPU-only trace: each top-level CPU op is a unit (its nested ops counted once, inside it)."""
    ops, names = events.cpu_ops, events.names.names
    top = top_level_rows(events)
    units = []
    for row in range(len(ops)):
        if top[row] != row:
            continue
        name = names[ops.name[row]]
        category, role = classify(name)
        start = ops.start_us[row]
        units.append(
            Unit(
                name=name,
                category=category,
                role=role,
                cpu_us=start,
                gpu_us=start,
                intervals=[(start, start + ops.dur_us[row])],
                kernels=[name],
                shape=ops.shapes.get(row),
            )
        )
    return sorted(units, key=lambda u: u.gpu_us)


def union_us(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of intervals: overlaps (several streams) counted once."""
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


def assign(points: list[float], ranges: list[tuple[float, float]]) -> list[int | None]:
    """Index of the range (sorted, disjoint) holding each point, or None."""
    starts = [start for start, _ in ranges]
    found: list[int | None] = []
    for point in points:
        index = bisect_right(starts, point) - 1
        found.append(index if index >= 0 and point <= ranges[index][1] else None)
    return found
