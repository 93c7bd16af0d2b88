"""``plan``: every layout (device, tp, pp) and number of concurrent sequences a request allows, each
predicted from the roofline, then the Pareto front, the recommendation and the verdict.

Per layout: two :func:`~llmroof.analytic.analyze` calls (batch 1 and 2) fit the decode step at any batch
(:class:`~llmroof.plan.steps.DecodeModel`) and give the prefill of one request; memory gives the most
sequences the paged KV cache holds. Then a grid of concurrent sequences (4 points per doubling, up to that
maximum), plus the largest number that meets the SLOs (found by bisection: every time grows with it) and,
for a request rate, the smallest number that needs no more replicas than that one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from llmroof.analytic.analysis import Analysis, analyze
from llmroof.analytic.sharding import shard_model
from llmroof.analytic.workload import Workload
from llmroof.errors import LlmroofError
from llmroof.plan import ranking
from llmroof.plan.records import Plan, PlanConfig
from llmroof.plan.request import PlanRequest, check_count
from llmroof.plan.serving import (
    gpu_hours_per_million_tokens,
    max_concurrent_sequences,
    replicas_for,
    round_time_s,
    ttft_s,
)
from llmroof.plan.steps import DecodeModel, ExactDecode, StageTimes
from llmroof.specs.hardware import HardwareSpec
from llmroof.specs.model import ModelSpec
from llmroof.units import gib, seconds


def plan(
    request: PlanRequest, top: int = 5, simulate: bool = True, disaggregate: bool = False
) -> Plan:
    """Plan ``request``: every configuration, the Pareto front, the ``top`` recommendations, the verdict.

    With a rate (and ``simulate``), the recommended configurations are simulated under Poisson arrivals at
    that rate; one whose simulated p90 TTFT or TPOT misses an SLO is not recommended (:func:`_simulated`).
    With ``disaggregate`` (and a rate), xPyD layouts are simulated too and the best is set beside the
    recommendation (:mod:`llmroof.plan.disaggregate`)."""
    check_count("top", top)
    configs: list[PlanConfig] = []
    excluded: list[dict[str, object]] = []
    warnings: list[str] = []
    model = request.model
    for hardware in request.hardware:
        for tp in range(1, min(hardware.gpus_per_node, request.max_gpus_per_replica) + 1):
            try:
                shard_model(model, tp)
            except LlmroofError as exc:
                excluded.append({"hardware": hardware.name, "tp": tp, "reason": exc.message})
                continue
            for pp in range(1, min(request.max_gpus_per_replica // tp, model.num_layers) + 1):
                for ep in expert_parallel_degrees(model, request.max_gpus_per_replica // (tp * pp)):
                    configs.extend(layout_configs(request, hardware, tp, pp, warnings, ep=ep))
    warnings.extend(_calibration_notes(request))
    if request.gpu_hour_cost_usd is None and len(request.hardware) > 1:
        warnings.append(
            "without --gpu-hour-cost, GPU-hours of different devices are ranked as if they cost the same"
        )
    if simulate and request.rate_qps is not None:
        configs = _simulated(configs, request, top)
    recommended = ranking.recommend(configs, request, top)
    nearest = [] if recommended else ranking.closest(configs, request, top)
    status, text = ranking.verdict(configs, recommended, nearest, request)
    split = None
    if disaggregate:
        from llmroof.plan.disaggregate import search

        best = configs[recommended[0].index] if recommended else None
        split = search(request, configs, best)
    return Plan(
        request,
        tuple(configs),
        tuple(ranking.pareto_front(configs)),
        tuple(recommended),
        tuple(nearest),
        status,
        text,
        tuple(excluded),
        tuple(dict.fromkeys(warnings)),
        split,
    )


def _simulated(
    configs: list[PlanConfig], request: PlanRequest, top: int, rounds: int = 4
) -> list[PlanConfig]:
    """The configurations, those recommended simulated at the request's rate (``llmroof.simulate``): each
    gets its simulated p90 TTFT and TPOT, and loses ``meets_slo`` when one misses its SLO; the next best
    are then simulated in turn (``rounds`` at most)."""
    from llmroof.simulate.planned import simulate_config

    configs = list(configs)
    simulated: set[int] = set()
    cache: dict = {}
    for _ in range(rounds):
        rejected = False
        for item in ranking.recommend(configs, request, top):
            if item.index in simulated:
                continue
            simulated.add(item.index)
            config = configs[item.index]
            sim = simulate_config(request, config, steps_cache=cache)
            if sim is None:
                continue
            reasons = tuple(
                f"simulated p90 {name} {seconds(value)} > {seconds(slo)} SLO"
                for name, value, slo in (
                    ("TTFT", sim.ttft_p90_s, request.ttft_slo_s),
                    ("TPOT", sim.tpot_p90_s, request.tpot_slo_s),
                )
                if slo is not None and value is not None and value > slo
            )
            configs[item.index] = dataclasses.replace(
                config,
                sim_ttft_p90_s=sim.ttft_p90_s,
                sim_tpot_p90_s=sim.tpot_p90_s,
                meets_slo=config.meets_slo and not reasons,
                rejected_reasons=config.rejected_reasons + reasons,
            )
            rejected = rejected or bool(reasons)
        if not rejected:
            break
    return configs


def expert_parallel_degrees(model: ModelSpec, most: int) -> list[int]:
    """Expert-parallel degrees to search: 1, and for a MoE model every divisor of its experts up to ``most``."""
    if not model.is_moe:
        return [1]
    num_experts, _ = model.experts
    return [ep for ep in range(1, min(most, num_experts) + 1) if num_experts % ep == 0]


def layout_configs(
    request: PlanRequest,
    hardware: HardwareSpec,
    tp: int,
    pp: int,
    warnings: list[str] | None = None,
    ep: int = 1,
) -> list[PlanConfig]:
    """The configurations of one layout: a grid of concurrent sequences, or one row saying why none fits.

    With expert parallelism the batch per stage is a multiple of ep (each rank's attention takes b/ep
    sequences): the grid and searches run over b/ep. MoE decode steps are analysed at each batch
    (:class:`~llmroof.plan.steps.ExactDecode`); dense ones by the two-point affine fit."""
    workload = Workload(
        batch=ep,
        prompt_len=request.prompt_len,
        context_len=request.decode_context_len,
        precision=request.precision,
        tp=tp,
        pp=pp,
        ep=ep,
        # flash: the serving engines' fused kernels, i.e. the minimum-traffic (fused) op set,
        # the same bound a profile's calibration fraction is measured against
        implementation="fused" if request.attention_kernel == "flash" else "eager",
        attention_kernel=request.attention_kernel,
        fused_qkv=request.fused_qkv,
        memory_reserve_fraction=request.memory_reserve_fraction,
    )
    try:
        one = analyze(request.model, hardware, workload)
    except LlmroofError:  # shapes that do not split over these experts or ranks
        return []
    if warnings is not None:
        warnings.extend(w for w in one.warnings if "does not fit" not in w)
    layout = _Layout.of(request, one)
    if layout.max_sequences < pp * ep:
        return [layout.rejected()]
    decode: DecodeModel | ExactDecode
    if request.model.is_moe:
        decode = ExactDecode.of(one)
    else:
        decode = DecodeModel.fit(
            one, analyze(request.model, hardware, dataclasses.replace(workload, batch=2))
        )
    per_batch = layout.evaluator(decode, one)

    def evaluate(units: int) -> PlanConfig:
        return per_batch(units * ep)

    largest = layout.max_sequences // pp // ep
    batches = batch_grid(largest, request.batch_points_per_doubling)
    meeting = _largest_meeting(evaluate, largest)
    if meeting is not None:
        batches.append(meeting)
        if request.rate_qps is not None:
            batches.append(_smallest_as_few_replicas(evaluate, meeting))
    return [evaluate(b) for b in sorted(set(batches))]


def batch_grid(largest: int, points_per_doubling: int) -> list[int]:
    """1, 2, 3, ... up to ``largest``: every integer below ``points_per_doubling`` * 2, then
    ``points_per_doubling`` geometric steps per doubling (4: ..., 8, 10, 11, 13, 16, 19, 23, 27, 32, ...),
    and ``largest`` itself."""
    points, k = set(), 0
    while True:
        value = round(2 ** (k / points_per_doubling))
        if value > largest:
            break
        points.add(value)
        k += 1
    points.add(largest)
    return sorted(points)


def _largest_meeting(evaluate: Callable[[int], PlanConfig], largest: int) -> int | None:
    """The largest batch per stage in [1, largest] whose configuration meets the SLOs (times grow with it)."""
    if not evaluate(1).meets_slo:
        return None
    lo, hi = 1, largest  # evaluate(lo) meets; find the last that does
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if evaluate(mid).meets_slo:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _smallest_as_few_replicas(evaluate: Callable[[int], PlanConfig], meeting: int) -> int:
    """The smallest batch per stage that serves the rate on as few replicas as ``meeting`` does: the fastest
    per user of the layout's cheapest configurations (replicas never grow with the batch)."""
    replicas = evaluate(meeting).replicas
    if replicas is None:  # the configuration does not fit: no smaller batch does
        return meeting
    lo, hi = 1, meeting  # evaluate(hi) needs no more replicas; find the first that does not
    while lo < hi:
        mid = (lo + hi) // 2
        mid_replicas = evaluate(mid).replicas
        if mid_replicas is not None and mid_replicas <= replicas:
            hi = mid
        else:
            lo = mid + 1
    return lo


