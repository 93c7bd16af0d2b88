"""A simulation beside a measurement of the same traffic: each rate level of a ``llmroof bench``
result, its p50/p90/p99 TTFT, TPOT, ITL and E2E and its throughput, predicted against measured
(``simulate --against``)."""

from __future__ import annotations

from dataclasses import dataclass

from llmroof.results.records.bench import BenchResult
from llmroof.results.records.simulate import AgainstRow, SimulateResult

METRICS = ("ttft_s", "tpot_s", "itl_s", "e2e_s")
STATS = ("p50", "p90", "p99")


@dataclass(frozen=True, kw_only=True)
class BenchTraffic:
    """What a simulation needs to replay a bench's open-loop levels."""

    rates: tuple[float, ...]
    requests: int
    """Requests per level."""
    seed: int
    prompt_tokens: int
    output_tokens: int


def bench_traffic(bench: BenchResult) -> BenchTraffic:
    """What a simulation needs to replay a bench's open-loop levels: their rates, requests, seed,
    lengths."""
    s = bench.settings
    return BenchTraffic(
        rates=tuple(level.rate for level in bench.levels if level.rate is not None),
        requests=s.requests or max((lv.requests for lv in bench.levels), default=1),
        seed=s.seed,
        prompt_tokens=s.input_len,
        output_tokens=s.output_len,
    )


def against(result: SimulateResult, bench: BenchResult, source: str) -> list[AgainstRow]:
    """One row per (level, metric, statistic): predicted, measured and predicted / measured - 1, for
    every level of ``result`` whose rate a bench level has."""
    measured = {level.rate: level for level in bench.levels if level.rate is not None}
    rows = []
    for level in result.levels:
        rate = level.rate
        real = measured.get(rate) if rate is not None else None
        if rate is None or real is None:
            continue
        pairs = [
            (f"{m}.{s}", getattr(getattr(level, m), s), getattr(getattr(real, m), s))
            for m in METRICS
            for s in STATS
        ]
        pairs.append(
            (
                "request_throughput_per_s",
                level.request_throughput_per_s,
                real.request_throughput_per_s,
            )
        )
        for name, predicted, value in pairs:
            error = predicted / value - 1 if predicted is not None and value else None
            rows.append(
                AgainstRow(
                    rate=rate,
                    metric=name,
                    predicted=predicted,
                    measured=value,
                    error=error,
                    source=source,
                )
            )
    return rows
