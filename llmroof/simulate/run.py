"""``simulate``: a traffic (Poisson/Gamma rates or a trace) replayed on a simulated replica or
fleet, and the figures of ``llmroof bench`` read off the simulated requests
(:class:`~llmroof.results.records.simulate. SimulateResult`); with SLOs, the largest rate meeting
them at a percentile, by bisection."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmroof.analytic.workload import Workload
from llmroof.bench.metrics import distribution
from llmroof.bench.traffic import TraceRequest, synthetic
from llmroof.results.records.bench import Distribution
from llmroof.results.records.simulate import (
    SimulatedLevel,
    SimulateResult,
    SimulateSettings,
    SimulateSplit,
    StepTimes,
)
from llmroof.simulate.calibrate import Efficiency, combined, efficiency_from
from llmroof.simulate.engine import Replica, SchedulerConfig, Seq, run_fleet, run_seqs
from llmroof.simulate.steps import StepModel, StepShape
from llmroof.specs.hardware import HardwareSpec
from llmroof.specs.model import ModelSpec

TIMELINE_POINTS = 400


@dataclass(frozen=True, kw_only=True, slots=True)
class Disaggregation:
    """xPyD: x prefill replicas and y decode replicas, each pool with its own tensor-parallel
    degree; a request's KV cache moves from its prefill replica to a decode replica over the link
    between them."""

    prefill_replicas: int = 1
    decode_replicas: int = 1
    prefill_tp: int | None = None
    """None: the simulation's tp."""
    decode_tp: int | None = None
    link_bytes_per_s: float | None = None
    """Bandwidth of each GPU's link to the other pool; None: the device's inter-node bandwidth."""
    link_latency_s: float | None = None

    def __post_init__(self) -> None:
        if self.prefill_replicas < 1 or self.decode_replicas < 1:
            raise ValueError(
                "a disaggregated layout needs at least one prefill and one decode replica"
            )

    @classmethod
    def parse(cls, text: str) -> Disaggregation:
        """``2P1D`` (case-insensitive)."""
        import re

        match = re.fullmatch(r"\s*(\d+)\s*[pP]\s*(\d+)\s*[dD]\s*", text)
        if not match:
            raise ValueError(f"--disaggregate {text!r}: expected xPyD, e.g. 2P1D")
        return cls(prefill_replicas=int(match[1]), decode_replicas=int(match[2]))


@dataclass(frozen=True, kw_only=True, slots=True)
class Simulation:
    """What to simulate: a replica (model, device, layout, scheduler), how many, and the traffic."""

    model: ModelSpec
    hardware: HardwareSpec
    workload: Workload = field(default_factory=Workload)
    """dtypes and tp/pp (batch and lengths are ignored)."""
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    """kv_blocks is replaced by what fits beside the weights unless ``kv_blocks_given``."""
    kv_blocks_given: bool = False
    efficiency: Efficiency = field(default_factory=Efficiency)
    replicas: int = 1
    router: str = "round-robin"
    prompt_tokens: int = 1024
    output_tokens: int = 256
    rates: tuple[float, ...] = ()
    requests: int = 1000
    seed: int = 0
    cv: float = 1.0
    """Burstiness of arrivals: 1 Poisson, 0 a fixed rate, above 1 Gamma-distributed gaps."""
    trace: tuple[TraceRequest, ...] = ()
    trace_name: str | None = None
    ttft_slo_s: float | None = None
    tpot_slo_s: float | None = None
    slo_percentile: float = 90.0
    draft: StepModel | None = None
    """The draft model's steps (speculative decoding); None: drafting is free."""
    keep_requests: bool = True
    disaggregation: Disaggregation | None = None
    """Prefill and decode on separate replicas (``replicas`` is then ignored)."""
    calibration: tuple[tuple[Mapping[str, Any], str], ...] = ()
    """Bench or profile results files (parsed JSON, path) to take the efficiencies from; several are
    averaged (:func:`~llmroof.simulate.calibrate.combined`)."""