@dataclasses.dataclass(frozen=True, slots=True)
class _Layout:
    """Memory of one (device, tp, pp) and what every configuration of it shares."""

    request: PlanRequest
    hardware: HardwareSpec
    tp: int
    pp: int
    weight_bytes_per_gpu: float
    usable_bytes_per_gpu: float
    kv_bytes_per_sequence: float
    """KV blocks of one sequence at its longest on the fullest stage's GPU."""
    max_sequences: int
    ep: int = 1

    @classmethod
    def of(cls, request: PlanRequest, analysis: Analysis) -> _Layout:
        usable = analysis.usable_memory_bytes
        free = [usable - w for w in analysis.stage_weight_bytes]
        blocks, block = request.kv_blocks_per_sequence, request.kv_block_tokens
        w = analysis.workload
        return cls(
            request,
            analysis.hardware,
            w.tp,
            w.pp,
            analysis.weight_bytes_per_gpu,
            usable,
            max(analysis.stage_kv_bytes_per_token) * blocks * block,
            max_concurrent_sequences(free, analysis.stage_kv_bytes_per_token, blocks, block),
            w.ep,
        )

    def _id(self, sequences: int) -> str:
        ep = f" ep{self.ep}" if self.ep > 1 else ""
        return f"{self.hardware.name} tp{self.tp} pp{self.pp}{ep} x{sequences}"

    def rejected(self) -> PlanConfig:
        if self.max_sequences == 0:
            if self.weight_bytes_per_gpu >= self.usable_bytes_per_gpu:
                reason = (
                    f"does not fit: {gib(self.weight_bytes_per_gpu)} of weights per GPU, "
                    f"{gib(self.usable_bytes_per_gpu)} usable"
                )
            else:
                reason = (
                    f"does not fit: {gib(self.usable_bytes_per_gpu - self.weight_bytes_per_gpu)} left after "
                    f"weights, one sequence's KV needs {gib(self.kv_bytes_per_sequence)}"
                )
        else:
            reason = (
                f"does not fit: KV room for {self.max_sequences} sequences, fewer than the {self.pp} "
                "pipeline stages"
            )
        return PlanConfig.unfit(
            id=self._id(0),
            hardware=self.hardware.name,
            tp=self.tp,
            pp=self.pp,
            ep=self.ep,
            max_concurrent_sequences=self.max_sequences,
            weight_bytes_per_gpu=self.weight_bytes_per_gpu,
            usable_bytes_per_gpu=self.usable_bytes_per_gpu,
            reason=reason,
        )

    def evaluator(
        self, decode: DecodeModel | ExactDecode, one: Analysis
    ) -> Callable[[int], PlanConfig]:
        """A function from the batch per stage b to the configuration of b * pp concurrent sequences."""
        request = self.request
        calibration = request.calibration.get(self.hardware.name)
        decode_efficiency = calibration.decode_efficiency if calibration else 1.0
        prefill_efficiency = (calibration.prefill_efficiency or 1.0) if calibration else 1.0
        prefill_stages = StageTimes.of(one.prefill, one.stage_layers).scaled(prefill_efficiency)
        prefill = sum(prefill_stages)
        gpus = self.tp * self.pp * self.ep
        output_len, rate = request.output_len, request.rate_qps
        ttft_slo, tpot_slo = request.ttft_slo_s, request.tpot_slo_s
        price = request.gpu_hour_cost(self.hardware.name)

        def evaluate(batch: int) -> PlanConfig:
            sequences = batch * self.pp
            stages = decode.stage_times_s(batch, decode_efficiency)
            step = sum(stages)
            ttft = ttft_s(stages, prefill_stages, sequences, output_len)
            tpot = round_time_s(stages, prefill_stages, sequences, output_len)
            tokens_per_s = sequences / tpot
            requests_per_s = tokens_per_s / output_len
            replicas = replicas_for(rate, requests_per_s)
            total = replicas * gpus
            hours = gpu_hours_per_million_tokens(total, rate * output_len if rate else tokens_per_s)
            reasons = []
            if ttft_slo is not None and ttft > ttft_slo:
                reasons.append(f"TTFT {seconds(ttft)} > {seconds(ttft_slo)} SLO")
            if tpot_slo is not None and tpot > tpot_slo:
                reasons.append(f"TPOT {seconds(tpot)} > {seconds(tpot_slo)} SLO")
            return PlanConfig(
                id=self._id(sequences),
                hardware=self.hardware.name,
                tp=self.tp,
                pp=self.pp,
                gpus_per_replica=gpus,
                concurrent_sequences=sequences,
                max_concurrent_sequences=self.max_sequences,
                weight_bytes_per_gpu=self.weight_bytes_per_gpu,
                kv_bytes_per_gpu=self.kv_bytes_per_sequence * sequences,
                usable_bytes_per_gpu=self.usable_bytes_per_gpu,
                decode_step_s=step,
                prefill_s=prefill,
                ttft_s=ttft,
                tpot_s=tpot,
                tokens_per_s_per_replica=tokens_per_s,
                tokens_per_s_per_gpu=tokens_per_s / gpus,
                tokens_per_s_per_user=1 / tpot,
                requests_per_s_per_replica=requests_per_s,
                meets_slo=not reasons,
                replicas=replicas,
                total_gpus=total,
                gpu_hours_per_million_tokens=hours,
                usd_per_million_tokens=None if price is None else hours * price,
                rejected_reasons=tuple(reasons),
                ep=self.ep,
                fits=sequences > 0,
            )

        return evaluate


def _calibration_notes(request: PlanRequest) -> list[str]:
    notes = []
    for name, cal in request.calibration.items():
        prefill = (
            "uncalibrated (the profile timed no prefill)"
            if cal.prefill_efficiency is None
            else f"{cal.prefill_efficiency:.0%}"
        )
        notes.append(
            f"{name}: calibrated by {cal.source} ({cal.device_name}): kernels at {cal.decode_efficiency:.0%} "
            f"of the roofline in decode (measured {cal.decode_range[0]:.0%}-{cal.decode_range[1]:.0%}), "
            f"{prefill} in prefill"
        )
        if cal.dtype != request.precision.activation.name:
            notes.append(
                f"{name}: the profile computed in {cal.dtype}, the plan in "
                f"{request.precision.activation.name}: its efficiencies may not carry over"
            )
    return notes
