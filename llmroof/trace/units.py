"""From a trace's events to *units*, the things attribution names: a top-level CPU op with the kernels it
launched (eager PyTorch: ``aten::linear`` and its GEMM, ``aten::layer_norm`` and its pieces), or one kernel
that no CPU op launched (a CUDA-graph replay), or, in a CPU-only trace, one top-level CPU op.

Kernels of one unit are merged (split-K GEMM + reduce, eager RMSNorm's pieces inside one module op); nested
CPU ops are counted once, as the top-level op that holds them.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterator
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


@dataclass(slots=True)
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


def top_level_rows(events: TraceEvents) -> array:
    """For each CPU op row, the row of the outermost op on its thread that encloses it (itself if none).

    One sort by start time (a key of one float per row: no tuples, so the sort's memory stays small), then
    per thread the current outermost op; an op that starts with it and lasts longer takes its place."""
    ops = events.cpu_ops
    tid, start_us, dur_us = ops.tid, ops.start_us, ops.dur_us
    top = array("q", range(len(ops)))
    current: dict[
        int, tuple[int, float, float]
    ] = {}  # thread -> (row, start, end) of its outermost op
    for row in sorted(range(len(ops)), key=start_us.__getitem__):
        start, end = start_us[row], start_us[row] + dur_us[row]
        outer = current.get(tid[row])
        if outer is None or start >= outer[2]:
            current[tid[row]] = (row, start, end)
        elif start == outer[1] and end > outer[2]:
            top[outer[0]] = row  # the op before was nested in this one
            current[tid[row]] = (row, start, end)
        else:
            top[row] = outer[0]
    for _ in range(2):  # rows that pointed at an op later found nested
        for row in range(len(top)):
            top[row] = top[top[row]]
    return top


def index_of(keys: array) -> Any:
    """key -> position, for non-negative integer keys: an array when they are dense (external and correlation
    ids count up from 1), else a dict; -1 / absent for keys not there."""
    largest = max(keys, default=-1)
    if largest < 8 * len(keys) + 1024:
        index = array("q", [-1]) * (largest + 1)
        for position, key in enumerate(keys):
            if key >= 0:
                index[key] = position
        return index
    return {key: position for position, key in enumerate(keys) if key >= 0}


def _lookup(index: Any, key: int) -> int:
    if key < 0:
        return -1
    if isinstance(index, dict):
        return int(index.get(key, -1))
    return index[key] if key < len(index) else -1


OPEN_UNITS = 256
"""Units still open to more kernels: a unit's kernels run close together, so a unit is complete once this
many newer units have started (memory holds these, not the whole trace's)."""


def iter_units(events: TraceEvents, classify: Classifier) -> Iterator[Unit]:
    """Units of one trace, in the order their work started, built as the kernels are walked in time order
    (bounded memory: only :data:`OPEN_UNITS` units are held)."""
    if not len(events.kernels):
        yield from _cpu_units(events, classify)
        return
    names = events.names.names
    ops, k = events.cpu_ops, events.kernels
    top = top_level_rows(events)
    row_of_external = index_of(ops.external_id)
    launch_of = index_of(events.launch_correlation)
    order = array("q", sorted(range(len(k)), key=k.start_us.__getitem__))
    units: OrderedDict[Any, Unit] = OrderedDict()
    for i in order:
        external, correlation = k.external_id[i], k.correlation[i]
        launch = _lookup(launch_of, correlation)
        if external < 0 and launch >= 0:
            external = events.launch_external[launch]
        row = _lookup(row_of_external, external)
        key: Any = top[row] if row >= 0 else -1 - i
        name = names[k.name[i]]
        start, dur = k.start_us[i], k.dur_us[i]
        category, role = classify(name)
        unit = units.get(key)
        if unit is None:
            cpu = (
                events.launch_us[launch]
                if launch >= 0
                else (ops.start_us[top[row]] if row >= 0 else None)
            )
            shape = ops.shapes.get(row, ops.shapes.get(top[row])) if row >= 0 else None
            unit = units[key] = Unit(
                name=names[ops.name[top[row]]] if row >= 0 else name,
                category=category,
                role=role,
                cpu_us=cpu,
                gpu_us=start,
                shape=shape,
            )
            while len(units) > OPEN_UNITS:
                yield units.popitem(last=False)[1]
        elif PRIORITY.index(category) < PRIORITY.index(unit.category):
            unit.category = category
            unit.role = role if unit.role is None else unit.role
        unit.intervals.append((start, start + dur))
        unit.kernels.append(name)
    yield from units.values()


def build_units(events: TraceEvents, classify: Classifier) -> list[Unit]:
    """Every unit of one trace, in order (:func:`iter_units`, held whole)."""
    return list(iter_units(events, classify))


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
