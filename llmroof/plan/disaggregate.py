"""``plan --rate R --disaggregate``: prefill and decode on separate replicas (xPyD), searched beside
the aggregated configurations.

Per device, the (at most :data:`TPS`) smallest tensor-parallel degrees whose aggregated layout (pp 1)
fits; per degree the P:D splits of :data:`SPLITS`. Each replica runs the layout's largest batch whose
decode step meets the TPOT SLO; the number of xPyD units is sized to the rate (prefill at one prompt
per ``prefill_s``, decode at that batch per ``decode_step_s`` · O, both at most :data:`LOAD` busy),
then simulated (:func:`~llmroof.simulate.planned.simulate_disaggregated`, seeded Poisson at R, as
``plan --rate`` simulates aggregated configurations); a split whose sized units meet the simulated
p90 SLOs is tried with one unit fewer, one that misses with one more. At most
:data:`MAX_SIMULATIONS` simulations in all; the cheapest layout that meets the SLOs is chosen.
"""

from __future__ import annotations

import math

from llmroof.plan.records import DisaggregatedLayout, DisaggregatedSearch, PlanConfig
from llmroof.plan.request import PlanRequest
from llmroof.plan.serving import gpu_hours_per_million_tokens
from llmroof.units import seconds

SPLITS = ((1, 1), (1, 2), (1, 3), (2, 1), (3, 1))
"""Prefill:decode replicas of one unit."""
TPS = 2
"""Tensor-parallel degrees tried per device."""
LOAD = 0.8
"""Busiest share of a pool's steady-state capacity when sizing the units."""
MAX_SIMULATIONS = 48


def search(
    request: PlanRequest, configs: list[PlanConfig], best: PlanConfig | None, seed: int = 0
) -> DisaggregatedSearch:
    """The xPyD layouts tried and the best meeting the SLOs, compared with ``best`` (the aggregated
    recommendation)."""
    from llmroof.simulate.planned import simulate_disaggregated

    rate = request.rate_qps
    if rate is None:
        return DisaggregatedSearch(
            best=None, tried=(), note="--disaggregate needs --rate: nothing simulated"
        )
    tried: list[DisaggregatedLayout] = []
    for hardware in request.hardware:
        for tp, batch, prefill_s, step_s in _layouts(request, configs, hardware.name):
            prefill_rps = 1 / prefill_s
            decode_rps = batch / (step_s * request.output_len)
            for p, d in SPLITS:
                units = max(
                    math.ceil(rate / (LOAD * p * prefill_rps)),
                    math.ceil(rate / (LOAD * d * decode_rps)),
                )
                k, seen = units, set()
                while k >= 1 and k not in seen and len(tried) < MAX_SIMULATIONS:
                    seen.add(k)
                    sim = simulate_disaggregated(
                        request,
                        hardware.name,
                        tp=tp,
                        prefill_replicas=k * p,
                        decode_replicas=k * d,
                        max_num_seqs=batch,
                        seed=seed,
                    )
                    layout = _layout(request, hardware.name, tp, p, d, k, batch, sim)
                    tried.append(layout)
                    # sized k met the SLOs: try one unit fewer; missed: one more (once each)
                    if k == units:
                        k = k - 1 if layout.meets_slo else k + 1
                    else:
                        break
    meeting = [t for t in tried if t.meets_slo]
    chosen = min(meeting, key=lambda t: (_cost(t), t.sim_ttft_p90_s or 0.0), default=None)
    return DisaggregatedSearch(
        best=chosen, tried=tuple(tried), note=_note(request, chosen, best, len(tried))
    )


