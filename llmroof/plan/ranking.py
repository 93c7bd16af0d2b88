"""The Pareto front, the ranked recommendation with the reason each place is earned, and, when nothing
meets the SLOs, the configurations closest to meeting them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from llmroof.plan.records import PlanConfig, Ranked
from llmroof.plan.request import PlanRequest
from llmroof.units import gib, seconds


def _known(value: float | None) -> float:
    """A figure of a configuration that fits (only one that does not fit leaves its figures None)."""
    if value is None:
        raise ValueError("a figure of a configuration that does not fit")
    return value


def pareto_front(configs: Sequence[PlanConfig]) -> list[int]:
    """Indices of the configurations no other configuration on the same device beats on both tokens/s per
    GPU and tokens/s per user; by device, then from the fastest per user to the most per GPU.

    Devices are kept apart: a GPU of one kind is not worth a GPU of another.
    """
    front: list[int] = []
    by_device: dict[str, list[int]] = {}
    for index, config in enumerate(configs):
        if config.fits:
            by_device.setdefault(config.hardware, []).append(index)
    for indices in by_device.values():
        # Fastest per user first (ties: most per GPU first); keep each that beats every faster one per GPU.
        indices.sort(
            key=lambda i: (
                -_known(configs[i].tokens_per_s_per_user),
                -_known(configs[i].tokens_per_s_per_gpu),
            )
        )
        best_per_gpu = float("-inf")
        for i in indices:
            if _known(configs[i].tokens_per_s_per_gpu) > best_per_gpu:
                front.append(i)
                best_per_gpu = _known(configs[i].tokens_per_s_per_gpu)
    return front


def _metric(request: PlanRequest) -> tuple[Callable[[PlanConfig], float], Callable[[float], str]]:
    """What the recommendation minimises: dollars per million output tokens when prices are given, else
    GPU-hours per million output tokens (both at the requested rate when one is given)."""
    if request.gpu_hour_cost_usd is not None:
        return (lambda c: _known(c.usd_per_million_tokens)), (
            lambda v: f"${v:.3g} per million output tokens"
        )
    return (lambda c: _known(c.gpu_hours_per_million_tokens)), (
        lambda v: f"{v:.3g} GPU-hours per million output tokens"
    )


def _best_per_layout(
    configs: Sequence[PlanConfig], indices: list[int], key: Callable[[int], Any]
) -> list[int]:
    """The best index of each (device, tp, pp) under ``key``, sorted by ``key``."""
    best: dict[tuple[str, int, int] | tuple[str, int, int, int], int] = {}
    for i in indices:
        layout = configs[i].layout
        if layout not in best or key(i) < key(best[layout]):
            best[layout] = i
    return sorted(best.values(), key=key)


def recommend(configs: Sequence[PlanConfig], request: PlanRequest, top: int) -> list[Ranked]:
    """The best configuration of each layout that meets the SLOs, cheapest first, ``top`` of them.

    Order: cost per million output tokens (dollars, else GPU-hours); then faster per user; then fewer GPUs.
    """
    cost, describe = _metric(request)
    meeting = [i for i, c in enumerate(configs) if c.meets_slo]

    def key(i: int) -> tuple[float, float, int, int]:
        c = configs[i]
        return (
            cost(c),
            -_known(c.tokens_per_s_per_user),
            int(_known(c.total_gpus)),
            c.gpus_per_replica,
        )

    ranked = _best_per_layout(configs, meeting, key)[:top]
    if not ranked:
        return []
    first = configs[ranked[0]]
    result = [
        Ranked(
            1, ranked[0], _why_first(first, configs, ranked, len(meeting), request, cost, describe)
        )
    ]
    for rank, i in enumerate(ranked[1:], start=2):
        result.append(Ranked(rank, i, _why_not_first(configs[i], first, cost, describe)))
    return result


def _slo_text(config: PlanConfig, request: PlanRequest) -> str:
    parts = []
    if request.ttft_slo_s is not None:
        parts.append(f"TTFT {seconds(config.ttft_s)} <= {seconds(request.ttft_slo_s)}")
    if request.tpot_slo_s is not None:
        parts.append(f"TPOT {seconds(config.tpot_s)} <= {seconds(request.tpot_slo_s)}")
    return "meets " + " and ".join(parts) if parts else "no SLO asked"


def _why_first(
    first: PlanConfig,
    configs: Sequence[PlanConfig],
    ranked: list[int],
    meeting: int,
    request: PlanRequest,
    cost: Callable[[PlanConfig], float],
    describe: Callable[[float], str],
) -> str:
    which = (
        "meet the SLOs"
        if request.ttft_slo_s is not None or request.tpot_slo_s is not None
        else "fit"
    )
    text = (
        f"cheapest of the {meeting} configurations that {which}: {describe(cost(first))}; "
        f"{_slo_text(first, request)}"
    )
    if request.rate_qps is not None:
        text += f"; {first.replicas} x {first.gpus_per_replica} = {first.total_gpus} GPUs for {request.rate_qps:g} QPS"
    if len(ranked) > 1:
        second = configs[ranked[1]]
        text += f"; runner-up {second.id}: {_compare(second, first, cost)}"
    return text


def _why_not_first(
    config: PlanConfig,
    first: PlanConfig,
    cost: Callable[[PlanConfig], float],
    describe: Callable[[float], str],
) -> str:
    return f"{describe(cost(config))}; against #1: {_compare(config, first, cost)}"


def _compare(config: PlanConfig, first: PlanConfig, cost: Callable[[PlanConfig], float]) -> str:
    """How ``config`` ranks below ``first``: costlier, else slower per user, else more GPUs."""
    mine, theirs = cost(config), cost(first)
    if mine > theirs * (1 + 1e-9):
        return f"{(mine / theirs - 1) * 100:.0f}% more per token" if theirs > 0 else "costs more"
    per_user, first_per_user = (
        _known(config.tokens_per_s_per_user),
        _known(first.tokens_per_s_per_user),
    )
    if per_user < first_per_user:
        return f"same cost, {per_user:.3g} vs {first_per_user:.3g} tokens/s per user"
    return f"same cost and speed per user, {config.total_gpus} vs {first.total_gpus} GPUs"


def miss_factor(config: PlanConfig, request: PlanRequest) -> float:
    """How many times too slow the configuration is for its worst-missed SLO (<= 1: meets them)."""
    factors = [1.0]
    if request.ttft_slo_s is not None:
        factors.append(_known(config.ttft_s) / request.ttft_slo_s)
    if request.tpot_slo_s is not None:
        factors.append(_known(config.tpot_s) / request.tpot_slo_s)
    return max(factors)


def closest(configs: Sequence[PlanConfig], request: PlanRequest, top: int) -> list[Ranked]:
    """When nothing meets the SLOs: the best configuration of each layout by how far it misses them (then by
    cost); when nothing fits, the layouts that come nearest to fitting."""
    cost, _ = _metric(request)
    fitting = [i for i, c in enumerate(configs) if c.fits]
    if fitting:

        def key(i: int) -> tuple[float, float]:
            return miss_factor(configs[i], request), cost(configs[i])

        ranked = _best_per_layout(configs, fitting, key)[:top]
        return [
            Ranked(rank, i, _miss_text(configs[i], request))
            for rank, i in enumerate(ranked, start=1)
        ]

    def room(i: int) -> tuple[float, int]:
        c = configs[i]
        return c.weight_bytes_per_gpu / c.usable_bytes_per_gpu, c.gpus_per_replica

    ranked = sorted(range(len(configs)), key=room)[:top]
    return [
        Ranked(rank, i, "; ".join(configs[i].rejected_reasons))
        for rank, i in enumerate(ranked, start=1)
    ]


def _miss_text(config: PlanConfig, request: PlanRequest) -> str:
    misses = []
    ttft_s, tpot_s = _known(config.ttft_s), _known(config.tpot_s)
    if request.ttft_slo_s is not None and ttft_s > request.ttft_slo_s:
        misses.append(
            f"TTFT {seconds(ttft_s)} against {seconds(request.ttft_slo_s)} "
            f"({ttft_s / request.ttft_slo_s:.2f}x)"
        )
    if request.tpot_slo_s is not None and tpot_s > request.tpot_slo_s:
        misses.append(
            f"TPOT {seconds(tpot_s)} against {seconds(request.tpot_slo_s)} "
            f"({tpot_s / request.tpot_slo_s:.2f}x)"
        )
    return "misses " + " and ".join(misses)


def verdict(
    configs: Sequence[PlanConfig],
    recommended: list[Ranked],
    nearest: list[Ranked],
    request: PlanRequest,
) -> tuple[str, str]:
    """(status, one-paragraph verdict)."""
    if recommended:
        best = configs[recommended[0].index]
        total_gpus = int(_known(best.total_gpus))
        gpus = f"{total_gpus} GPU{'s' if total_gpus > 1 else ''} in all"
        return "ok", f"Recommended: {best.id} ({gpus}), the {recommended[0].reason}."
    slos = []
    if request.ttft_slo_s is not None:
        slos.append(f"TTFT <= {seconds(request.ttft_slo_s)}")
    if request.tpot_slo_s is not None:
        slos.append(f"TPOT <= {seconds(request.tpot_slo_s)}")
    if any(c.fits for c in configs):
        near = configs[nearest[0].index]
        return "no_config_meets_slo", (
            f"No configuration meets {' and '.join(slos)}. The closest, {near.id}, {nearest[0].reason}: relax the "
            f"SLOs, or use faster devices or a smaller dtype."
        )
    smallest = configs[nearest[0].index] if nearest else None
    devices = ", ".join(hw.name for hw in request.hardware)
    detail = (
        ""
        if smallest is None
        else (
            f" The nearest, {smallest.hardware} tp{smallest.tp} pp{smallest.pp}, holds "
            f"{gib(smallest.weight_bytes_per_gpu)} of weights per GPU of {gib(smallest.usable_bytes_per_gpu)} usable."
        )
    )
    return "does_not_fit", (
        f"{request.model.name} does not fit on up to {request.max_gpus_per_replica} GPUs per replica of {devices} "
        f"with {request.prompt_len + request.output_len} tokens per sequence.{detail} Allow more GPUs per "
        f"replica (--max-gpus), or use a smaller weight or KV dtype."
    )
