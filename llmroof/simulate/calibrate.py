"""Efficiencies for a simulation from a measurement: a profile (``llmroof profile``, read by
:func:`llmroof.plan.calibration.read_calibration`) or a bench run of the engine itself.

From a bench, the level at the lowest concurrency (1: no queueing, no batching) gives both phases:
the step model's decode step (batch 1, the level's mean context) over the measured mean TPOT, and
its prefill of the prompt over the measured mean TTFT. Everything the engine adds to a step (its
scheduler, Python, the HTTP stream) is thereby folded into the two efficiencies; they carry over to
other loads of the same engine, device, model and lengths (docs/simulate.md measures how well).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmroof.errors import LlmroofError
from llmroof.results.io import read_json
from llmroof.results.records.bench import BenchResult
from llmroof.simulate.steps import StepModel
from llmroof.specs.hardware import HardwareSpec, parse_hardware_entries


@dataclass(frozen=True, kw_only=True, slots=True)
class Efficiency:
    """Measured kernel time over roofline time, by phase (1: the roofline)."""

    decode: float = 1.0
    prefill: float = 1.0
    source: str = "roofline"
    queued_factor: float | None = None
    """An engine without batching: its service time while requests wait over its time alone (the
    waiting requests' HTTP and tokenization share its CPU); from a bench's concurrency-4 throughput
    against its concurrency-1 request time. None: not measured (no slowdown)."""
    open_only: bool = False
    """Measured by an open-loop bench alone: it adds ``open_alone_s`` to the others, nothing more."""
    spread: tuple[tuple[float, float], ...] = ()
    closed_alone_s: tuple[float, float] | None = None
    """Mean (TTFT, time after the first token) of the lowest-concurrency level's requests: served
    back to back, the engine never idle between them."""
    open_alone_s: tuple[float, float] | None = None
    """The same for the requests of an open-loop (``--rate``) level that found the engine idle (none
    in flight when sent): served after an idle gap."""
    """An engine without batching: every request of the calibrating level as (its TTFT, its TPOT),
    each over the level's mean; a simulated request draws its pace from these, so the service
    times vary as the engine's did (queueing grows with their variance). Empty: every request at
    the mean."""

    @property
    def wake_s(self) -> tuple[float, float]:
        """What a request that finds an engine without batching idle takes longer than one served
        back to back, (to its first token, after it), from an open-loop level beside the
        closed-loop one (0 where faster or not measured): the engine's threads, caches and clocks
        after an idle gap."""
        if self.open_alone_s is None or self.closed_alone_s is None:
            return (0.0, 0.0)
        (a, b), (c, d) = self.open_alone_s, self.closed_alone_s
        return (max(0.0, a - c), max(0.0, b - d))

    def __post_init__(self) -> None:
        factor = 1.0 if self.queued_factor is None else self.queued_factor
        if not (self.decode > 0 and self.prefill > 0 and factor > 0):
            raise ValueError("efficiencies must be positive")


MIN_SPREAD = 8
"""Fewer requests than this in the calibrating level: no spread (too few to stand for the engine's)."""


def read_source(path: str | Path) -> dict[str, Any]:
    return read_json(path, "llmroof.")


def bench_hardware(data: dict[str, Any], source: str) -> HardwareSpec | None:
    """The device a bench placed its levels on (a catalog entry or this CPU's measured ceilings)."""
    if not str(data.get("schema", "")).startswith("llmroof.bench/"):
        return None
    hardware = BenchResult.from_dict(data, source).hardware
    return parse_hardware_entries({"device": [dict(hardware)]}, source)[0] if hardware else None


def efficiency_from(data: dict[str, Any], source: str, steps: StepModel) -> Efficiency:
    """The efficiencies a results file measured (a bench or a profile)."""
    schema = str(data.get("schema", ""))
    if schema.startswith("llmroof.bench/"):
        return efficiency_from_bench(BenchResult.from_dict(data, source), source, steps)
    from llmroof.plan.calibration import read_calibration

    cal = read_calibration(source)
    return Efficiency(
        decode=cal.decode_efficiency, prefill=cal.prefill_efficiency or 1.0, source=source
    )


def efficiency_from_bench(result: BenchResult, source: str, steps: StepModel) -> Efficiency:
    measured = [
        (lv.concurrency, lv.ttft_s.mean, lv.tpot_s.mean, lv.request_throughput_per_s)
        for lv in result.levels
        if lv.concurrency is not None and lv.errors < lv.requests
    ]
    levels = [(c, ttft, tpot, rate) for c, ttft, tpot, rate in measured if ttft and tpot]
    if not levels:
        alone = open_loop_alone(result)
        if alone is not None:  # a bench of an open loop only: its lone requests, nothing else
            return Efficiency(open_alone_s=alone, source=f"{source} (open loop)", open_only=True)
        raise LlmroofError(
            f"{source}: no closed-loop level with measured TTFT and TPOT",
            "calibrate from `llmroof bench --concurrency 1`",
        )
    concurrency, ttft, tpot, _ = min(levels)
    lowest = next(lv for lv in result.levels if lv.concurrency == concurrency)
    paces = [(r.ttft_s, r.tpot_s) for r in lowest.records if r.ok]
    spread = tuple((a / ttft, b / tpot) for a, b in paces if a is not None and b is not None)
    s = result.settings
    context = s.input_len + (s.output_len + 1) // 2
    decode = steps.step_s(steps.decode_shape(1, context)) / tpot
    prefill = steps.step_s(steps.prefill_shape(s.input_len)) / ttft
    alone_s = ttft + (s.output_len - 1) * tpot
    busiest = max(levels)
    factor = 1 / (busiest[3] * alone_s) if busiest[0] > concurrency and busiest[3] > 0 else None
    return Efficiency(
        decode=decode,
        prefill=prefill,
        queued_factor=factor,
        spread=spread if len(spread) >= MIN_SPREAD else (),
        closed_alone_s=(ttft, (s.output_len - 1) * tpot),
        open_alone_s=open_loop_alone(result),
        source=f"{source} (concurrency {concurrency})",
    )


def open_loop_alone(result: BenchResult) -> tuple[float, float] | None:
    """Mean (TTFT, time after the first token) of the open-loop requests sent while none other was in
    flight (None: fewer than MIN_SPREAD of them)."""
    alone = []
    for level in result.levels:
        if level.rate is None:
            continue
        busy_until = -math.inf
        for r in sorted(level.records, key=lambda r: r.start_s):
            if r.ok and r.first_token_s is not None and r.start_s > busy_until:
                alone.append((r.first_token_s - r.start_s, r.end_s - r.first_token_s))
            busy_until = max(busy_until, r.end_s)
    if len(alone) < MIN_SPREAD:
        return None
    return (sum(a for a, _ in alone) / len(alone), sum(b for _, b in alone) / len(alone))


def mean_pair(pairs: Sequence[tuple[float, float] | None]) -> tuple[float, float] | None:
    given = [p for p in pairs if p is not None]
    if not given:
        return None
    return (sum(a for a, _ in given) / len(given), sum(b for _, b in given) / len(given))


def combined(found: Sequence[Efficiency]) -> Efficiency:
    """Several measurements as one: the efficiencies whose times are the mean of theirs (harmonic
    means), so that measurements taken before and after a load level average the engine's speed over
    it."""
    only_open = [e for e in found if e.open_only]
    found = [e for e in found if not e.open_only]
    if not found:
        raise LlmroofError(
            f"{only_open[0].source}: an open-loop bench measures only the idle cost",
            "calibrate from `llmroof bench --concurrency 1` too (another --calibrate)",
        )
    if len(found) == 1 and not only_open:
        return found[0]
    factors = [e.queued_factor for e in found if e.queued_factor is not None]

    def harmonic(values: list[float]) -> float:
        return len(values) / sum(1 / v for v in values)

    return Efficiency(
        decode=harmonic([e.decode for e in found]),
        prefill=harmonic([e.prefill for e in found]),
        queued_factor=sum(factors) / len(factors) if factors else None,
        spread=tuple(pace for e in found for pace in e.spread),
        closed_alone_s=mean_pair([e.closed_alone_s for e in found]),
        open_alone_s=mean_pair([e.open_alone_s for e in (*found, *only_open)]),
        source=" and ".join(e.source for e in (*found, *only_open)),
    )