def _layouts(
    request: PlanRequest, configs: list[PlanConfig], hardware: str
) -> list[tuple[int, int, float, float]]:
    """(tp, batch, prefill_s, decode_step_s at that batch) of the smallest fitting pp-1 layouts of
    ``hardware``: the largest batch whose decode step alone meets the TPOT SLO."""
    out = []
    for tp in sorted({c.tp for c in configs if c.hardware == hardware and c.pp == 1}):
        rows = [
            c
            for c in configs
            if c.hardware == hardware
            and c.tp == tp
            and c.pp == 1
            and c.ep == 1
            and c.fits
            and c.decode_step_s is not None
            and (request.tpot_slo_s is None or c.decode_step_s <= request.tpot_slo_s)
        ]
        if not rows:
            continue
        top = max(rows, key=lambda c: c.concurrent_sequences)
        assert top.prefill_s is not None and top.decode_step_s is not None
        out.append((tp, top.concurrent_sequences, top.prefill_s, top.decode_step_s))
        if len(out) == TPS:
            break
    return out


def _layout(
    request: PlanRequest,
    hardware: str,
    tp: int,
    p: int,
    d: int,
    units: int,
    batch: int,
    sim: object,
) -> DisaggregatedLayout:
    from llmroof.simulate.planned import PlannedSimulation

    assert isinstance(sim, PlannedSimulation) and request.rate_qps is not None
    gpus = units * (p + d) * tp
    hours = gpu_hours_per_million_tokens(gpus, request.rate_qps * request.output_len)
    price = request.gpu_hour_cost(hardware)
    misses = any(
        slo is not None and (value is None or value > slo)
        for value, slo in (
            (sim.ttft_p90_s, request.ttft_slo_s),
            (sim.tpot_p90_s, request.tpot_slo_s),
        )
    )
    return DisaggregatedLayout(
        id=f"{hardware} {p}P{d}D tp{tp} x{units}",
        hardware=hardware,
        tp=tp,
        prefill_per_unit=p,
        decode_per_unit=d,
        units=units,
        prefill_replicas=units * p,
        decode_replicas=units * d,
        max_num_seqs=batch,
        total_gpus=gpus,
        gpu_hours_per_million_tokens=hours,
        usd_per_million_tokens=None if price is None else hours * price,
        sim_ttft_p90_s=sim.ttft_p90_s,
        sim_tpot_p90_s=sim.tpot_p90_s,
        requests_simulated=sim.level.requests,
        meets_slo=not misses,
    )


def _cost(layout: DisaggregatedLayout | PlanConfig) -> float:
    usd = layout.usd_per_million_tokens
    hours = layout.gpu_hours_per_million_tokens
    return usd if usd is not None else (hours if hours is not None else math.inf)


def _note(
    request: PlanRequest,
    chosen: DisaggregatedLayout | None,
    best: PlanConfig | None,
    tried: int,
) -> str:
    if chosen is None:
        return f"none of the {tried} disaggregated layouts simulated meets the SLOs at p90"
    text = (
        f"{chosen.prefill_per_unit}P{chosen.decode_per_unit}D tp {chosen.tp} on {chosen.hardware} "
        f"x {chosen.units} ({chosen.prefill_replicas} prefill + {chosen.decode_replicas} decode "
        f"replicas): p90 TTFT {seconds(chosen.sim_ttft_p90_s)}, TPOT {seconds(chosen.sim_tpot_p90_s)}, "
        f"{chosen.total_gpus} GPUs{_money(request, chosen)}"
    )
    if best is None:
        return text + "; no aggregated configuration meets the SLOs"
    cheaper = _cost(chosen) < _cost(best)
    sim = (
        ""
        if best.sim_ttft_p90_s is None
        else f", p90 TTFT {seconds(best.sim_ttft_p90_s)}, TPOT {seconds(best.sim_tpot_p90_s)}"
    )
    return (
        f"{text}; vs aggregated {best.id}: {best.total_gpus} GPUs{_money(request, best)}{sim} "
        f"({'disaggregated is cheaper' if cheaper else 'aggregated is as cheap or cheaper'})"
    )


def _money(request: PlanRequest, item: DisaggregatedLayout | PlanConfig) -> str:
    if item.usd_per_million_tokens is not None:
        return f", ${item.usd_per_million_tokens:.2f}/M tokens"
    hours = item.gpu_hours_per_million_tokens
    return "" if hours is None else f", {hours:.3g} GPU-h/M tokens"
