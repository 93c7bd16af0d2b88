"""The one timing function, in the spirit of ``triton.testing.do_bench``: warm-up and repeat budgets in
milliseconds, the cache flushed before every timed call, device timers (CUDA events, or perf_counter_ns
with synchronisation on the CPU), raw samples returned. Statistics are :func:`llmroof.measure.stats.summarize`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from llmroof.measure.device import Device


def bench(
    fn: Callable[[], Any],
    device: Device,
    *,
    warmup_ms: float = 25.0,
    rep_ms: float = 100.0,
    flush: bool = True,
    min_reps: int = 3,
    max_reps: int = 1000,
) -> list[float]:
    """Time ``fn`` on ``device``; returns one sample in seconds per timed call.

    The first call (allocation, lazy initialisation, autotuning) is timed and discarded; its time sizes the
    warm-up (``warmup_ms``, the first call included) and the number of timed calls (``rep_ms``, clamped to
    [min_reps, max_reps]). Before each timed call the cache is flushed (``flush``) outside the timed region.
    """
    clock = device.stopwatch()
    flush_s = 0.0
    if flush:
        flush_s = _flush_time_s(device, clock)
    first = clock(fn)
    device.synchronize()
    first()
    warmup = max(0, math.ceil(warmup_ms / 1e3 / max(first(), 1e-9)) - 1)
    for _ in range(warmup):
        fn()
    # Re-estimate from a warm call: the first one pays one-off costs (page faults, allocation, autotuning).
    if flush:
        device.flush_cache()
    again = clock(fn)
    device.synchronize()
    estimate_s = max(again(), 1e-9)
    # The budget counts the flush before each call too, so tiny kernels do not cost thousands of flushes.
    reps = min(max_reps, max(min_reps, math.ceil(rep_ms / 1e3 / (estimate_s + flush_s))))
    pending = []
    for _ in range(reps):
        if flush:
            device.flush_cache()
        pending.append(clock(fn))
    device.synchronize()
    return [read() for read in pending]


def _flush_time_s(
    device: Device, clock: Callable[[Callable[[], Any]], Callable[[], float]]
) -> float:
    """How long one cache flush takes (the second of two, so the buffer exists)."""
    device.flush_cache()
    read = clock(device.flush_cache)
    device.synchronize()
    return read()
