"""A plan's configuration under Poisson traffic (``plan --rate R``): its replicas, each running the
configured number of concurrent sequences with chunked prefill, fed round robin at the requested
rate; the simulated p90 TTFT and TPOT set beside the steady-state figures of
:mod:`llmroof.plan.serving`."""

from __future__ import annotations

from dataclasses import dataclass

from llmroof.analytic.workload import Workload
from llmroof.bench.traffic import synthetic
from llmroof.plan.records import PlanConfig
from llmroof.plan.request import PlanRequest
from llmroof.results.records.simulate import SimulatedLevel
from llmroof.simulate.calibrate import Efficiency
from llmroof.simulate.engine import SchedulerConfig
from llmroof.simulate.run import Simulation, run_level
from llmroof.simulate.steps import StepModel

REQUESTS_PER_REPLICA = 300
MAX_REQUESTS = 3000
BATCHED_TOKENS = 8192
"""vLLM V1's default token budget for online serving."""


@dataclass(frozen=True, slots=True)
class PlannedSimulation:
    """A configuration's simulated percentiles at the plan's rate."""

    ttft_p90_s: float | None
    tpot_p90_s: float | None
    level: SimulatedLevel


def simulate_config(
    request: PlanRequest,
    config: PlanConfig,
    seed: int = 0,
    steps_cache: dict[tuple[str, int, int], StepModel] | None = None,
) -> PlannedSimulation | None:
    """``config`` at ``request.rate_qps``; None where the simulator has no model of it (expert
    parallelism, no rate, a layout that does not fit)."""
    if request.rate_qps is None or not config.fits or config.ep != 1 or not config.replicas:
        return None
    hardware = next(hw for hw in request.hardware if hw.name == config.hardware)
    key = (config.hardware, config.tp, config.pp)
    cache = steps_cache if steps_cache is not None else {}
    if key not in cache:
        workload = Workload(
            precision=request.precision,
            tp=config.tp,
            pp=config.pp,
            implementation="fused" if request.attention_kernel == "flash" else "eager",
            attention_kernel="flash" if request.attention_kernel == "flash" else "eager",
            fused_qkv=request.fused_qkv,
            memory_reserve_fraction=request.memory_reserve_fraction,
        )
        cache[key] = StepModel.of(request.model, hardware, workload)
    steps = cache[key]
    calibration = request.calibration.get(hardware.name)
    efficiency = (
        Efficiency(
            decode=calibration.decode_efficiency,
            prefill=calibration.prefill_efficiency or 1.0,
            source=calibration.source,
        )
        if calibration
        else Efficiency()
    )
    sequences = config.concurrent_sequences
    scheduler = SchedulerConfig(
        max_num_seqs=sequences,
        max_num_batched_tokens=max(BATCHED_TOKENS, sequences),
        block_tokens=request.kv_block_tokens,
        kv_blocks=max(1, steps.kv_capacity_tokens // request.kv_block_tokens),
    )
    n = min(MAX_REQUESTS, REQUESTS_PER_REPLICA * config.replicas)
    sim = Simulation(
        model=request.model,
        hardware=hardware,
        workload=steps.analysis.workload,
        scheduler=scheduler,
        kv_blocks_given=True,
        efficiency=efficiency,
        replicas=config.replicas,
        prompt_tokens=request.prompt_len,
        output_tokens=request.output_len,
        requests=n,
        seed=seed,
        keep_requests=False,
    )
    traffic = synthetic(request.rate_qps, n, request.prompt_len, request.output_len, seed)
    level = run_level(sim, steps, traffic, request.rate_qps)
    return PlannedSimulation(level.ttft_s.p90, level.tpot_s.p90, level)


DISAGGREGATED_REQUESTS = 1000
"""Requests per simulated disaggregated layout (``plan --disaggregate``): enough for a p90, few
enough that a plan tries a couple of dozen layouts in seconds."""


def simulate_disaggregated(
    request: PlanRequest,
    hardware_name: str,
    *,
    tp: int,
    prefill_replicas: int,
    decode_replicas: int,
    max_num_seqs: int,
    requests: int = DISAGGREGATED_REQUESTS,
    seed: int = 0,
) -> PlannedSimulation:
    """xPyD at ``request.rate_qps``: ``prefill_replicas`` and ``decode_replicas`` of tp ranks each,
    the KV cache sent over the inter-node link, exactly as ``llmroof simulate --disaggregate xPyD
    --prefill-tp tp --decode-tp tp --max-num-seqs max_num_seqs`` with the same rate, requests and
    seed (each pool's KV pool is what fits beside its weights)."""
    from llmroof.simulate.run import Disaggregation, run_disaggregated

    assert request.rate_qps is not None
    hardware = next(hw for hw in request.hardware if hw.name == hardware_name)
    calibration = request.calibration.get(hardware.name)
    efficiency = (
        Efficiency(
            decode=calibration.decode_efficiency,
            prefill=calibration.prefill_efficiency or 1.0,
            source=calibration.source,
        )
        if calibration
        else Efficiency()
    )
    workload = Workload(
        precision=request.precision,
        tp=tp,
        implementation="fused" if request.attention_kernel == "flash" else "eager",
        attention_kernel="flash" if request.attention_kernel == "flash" else "eager",
        fused_qkv=request.fused_qkv,
        memory_reserve_fraction=request.memory_reserve_fraction,
    )
    sim = Simulation(
        model=request.model,
        hardware=hardware,
        workload=workload,
        scheduler=SchedulerConfig(
            max_num_seqs=max_num_seqs,
            max_num_batched_tokens=max(BATCHED_TOKENS, max_num_seqs),
            block_tokens=request.kv_block_tokens,
        ),
        efficiency=efficiency,
        prompt_tokens=request.prompt_len,
        output_tokens=request.output_len,
        requests=requests,
        seed=seed,
        keep_requests=False,
        disaggregation=Disaggregation(
            prefill_replicas=prefill_replicas,
            decode_replicas=decode_replicas,
            prefill_tp=tp,
            decode_tp=tp,
        ),
    )
    traffic = synthetic(request.rate_qps, requests, request.prompt_len, request.output_len, seed)
    level = run_disaggregated(sim, traffic, request.rate_qps)
    return PlannedSimulation(level.ttft_s.p90, level.tpot_s.p90, level)
