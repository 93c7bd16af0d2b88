"""Machine ceilings, calibrated in the manner of the Empirical Roofline Toolkit: the memory roof of every
level (caches and DRAM/HBM) and the compute roof of every dtype.

Bandwidth: four access patterns (read, write, copy, triad; ``kernels/ceilings.py``) over working sets from a
few KiB (cache-resident) to 8x the last-level cache (CPU) or L2 (GPU), at the thread count the profile
uses. Compute: ``F.linear`` of square operands per dtype, its size grown until one call is long enough to
time. Every figure is measured in several rounds spread over the run, patterns and sizes interleaved in a
new order each round, so slow drift of a shared machine touches all of them alike; each round keeps the best
sample of its figure, and the roof is the best round (the spread across rounds is recorded beside it).

- DRAM/HBM roof: the best bandwidth of any pattern at working sets of at least 4x the last-level cache.
- Cache roof of a level: the best bandwidth of any pattern at working sets that fit that level and not the
  level inside it (the plateau of the level).
- Compute roof of a dtype: the best FLOP/s of the linear kernel.

:class:`Ceilings` is the one record (``to_dict``/``from_dict``); ``ceilings_cache`` keeps it per machine.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmroof.analytic.hierarchy import MemoryHierarchy, MemoryLevel
from llmroof.errors import LlmroofError
from llmroof.measure.device import Device
from llmroof.results.records.base import Record, many, seq
from llmroof.results.records.ceilings import (
    BandwidthFigure,
    BandwidthProbe,
    CacheLevel,
    ComputeFigure,
    ComputeProbe,
    DriftCheck,
    median,
)

METHOD_VERSION = 1
"""Raised whenever the method changes what the figures mean; a cache of another version is re-measured."""
DRAM_FACTOR = 4
"""Working sets of at least this many times the last-level cache measure DRAM (HBM), not cache."""
DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
PATTERNS = ("read", "write", "copy", "triad")
PLAN_ENV = "LLMROOF_CALIBRATION"

Progress = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class CalibrationPlan:
    """How long and how widely to measure."""

    name: str
    rounds: int
    """Most passes over every (pattern, size) and dtype, each in a new order..."""
    time_budget_s: float
    """...but no new pass starts after this many seconds, once ``min_rounds`` are done."""
    min_rounds: int
    min_working_set_bytes: int
    """Smallest working set (sizes double from here)."""
    top_factor: int
    """Largest working set: this many times the last-level cache."""
    budget_ms: float
    """Time per (pattern, size) per round."""
    batch_ms: float
    """One timed sample runs the kernel back to back for at least this long (small kernels are timed in
    batches, so a sample is sustained streaming, not one call's dispatch)."""
    patterns: tuple[str, ...] = PATTERNS
    min_samples: int = 2
    compute_max_call_ms: float = 100.0
    """The linear kernel is measured at every n from 256 (doubling) whose call takes at most this long..."""
    compute_max_n: int = 2048
    """...and n at most this (4x that on a GPU, whose matmuls need n of several thousand to fill the device)."""

    def __post_init__(self) -> None:
        if (
            not 1 <= self.min_rounds <= self.rounds
            or self.min_samples < 1
            or self.top_factor < DRAM_FACTOR
            or not self.patterns
            or not set(self.patterns) <= set(PATTERNS)
        ):
            raise ValueError(
                f"calibration plan {self.name}: rounds and samples >= 1, top_factor >= {DRAM_FACTOR}"
            )


PLANS = {
    "full": CalibrationPlan(
        name="full",
        rounds=8,
        time_budget_s=12.0,
        min_rounds=2,
        min_working_set_bytes=16 * 2**10,
        top_factor=4,
        budget_ms=4.0,
        batch_ms=1.0,
        min_samples=1,
    ),
    # For tests and smoke runs (LLMROOF_CALIBRATION=quick): one round, few sizes, small kernels.
    "quick": CalibrationPlan(
        name="quick",
        rounds=1,
        time_budget_s=0.0,
        min_rounds=1,
        min_working_set_bytes=64 * 2**10,
        top_factor=4,
        budget_ms=1.0,
        batch_ms=0.2,
        patterns=("read", "copy"),
        min_samples=1,
        compute_max_call_ms=20.0,
        compute_max_n=256,
    ),
}


def plan_from_env(environ: dict[str, str] | None = None) -> CalibrationPlan:
    """``LLMROOF_CALIBRATION`` (``full`` unless set): the plan every calibration of this process uses."""
    name = (os.environ if environ is None else environ).get(PLAN_ENV, "full").strip() or "full"
    if name not in PLANS:
        raise LlmroofError(
            f"{PLAN_ENV}={name!r}: expected one of {', '.join(PLANS)}", f"unset {PLAN_ENV}"
        )
    return PLANS[name]


# --- the memory hierarchy ------------------------------------------------------------------------


def _size_bytes(text: str) -> int:
    text = text.strip().upper().removesuffix("B")
    scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
    return int(text.rstrip("KMG")) * scale


def _cpu_count(cpu_list: str) -> int:
    """Number of CPUs in a sysfs list such as ``0-3,8``."""
    count = 0
    for part in cpu_list.strip().split(","):
        if part:
            low, _, high = part.partition("-")
            count += int(high or low) - int(low) + 1
    return count


def cpu_cache_levels(
    threads: int, sysfs: Path = Path("/sys/devices/system/cpu/cpu0/cache")
) -> tuple[CacheLevel, ...]:
    """L1d, L2, L3... of the host from sysfs. A level private to each core (``shared_cpu_list`` of one CPU)
    holds ``threads`` instances' worth; a shared one holds one instance per group of CPUs that shares it."""
    levels: dict[int, CacheLevel] = {}
    for index in sorted(sysfs.glob("index*")):
        try:
            kind = (index / "type").read_text().strip()
            level = int((index / "level").read_text())
            size = _size_bytes((index / "size").read_text())
            sharing = (
                _cpu_count((index / "shared_cpu_list").read_text())
                if (index / "shared_cpu_list").exists()
                else 1
            )
        except (OSError, ValueError):
            continue
        if kind == "Instruction" or size <= 0:
            continue
        instances = max(1, math.ceil(threads / max(sharing, 1)))
        levels[level] = CacheLevel(
            name=f"L{level}",
            capacity_bytes=size * instances,
            instance_bytes=size,
            instances=instances,
        )
    return tuple(levels[k] for k in sorted(levels))


def cuda_cache_levels(props: Any) -> tuple[CacheLevel, ...]:
    """The GPU's L2 (``torch.cuda.get_device_properties(i).L2_cache_size``), shared by every SM."""
    size = int(getattr(props, "L2_cache_size", 0) or 0)
    return (
        (CacheLevel(name="L2", capacity_bytes=size, instance_bytes=size, instances=1),)
        if size
        else ()
    )


def device_cache_levels(device: Device, threads: int) -> tuple[CacheLevel, ...]:
    if device.is_cuda:
        return cuda_cache_levels(device.torch.cuda.get_device_properties(device.index))
    return cpu_cache_levels(threads)


def working_sets(plan: CalibrationPlan, llc_bytes: int) -> list[int]:
    """Doubling working sets from the plan's smallest to ``top_factor`` x the last-level cache, the
    DRAM sizes (>= 4x LLC) always included."""
    top = plan.top_factor * llc_bytes
    sizes, size = [], plan.min_working_set_bytes
    while size < top:
        sizes.append(size)
        size *= 2
    sizes.append(top)
    sizes.append(DRAM_FACTOR * llc_bytes)
    return sorted(set(sizes))


# --- the record ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Ceilings(Record):
    """What one calibration measured; every roof derives from the figures. Its JSON form
    (:meth:`to_dict`) adds the derived roofs, which :meth:`from_dict` leaves aside (in ``extra``)
    and recomputes."""

    device_kind: str
    device_name: str
    threads: int | None
    plan: str
    caches: tuple[CacheLevel, ...] = many(CacheLevel)
    bandwidth: tuple[BandwidthFigure, ...] = many(BandwidthFigure)
    compute: tuple[ComputeFigure, ...] = many(ComputeFigure)
    elapsed_s: float
    method_version: int = METHOD_VERSION
    dispatch_rounds_s: tuple[float, ...] = seq(default=())
    """The third wall: per round, the least time of one dispatch of a tiny op (CPU: one aten op on a few
    elements; GPU: one kernel launch, back to back); empty in calibrations made before it was measured."""

    @property
    def launch_floor_s(self) -> float | None:
        """The dispatch (CPU) or launch (GPU) floor: the best round; None where not measured."""
        return min(self.dispatch_rounds_s) if self.dispatch_rounds_s else None

    @property
    def llc_bytes(self) -> int:
        return max((c.capacity_bytes for c in self.caches), default=32 * 2**20)

    def dram_figures(self) -> list[BandwidthFigure]:
        return [f for f in self.bandwidth if f.working_set_bytes >= DRAM_FACTOR * self.llc_bytes]

    def memory_roof(self) -> BandwidthFigure:
        """The DRAM/HBM roof: the best figure of any pattern at working sets >= 4x the last-level cache."""
        figures = self.dram_figures()
        if not figures:
            raise ValueError("no bandwidth figure beyond the last-level cache")
        return max(figures, key=lambda f: f.best_bytes_per_s)

    def best_of_pattern(self, pattern: str) -> float | None:
        rates = [f.best_bytes_per_s for f in self.dram_figures() if f.pattern == pattern]
        return max(rates) if rates else None

    def measured_cache_roofs(self) -> dict[str, BandwidthFigure]:
        """Per level: the best figure of any pattern whose working set fits the level and not the one inside."""
        roofs, inner = {}, 0
        for cache in sorted(self.caches, key=lambda c: c.capacity_bytes):
            band = [
                f for f in self.bandwidth if inner < f.working_set_bytes <= cache.capacity_bytes
            ]
            if band:
                roofs[cache.name] = max(band, key=lambda f: f.best_bytes_per_s)
            inner = cache.capacity_bytes
        return roofs

    def cache_roofs(self) -> dict[str, BandwidthFigure]:
        """The measured cache roofs that are roofs: monotone, each level at least as fast as every level outside
        it (and DRAM). A level measured slower than the next one down is overhead-bound (its small probes time
        dispatch, not the cache; :meth:`overhead_bound_levels`) and is not kept as a roof."""
        measured = self.measured_cache_roofs()
        kept: dict[str, BandwidthFigure] = {}
        floor = self.memory_roof().best_bytes_per_s
        for name in reversed(list(measured)):  # outermost first
            if measured[name].best_bytes_per_s >= floor:
                kept[name] = measured[name]
                floor = measured[name].best_bytes_per_s
        return {name: kept[name] for name in measured if name in kept}

    def overhead_bound_levels(self) -> dict[str, float]:
        """Levels whose measured roof is below a level outside them: level -> what the probes measured."""
        kept = self.cache_roofs()
        return {
            name: f.best_bytes_per_s
            for name, f in self.measured_cache_roofs().items()
            if name not in kept
        }

    def compute_roof(self, dtype: str) -> ComputeFigure | None:
        """The dtype's fastest figure (of every n measured)."""
        return max(
            (f for f in self.compute if f.dtype == dtype),
            key=lambda f: f.best_flops_per_s,
            default=None,
        )

    def compute_roofs(self) -> dict[str, float]:
        dtypes = dict.fromkeys(f.dtype for f in self.compute)
        return {
            dtype: roof.best_flops_per_s
            for dtype in dtypes
            if (roof := self.compute_roof(dtype)) is not None
        }

    def hierarchy(self) -> MemoryHierarchy:
        roofs = self.cache_roofs()
        levels = tuple(
            MemoryLevel(
                name=c.name,
                capacity_bytes=c.capacity_bytes,
                bandwidth_bytes_per_s=roofs[c.name].best_bytes_per_s,
            )
            for c in self.caches
            if c.name in roofs
        )
        return MemoryHierarchy(
            caches=levels, memory_bandwidth_bytes_per_s=self.memory_roof().best_bytes_per_s
        )

    def spread(self, figure: BandwidthFigure) -> tuple[float, float, float]:
        r = sorted(figure.rounds_bytes_per_s)
        return r[0], median(r), r[-1]

    def method(self) -> str:
        return (
            f"{self.plan} plan, {max(len(f.rounds_bytes_per_s) for f in self.bandwidth)} rounds spread over "
            f"{self.elapsed_s:.0f} s, patterns and sizes interleaved in a new order each round; bandwidth: "
            f"{', '.join(sorted({f.pattern for f in self.bandwidth}))} (fp32, bytes read plus written) over "
            "working sets "
            f"{min(f.working_set_bytes for f in self.bandwidth)} B to "
            f"{max(f.working_set_bytes for f in self.bandwidth)} B at {self.threads or 'all'} threads; "
            f"DRAM roof: best of any pattern at >= {DRAM_FACTOR}x the {self.llc_bytes} B last-level cache; "
            "cache roofs: best of any pattern at working sets that fit the level and not the level inside; "
            "compute: F.linear of n x n operands per dtype at several n (2 n^3 FLOPs); each roof the best "
            "round of any size; dispatch floor: the least time per call of a one-element add, back to back "
            "(CPU: one aten op dispatch; GPU: one kernel launch), best round; a cache level measured slower "
            "than the level outside it is overhead-bound, not a roof"
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form the calibration cache keeps (``ceilings``; read back by :meth:`from_dict`): the
        figures and the roofs they give. ``llmroof ceilings`` writes the same roofs as its record's
        fields (:func:`~llmroof.measure.ceilings_cache.ceilings_result`)."""
        memory = self.memory_roof()
        cache_roofs = self.cache_roofs()
        return {
            "memory_bandwidth_bytes_per_s": memory.best_bytes_per_s,
            "memory_bandwidth_pattern": memory.pattern,
            "memory_bandwidth_working_set_bytes": memory.working_set_bytes,
            "memory_bandwidth_spread_bytes_per_s": dict(
                zip(("min", "median", "max"), self.spread(memory))
            ),
            "memory_bandwidth_by_pattern_bytes_per_s": {
                p: self.best_of_pattern(p) for p in PATTERNS
            },
            "cache_bandwidth_bytes_per_s": {
                name: f.best_bytes_per_s for name, f in cache_roofs.items()
            },
            "overhead_bound_levels_bytes_per_s": self.overhead_bound_levels(),
            "dispatch_floor_s": self.launch_floor_s,
            "dispatch_rounds_s": list(self.dispatch_rounds_s),
            "dispatch_kind": "kernel launch" if self.device_kind == "cuda" else "op dispatch",
            "cache_capacity_bytes": {c.name: c.capacity_bytes for c in self.caches},
            "compute_flops_per_s": self.compute_roofs(),
            "device_kind": self.device_kind,
            "device_name": self.device_name,
            "threads": self.threads,
            "plan": self.plan,
            "method_version": self.method_version,
            "elapsed_s": self.elapsed_s,
            "method": self.method(),
            "caches": [c.to_dict() for c in self.caches],
            "bandwidth": [f.to_dict() for f in self.bandwidth],
            "compute": [f.to_dict() for f in self.compute],
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "") -> Ceilings:
        """Read back :meth:`to_dict` (the derived roofs are recomputed from the figures). Raises
        LlmroofError (a missing key or one of the wrong type) or ValueError on a malformed record."""
        ceilings: Ceilings = super().from_dict(data, where or "ceilings")
        if any(
            not f.rounds_bytes_per_s or min(f.rounds_bytes_per_s) <= 0 for f in ceilings.bandwidth
        ) or any(
            not f.rounds_flops_per_s or min(f.rounds_flops_per_s) <= 0 for f in ceilings.compute
        ):
            raise ValueError("a figure without positive rounds")
        ceilings.memory_roof()  # raises ValueError when nothing was measured beyond the cache
        return ceilings


# --- measuring -----------------------------------------------------------------------------------


@dataclass
class _Timed:
    """A kernel and the amount (bytes or FLOPs) one call moves or computes."""

    fn: Callable[[], object]
    amount: float
    batch: int = 0
    """Calls per timed sample (sized on first use)."""
    rounds: list[float] = field(default_factory=list)


def best_rate(
    timed: _Timed, device: Device, *, budget_ms: float, batch_ms: float, min_samples: int
) -> float:
    """Best rate (amount per second) of one round: samples of ``batch`` back-to-back calls for ``budget_ms``."""
    clock = device.stopwatch()
    if timed.batch == 0:
        timed.fn()  # first touch, lazy initialisation
        device.synchronize()
        read = clock(timed.fn)
        device.synchronize()
        timed.batch = max(1, math.ceil(batch_ms / 1e3 / max(read(), 1e-9)))
    k, fn = timed.batch, timed.fn

    def batch() -> None:
        for _ in range(k):
            fn()

    first = clock(batch)  # the first sample also sizes the rest
    device.synchronize()
    estimate_s = max(first(), 1e-9)
    samples = max(min_samples, int(budget_ms / 1e3 / estimate_s)) - 1
    pending = [first] + [clock(batch) for _ in range(samples)]
    device.synchronize()
    return timed.amount * k / min(max(r(), 1e-12) for r in pending)


MIN_LINEAR_N = 512
"""The linear kernel is always tried up to this n: under load one size's calls can look 10x slow."""


def linear_sizes(dtype: Any, device: Device, plan: CalibrationPlan) -> list[int]:
    """The n the linear kernel is measured at: doubling from 256 while a call (the best of three) takes at
    most ``compute_max_call_ms`` and n at most ``compute_max_n`` (x4 on a GPU); past ``MIN_LINEAR_N`` the
    next size is not tried when 8x this call would pass the limit. Several sizes, because the fastest is not
    the largest (2 cores, bf16: 512 at 414 GFLOP/s, 2048 at 140)."""
    from llmroof.kernels.ceilings import linear_probe

    clock = device.stopwatch()
    n, sizes = 256, list[int]()
    max_n = plan.compute_max_n * (4 if device.is_cuda else 1)
    while n <= max_n:
        probe = linear_probe(n, dtype, device.torch_device)
        probe.fn()
        device.synchronize()
        reads = [
            clock(probe.fn) for _ in range(3)
        ]  # the best of three: one preempted call sizes nothing
        device.synchronize()
        call_ms = max(min(read() for read in reads), 1e-9) * 1e3
        if call_ms > plan.compute_max_call_ms and sizes:
            break
        sizes.append(n)
        if 8 * call_ms > plan.compute_max_call_ms and n >= MIN_LINEAR_N:
            break
        n *= 2
    return sizes


def calibrate(
    device: Device,
    *,
    threads: int | None,
    plan: CalibrationPlan,
    progress: Progress = lambda _: None,
    seed: int = 0,
) -> Ceilings:
    """Measure every figure of :class:`Ceilings` on ``device`` (torch's thread count set by the caller)."""
    from llmroof.kernels.ceilings import BandwidthBuffers, linear_probe

    torch = device.torch
    start = time.perf_counter()
    caches = device_cache_levels(device, threads or 1)
    llc = max((c.capacity_bytes for c in caches), default=device.cache_bytes)
    sizes = working_sets(plan, llc)
    progress(
        f"ceiling: {len(plan.patterns)} patterns x {len(sizes)} sizes up to {sizes[-1] / 2**20:.0f} MiB, "
        f"{plan.rounds} rounds"
    )
    buffers = BandwidthBuffers(sizes[-1], device.torch_device, plan.patterns)
    bandwidth = {}
    for pattern in plan.patterns:
        for size in sizes:
            probe = buffers.probe(pattern, size)
            bandwidth[pattern, size] = _Timed(probe.fn, probe.bytes)
    compute: dict[tuple[str, int], _Timed] = {}
    for name, torch_name in DTYPES.items():
        dtype = getattr(torch, torch_name)
        progress(f"ceiling: sizing the {name} linear kernel")
        for n in linear_sizes(dtype, device, plan):
            probe = linear_probe(n, dtype, device.torch_device)
            compute[name, n] = _Timed(probe.fn, probe.flops)
    from llmroof.kernels.ceilings import dispatch_probe

    dispatch = _Timed(dispatch_probe(device.torch_device).fn, 1.0)
    order = random.Random(seed)
    keys: list[Any] = (
        [("bw", key) for key in bandwidth]
        + [("flops", name) for name in compute]
        + [("dispatch", None)]
    )
    for round_index in range(plan.rounds):
        if round_index >= plan.min_rounds and time.perf_counter() - start > plan.time_budget_s:
            break
        progress(f"ceiling: round {round_index + 1} (of at most {plan.rounds})")
        order.shuffle(keys)
        for kind, key in keys:
            if kind == "dispatch":
                dispatch.rounds.append(
                    1.0
                    / best_rate(
                        dispatch,
                        device,
                        budget_ms=plan.budget_ms,
                        batch_ms=plan.batch_ms,
                        min_samples=plan.min_samples,
                    )
                )
                continue
            timed = bandwidth[key] if kind == "bw" else compute[key]
            # Three samples of the linear kernel per round, so one preempted call does not set the round.
            budget, samples = (plan.budget_ms, plan.min_samples) if kind == "bw" else (0.0, 3)
            timed.rounds.append(
                best_rate(
                    timed, device, budget_ms=budget, batch_ms=plan.batch_ms, min_samples=samples
                )
            )
    elapsed = time.perf_counter() - start
    return Ceilings(
        device_kind=device.kind,
        device_name=device.name,
        threads=threads,
        plan=plan.name,
        caches=caches,
        bandwidth=tuple(
            BandwidthFigure(pattern=p, working_set_bytes=s, rounds_bytes_per_s=tuple(t.rounds))
            for (p, s), t in sorted(bandwidth.items(), key=lambda item: (item[0][1], item[0][0]))
        ),
        compute=tuple(
            ComputeFigure(dtype=name, n=n, rounds_flops_per_s=tuple(t.rounds))
            for (name, n), t in compute.items()
        ),
        elapsed_s=elapsed,
        dispatch_rounds_s=tuple(dispatch.rounds),
    )


# --- drift ---------------------------------------------------------------------------------------

DRIFT_PATTERNS = ("read", "copy")
DRIFT_TOLERANCE = 0.05
"""A drift probe outside the calibration's [min, max] across rounds, widened by this fraction, is drift."""


def drift_check(
    device: Device, ceilings: Ceilings, *, budget_ms: float = 20.0, dtype: str | None = None
) -> DriftCheck:
    """A quick read and copy probe at the DRAM roof's working set, against the calibration's rounds there;
    with ``dtype``, also three calls of that dtype's linear kernel (``compute``, informative: a faster one
    raises the compute roof, see :func:`raise_roofs`).

    ``drift_fraction``: measured / the calibration's median - 1 (positive: faster now). ``beyond_spread``:
    outside the calibration's [min, max] across rounds, widened by ``DRIFT_TOLERANCE``.
    """
    from llmroof.kernels.ceilings import BandwidthBuffers

    size = ceilings.memory_roof().working_set_bytes
    buffers = BandwidthBuffers(size, device.torch_device, DRIFT_PATTERNS)
    probes = {}
    for pattern in DRIFT_PATTERNS:
        reference = next(
            (f for f in ceilings.bandwidth if f.pattern == pattern and f.working_set_bytes == size),
            None,
        )
        if reference is None:
            continue
        probe = buffers.probe(pattern, size)
        rate = best_rate(
            _Timed(probe.fn, probe.bytes), device, budget_ms=budget_ms, batch_ms=1.0, min_samples=3
        )
        low, mid, high = ceilings.spread(reference)
        probes[pattern] = BandwidthProbe(
            measured_bytes_per_s=rate,
            calibration_median_bytes_per_s=mid,
            calibration_min_bytes_per_s=low,
            calibration_max_bytes_per_s=high,
            drift_fraction=rate / mid - 1,
            beyond_spread=rate < low * (1 - DRIFT_TOLERANCE) or rate > high * (1 + DRIFT_TOLERANCE),
        )
    worst = max(probes.values(), key=lambda p: abs(p.drift_fraction), default=None)
    compute = {}
    reference_flops = ceilings.compute_roof(dtype) if dtype else None
    if dtype is not None and reference_flops is not None:
        from llmroof.kernels.ceilings import linear_probe

        linear = linear_probe(
            reference_flops.n, getattr(device.torch, DTYPES[dtype]), device.torch_device
        )
        rate = best_rate(
            _Timed(linear.fn, linear.flops), device, budget_ms=0.0, batch_ms=0.0, min_samples=3
        )
        compute[dtype] = ComputeProbe(
            n=reference_flops.n,
            measured_flops_per_s=rate,
            calibration_median_flops_per_s=reference_flops.median_flops_per_s,
            calibration_max_flops_per_s=reference_flops.best_flops_per_s,
            drift_fraction=rate / reference_flops.median_flops_per_s - 1,
        )
    return DriftCheck(
        working_set_bytes=size,
        probes=probes,
        drift_fraction=None if worst is None else worst.drift_fraction,
        beyond_spread=any(p.beyond_spread for p in probes.values()),
        compute=compute,
    )


def raise_roofs(ceilings: Ceilings, drift: DriftCheck) -> Ceilings | None:
    """The drift probes are rounds of their figures too: one faster than the figure's best so far is added to
    its rounds, so the calibrated roof (the best sustained figure over time) only ever rises. None when no
    probe beat its figure's best."""
    size = drift.working_set_bytes
    faster = {
        pattern: probe.measured_bytes_per_s
        for pattern, probe in drift.probes.items()
        if probe.measured_bytes_per_s > probe.calibration_max_bytes_per_s
    }
    probed = drift.compute or {}
    faster_flops = {
        dtype: probe.measured_flops_per_s
        for dtype, probe in probed.items()
        if probe.measured_flops_per_s > probe.calibration_max_flops_per_s
    }
    if not faster and not faster_flops:
        return None
    figures = tuple(
        dataclasses.replace(f, rounds_bytes_per_s=(*f.rounds_bytes_per_s, faster[f.pattern]))
        if f.working_set_bytes == size and f.pattern in faster
        else f
        for f in ceilings.bandwidth
    )
    compute = tuple(
        dataclasses.replace(f, rounds_flops_per_s=(*f.rounds_flops_per_s, faster_flops[f.dtype]))
        if f.dtype in faster_flops and f.n == probed[f.dtype].n
        else f
        for f in ceilings.compute
    )
    return dataclasses.replace(ceilings, bandwidth=figures, compute=compute)
