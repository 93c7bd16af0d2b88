"""Efficiencies for a simulation from a measurement: a profile (``llmroof profile``, read by
:func:`llmroof.plan.calibration.read_calibration`) or a bench run of the engine itself.

From a bench, the level at the lowest concurrency (1: no queueing, no batching) gives both phases:
the step model's decode step (batch 1, the level's mean context) over the measured mean TPOT, and
its prefill of the prompt over the measured mean TTFT. Everything the engine adds to a step (its
scheduler, Python, the HTTP stream) is thereby folded into the two efficiencies; they carry over to
other loads of the same engine, device, model and lengths (docs/simulate.md measures how well).
"""

from __future__ import annotations

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

    def __post_init__(self) -> None:
        factor = 1.0 if self.queued_factor is None else self.queued_factor
        if not (self.decode > 0 and self.prefill > 0 and factor > 0):
            raise ValueError("efficiencies must be positive")


def read_source(path: str | Path) -> dict[str, Any]:
    return read_json(path, "llmroof.")


def bench_hardware(data: dict[str, Any], source: str) -> HardwareSpec | None:
    """The device a bench placed its levels on (a catalog entry or this CPU's measured ceilings)."""
    if not str(data.get("schema", "")).startswith("llmroof.bench/") or not data.get("hardware"):
        return None
    return parse_hardware_entries({"device": [dict(data["hardware"])]}, source)[0]


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
        raise LlmroofError(
            f"{source}: no closed-loop level with measured TTFT and TPOT",
            "calibrate from `llmroof bench --concurrency 1`",
        )
    concurrency, ttft, tpot, _ = min(levels)
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
        source=f"{source} (concurrency {concurrency})",
    )


def combined(found: Sequence[Efficiency]) -> Efficiency:
    """Several measurements as one: the efficiencies whose times are the mean of theirs (harmonic
    means), so that measurements taken before and after a load level average the engine's speed over
    it."""
    if len(found) == 1:
        return found[0]
    factors = [e.queued_factor for e in found if e.queued_factor is not None]

    def harmonic(values: list[float]) -> float:
        return len(values) / sum(1 / v for v in values)

    return Efficiency(
        decode=harmonic([e.decode for e in found]),
        prefill=harmonic([e.prefill for e in found]),
        queued_factor=sum(factors) / len(factors) if factors else None,
        source=" and ".join(e.source for e in found),
    )