def step_time_of(
    steps: StepModel, efficiency: Efficiency, draft: StepModel | None = None, draft_steps: int = 0
) -> Any:
    """The step-time function of a replica: kernels at the efficiency of the step's main phase
    (prefill when most of its tokens are prefill), plus ``draft_steps`` decode steps of the draft
    model."""
    decode_eff, prefill_eff = efficiency.decode, efficiency.prefill
    step_s = steps.step_s

    def time_s(shape: StepShape, prefill_tokens: int) -> float:
        t = step_s(shape, prefill_eff if 2 * prefill_tokens > shape.tokens else decode_eff)
        if draft is not None and draft_steps:
            decodes = shape.sequences
            t += draft_steps * draft.step_s(
                StepShape(decodes, shape.keys, shape.keys, decodes), decode_eff
            )
        return t

    return time_s


def build_replicas(sim: Simulation, steps: StepModel) -> list[Replica]:
    """``replicas`` engines; a replica of pp stages runs as pp virtual engines (one micro-batch
    each, as vLLM's pipeline-parallel engines do), each with its share of the sequences and KV
    blocks."""
    scheduler = sim.scheduler
    pp = sim.workload.pp
    if not sim.kv_blocks_given:
        blocks = steps.kv_capacity_tokens // scheduler.block_tokens
        if blocks < 1:
            raise ValueError("no room for the KV cache beside the weights")
        scheduler = _replace(scheduler, kv_blocks=blocks)
    if pp > 1:
        scheduler = _replace(
            scheduler,
            kv_blocks=max(1, scheduler.kv_blocks // pp),
            max_num_seqs=max(1, scheduler.max_num_seqs // pp),
        )
    step_time = step_time_of(steps, sim.efficiency, sim.draft, scheduler.speculative_k)
    # the slowdown with a queue is an engine without batching's (its waiting requests share its CPU)
    measured = sim.efficiency.queued_factor
    alone = scheduler.max_num_seqs == 1
    factor = measured if measured is not None and alone else 1.0
    spread = sim.efficiency.spread if alone else ()
    wake = sim.efficiency.wake_s if alone else (0.0, 0.0)
    return [
        Replica(
            scheduler,
            step_time,
            queued_factor=factor,
            spread=spread,
            seed=sim.seed + number,
            wake_s=wake,
        )
        for number in range(sim.replicas * pp)
    ]


def _replace(config: SchedulerConfig, **changes: Any) -> SchedulerConfig:
    import dataclasses

    return dataclasses.replace(config, **changes)


def run_level(
    sim: Simulation, steps: StepModel, requests: Sequence[TraceRequest], rate: float | None
) -> SimulatedLevel:
    if sim.disaggregation is not None:
        return run_disaggregated(sim, requests, rate)
    replicas = build_replicas(sim, steps)
    horizon = requests[-1].arrival_s if requests else 0.0
    replicas[0].sample_every_s = max(horizon, 1e-9) / TIMELINE_POINTS
    run_fleet(requests, replicas, sim.router if len(replicas) > 1 else "round-robin")
    return summarize(
        replicas,
        rate=rate,
        trace=None if rate is not None else sim.trace_name,
        ttft_slo_s=sim.ttft_slo_s,
        tpot_slo_s=sim.tpot_slo_s,
        keep_requests=sim.keep_requests,
    )


def run_disaggregated(
    sim: Simulation, requests: Sequence[TraceRequest], rate: float | None
) -> SimulatedLevel:
    """Prefill replicas produce each request's first token; its KV cache (prompt x KV bytes per
    token, each tensor-parallel rank sending its shard at once) then crosses the link; a decode
    replica decodes the rest. The prefill pool does not wait on the decode pool (no back-pressure),
    so the two run one after the other."""
    import dataclasses

    d = sim.disaggregation
    assert d is not None
    w = sim.workload
    prefill_steps = StepModel.of(
        sim.model, sim.hardware, dataclasses.replace(w, tp=d.prefill_tp or w.tp)
    )
    decode_steps = StepModel.of(
        sim.model, sim.hardware, dataclasses.replace(w, tp=d.decode_tp or w.tp)
    )
    prefill_sim = dataclasses.replace(sim, replicas=d.prefill_replicas, disaggregation=None)
    decode_sim = dataclasses.replace(sim, replicas=d.decode_replicas, disaggregation=None)
    prefill_pool = build_replicas(prefill_sim, prefill_steps)
    run_fleet([r._replace(output_tokens=1) for r in requests], prefill_pool, sim.router)
    bandwidth = d.link_bytes_per_s or sim.hardware.internode_bandwidth_bytes_per_s
    latency = sim.hardware.internode_latency_s if d.link_latency_s is None else d.link_latency_s
    kv_per_token = (
        prefill_steps.kv_bytes_per_token
    )  # per GPU: every rank sends its own shard at once
    seqs, done_at_prefill = [], []
    for prefilled in (s for replica in prefill_pool for s in replica.finished):
        request = requests[prefilled.index]
        seq = Seq(prefilled.index, request)
        seq.first_s = seq.last_s = prefilled.first_s
        seq.cached = prefilled.cached
        if request.output_tokens <= 1:
            seq.end_s = prefilled.end_s
            done_at_prefill.append(seq)
            continue
        seq.ready_s = prefilled.first_s + latency + request.prompt_tokens * kv_per_token / bandwidth
        seq.transferred = True
        seqs.append(seq)
    seqs.sort(key=lambda q: q.ready_s)
    decode_pool = build_replicas(decode_sim, decode_steps)
    decode_pool[0].sample_every_s = (
        max(requests[-1].arrival_s if requests else 0.0, 1e-9) / TIMELINE_POINTS
    )
    run_seqs(seqs, decode_pool, sim.router)
    decode_pool[0].finished.extend(done_at_prefill)
    return summarize(
        [*decode_pool, *prefill_pool],
        rate=rate,
        trace=None if rate is not None else sim.trace_name,
        ttft_slo_s=sim.ttft_slo_s,
        tpot_slo_s=sim.tpot_slo_s,
        keep_requests=sim.keep_requests,
        finished_in=decode_pool,
    )


def weighted_distribution(values: Sequence[float], weights: Sequence[int]) -> Distribution:
    """:func:`~llmroof.bench.metrics.distribution` of the samples ``values[i]`` repeated
    ``weights[i]`` times, without repeating them (the same linearly interpolated quantiles, numpy's
    default)."""
    import numpy as np

    value = np.asarray(values, dtype=float)
    weight = np.asarray(weights, dtype=np.int64)
    keep = weight > 0
    value, weight = value[keep], weight[keep]
    if not len(value):
        return Distribution.empty()
    order = np.argsort(value, kind="stable")
    value, ends = (
        value[order],
        np.cumsum(weight[order]),
    )  # sample positions [ends[i-1], ends[i]) hold value[i]
    total = int(ends[-1])

    def q(fraction: float) -> float:
        position = fraction * (total - 1)
        lower = math.floor(position)
        upper = min(lower + 1, total - 1)
        at = np.searchsorted(ends, [lower, upper], side="right")
        weight_upper = position - lower
        return float(value[at[0]] * (1 - weight_upper) + value[at[1]] * weight_upper)

    mean = float(np.dot(value, ends - np.concatenate(([0], ends[:-1]))) / total)
    return Distribution(mean=mean, p50=q(0.5), p90=q(0.9), p95=q(0.95), p99=q(0.99), n=total)


def summarize(
    replicas: Sequence[Replica],
    *,
    rate: float | None,
    trace: str | None,
    ttft_slo_s: float | None,
    tpot_slo_s: float | None,
    keep_requests: bool = True,
    finished_in: Sequence[Replica] | None = None,
) -> SimulatedLevel:
    """The figures of ``llmroof bench`` (:mod:`llmroof.bench.metrics`) over the finished requests of
    every replica (or of ``finished_in``: the decode pool of a disaggregated layout)."""
    done: list[Seq] = sorted(
        (s for r in (finished_in or replicas) for s in r.finished), key=lambda s: s.index
    )
    ttft = [s.first_s - s.arrival_s for s in done]
    tpot = [(s.end_s - s.first_s) / (s.output - 1) for s in done if s.output >= 2]
    e2e = [s.end_s - s.arrival_s for s in done]
    start = min((s.arrival_s for s in done), default=0.0)
    duration = max((s.end_s for s in done), default=0.0) - start
    per_s = (lambda n: n / duration) if duration > 0 else (lambda n: 0.0)
    slo = ttft_slo_s is not None or tpot_slo_s is not None
    good = sum(1 for s in done if _good(s, ttft_slo_s, tpot_slo_s)) if slo else 0
    # time in the system summed over requests: the integral of the number in it (a disaggregated
    # request also spends time between the pools, which neither pool counts)
    area = sum(r.area for r in replicas) if finished_in is None else math.fsum(e2e)
    itl = [x for r in replicas for x in r.itl_s]
    weights = [w for r in replicas for w in r.itl_weight]
    return SimulatedLevel(
        rate=rate,
        trace=trace,
        requests=len(done),
        duration_s=duration,
        request_throughput_per_s=per_s(len(done)),
        output_tokens_per_s=per_s(sum(s.output for s in done)),
        goodput_per_s=per_s(good) if slo else None,
        ttft_s=distribution(ttft),
        tpot_s=distribution(tpot),
        itl_s=weighted_distribution(itl, weights),
        e2e_s=distribution(e2e),
        mean_in_system=area / duration if duration > 0 else 0.0,
        steps=sum(r.steps for r in replicas),
        max_step_tokens=max(r.max_step_tokens for r in replicas),
        max_step_seqs=max(r.max_step_seqs for r in replicas),
        preemptions=sum(r.preemptions for r in replicas),
        prefix_hit_tokens=sum(r.prefix_hit_tokens for r in replicas),
        timeline=tuple((finished_in or replicas)[0].timeline),
        records=tuple(
            (s.index, s.arrival_s, s.first_s, s.end_s, s.prompt, s.output, s.cached, s.preemptions)
            for s in done
        )
        if keep_requests
        else (),
    )


def _good(seq: Seq, ttft_slo_s: float | None, tpot_slo_s: float | None) -> bool:
    """As :func:`llmroof.bench.metrics.is_good`: every SLO given met; one output token has TPOT
    0."""
    if ttft_slo_s is not None and seq.first_s - seq.arrival_s > ttft_slo_s:
        return False
    tpot = (seq.end_s - seq.first_s) / (seq.output - 1) if seq.output >= 2 else 0.0
    return tpot_slo_s is None or tpot <= tpot_slo_s


def meets_slo(level: SimulatedLevel, sim: Simulation) -> bool:
    """The level's ``slo_percentile`` TTFT and TPOT within the SLOs."""
    q = sim.slo_percentile / 100
    for values, slo in ((level.ttft_s, sim.ttft_slo_s), (level.tpot_s, sim.tpot_slo_s)):
        if slo is None:
            continue
        value = _percentile(values, q)
        if value is None or value > slo:
            return False
    return True


def _percentile(dist: Distribution, q: float) -> float | None:
    named = {0.5: dist.p50, 0.9: dist.p90, 0.95: dist.p95, 0.99: dist.p99}
    return named.get(round(q, 6), dist.p90 if q <= 0.9 else dist.p99)


def max_rate_meeting_slo(sim: Simulation, steps: StepModel, iterations: int = 12) -> float | None:
    """The largest Poisson rate (same seed, ``sim.requests`` requests) whose percentile latencies
    meet the SLOs, by bisection between a rate that meets them and one that does not; None when even
    a tenth of the replica's unloaded capacity misses them."""

    def ok(rate: float) -> bool:
        requests = synthetic(
            rate, sim.requests, sim.prompt_tokens, sim.output_tokens, sim.seed, sim.cv
        )
        return meets_slo(run_level(_quiet(sim), steps, requests, rate), sim)

    service = unloaded_request_s(sim, steps)
    low = 0.1 / service * sim.replicas
    if not ok(low):
        return None
    high = low * 2
    while ok(high):
        low, high = high, high * 2
        if high > 1e9:
            return high
    for _ in range(iterations):
        mid = (low + high) / 2
        low, high = (mid, high) if ok(mid) else (low, mid)
    return low


def _quiet(sim: Simulation) -> Simulation:
    import dataclasses

    return dataclasses.replace(sim, keep_requests=False)


def unloaded_request_s(sim: Simulation, steps: StepModel) -> float:
    """One request alone on the replica: its prefill and its decode steps."""
    eff = sim.efficiency
    prefill = steps.step_s(steps.prefill_shape(sim.prompt_tokens), eff.prefill)
    context = sim.prompt_tokens + (sim.output_tokens + 1) // 2
    return prefill + (sim.output_tokens - 1) * steps.step_s(
        steps.decode_shape(1, context), eff.decode
    )


def simulate(sim: Simulation) -> SimulateResult:
    """Every rate of ``sim`` (or its trace), and the largest rate meeting the SLOs when there are
    SLOs."""
    import dataclasses

    steps = StepModel.of(sim.model, sim.hardware, sim.workload)
    if sim.calibration:
        found = [efficiency_from(dict(data), source, steps) for data, source in sim.calibration]
        sim = dataclasses.replace(sim, efficiency=combined(found))
    levels = []
    if sim.trace:
        levels.append(run_level(sim, steps, sim.trace, None))
    for position, rate in enumerate(sim.rates):
        # level i arrives at seed + i, as `llmroof bench --rate` sends its levels: the same traffic
        requests = synthetic(
            rate, sim.requests, sim.prompt_tokens, sim.output_tokens, sim.seed + position, sim.cv
        )
        levels.append(run_level(sim, steps, requests, rate))
    slo = sim.ttft_slo_s is not None or sim.tpot_slo_s is not None
    best = max_rate_meeting_slo(sim, steps) if slo else None
    context = sim.prompt_tokens + (sim.output_tokens + 1) // 2
    eff = sim.efficiency
    step_model = StepTimes(
        decode_step_s=steps.step_s(steps.decode_shape(1, context), eff.decode),
        prefill_s=steps.step_s(steps.prefill_shape(sim.prompt_tokens), eff.prefill),
        unloaded_request_s=unloaded_request_s(sim, steps),
        decode_efficiency=eff.decode,
        prefill_efficiency=eff.prefill,
        efficiency_source=eff.source,
        queued_factor=eff.queued_factor,
        service_spread_requests=len(eff.spread) if sim.scheduler.max_num_seqs == 1 else 0,
        wake_s=tuple(eff.wake_s) if sim.scheduler.max_num_seqs == 1 else (0.0, 0.0),
        kv_capacity_tokens=steps.kv_capacity_tokens,
    )
    notes = []
    if any(level.preemptions for level in levels):
        notes.append("KV blocks ran out: sequences were preempted and recomputed")
    return SimulateResult(
        settings=settings_of(sim),
        step_model=step_model,
        levels=tuple(levels),
        max_rate_meeting_slo=best,
        slo_percentile=sim.slo_percentile if slo else None,
        notes=tuple(notes),
    )


def settings_of(sim: Simulation) -> SimulateSettings:
    s, w = sim.scheduler, sim.workload
    return SimulateSettings(
        model=sim.model.name,
        hardware=sim.hardware.name,
        tp=w.tp,
        pp=w.pp,
        dtype=w.precision.activation.name,
        replicas=sim.replicas,
        router=sim.router,
        prompt_tokens=sim.prompt_tokens,
        output_tokens=sim.output_tokens,
        requests=sim.requests,
        seed=sim.seed,
        cv=sim.cv,
        trace=sim.trace_name,
        max_num_seqs=s.max_num_seqs,
        max_num_batched_tokens=s.max_num_batched_tokens,
        chunked_prefill=s.chunked_prefill,
        block_tokens=s.block_tokens,
        kv_blocks=s.kv_blocks if sim.kv_blocks_given else None,
        speculative_k=s.speculative_k,
        acceptance_rate=s.acceptance_rate,
        prefix_hit_rate=s.prefix_hit_rate,
        ttft_slo_s=sim.ttft_slo_s,
        tpot_slo_s=sim.tpot_slo_s,
        disaggregation=None
        if sim.disaggregation is None
        else SimulateSplit(
            prefill_replicas=sim.disaggregation.prefill_replicas,
            decode_replicas=sim.disaggregation.decode_replicas,
            prefill_tp=sim.disaggregation.prefill_tp or w.tp,
            decode_tp=sim.disaggregation.decode_tp or w.tp,
        ),
    )


__all__ = [
    "Disaggregation",
    "Efficiency",
    "Simulation",
    "max_rate_meeting_slo",
    "run_level",
    "simulate",
    "summarize",
    "weighted_distribution",
]
