"""What a plan returns: one :class:`PlanConfig` per configuration tried, and the :class:`Plan` around them
(schema ``llmroof.plan/1``, documented key by key in ``docs/planning.md``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from llmroof import schemas
from llmroof.plan.request import PlanRequest
from llmroof.version import __version__

SCHEMA = schemas.PLAN


class PlanConfig(NamedTuple):
    """One configuration: a device, a parallel layout and a number of concurrent sequences per replica.

    Layouts whose weights (or whose first sequences) do not fit get one row with 0 sequences and no times.
    Throughputs count output tokens only.
    """

    id: str
    """``h100-sxm tp2 pp1 x16``: device, tensor and pipeline degrees, concurrent sequences."""
    hardware: str
    tp: int
    pp: int
    gpus_per_replica: int
    concurrent_sequences: int
    """Sequences in flight on one replica, B (pp micro-batches of B/pp)."""
    max_concurrent_sequences: int
    """The most that the paged KV cache holds beside the weights."""
    weight_bytes_per_gpu: float
    """Weights on the fullest GPU."""
    kv_bytes_per_gpu: float
    """KV blocks reserved on the fullest GPU for B sequences at their longest (S + O, whole blocks)."""
    usable_bytes_per_gpu: float
    decode_step_s: float | None
    """Latency of one decode step of a micro-batch through every stage (no prefill interleaved)."""
    prefill_s: float | None
    """Prefill of one request's prompt through every stage."""
    ttft_s: float | None
    tpot_s: float | None
    """Time between a user's tokens in steady state, the prefills of new requests included."""
    tokens_per_s_per_replica: float | None
    tokens_per_s_per_gpu: float | None
    tokens_per_s_per_user: float | None
    requests_per_s_per_replica: float | None
    meets_slo: bool
    """Fits, and meets every SLO asked for."""
    replicas: int | None
    total_gpus: int | None
    gpu_hours_per_million_tokens: float | None
    """GPU-hours per million output tokens: at the requested rate on ``total_gpus``, else at full load."""
    usd_per_million_tokens: float | None
    """The same in dollars, when a GPU-hour price is given."""
    rejected_reasons: tuple[str, ...]
    """Why the configuration does not qualify; empty when it meets everything."""
    ep: int = 1
    """Expert-parallel degree (MoE models): experts split over ep ranks, attention data-parallel."""
    sim_ttft_p90_s: float | None = None
    """p90 TTFT simulated under Poisson arrivals at the plan's rate (``llmroof.simulate``); None: not simulated."""
    sim_tpot_p90_s: float | None = None
    """p90 TPOT simulated likewise."""

    @classmethod
    def unfit(
        cls,
        *,
        id: str,
        hardware: str,
        tp: int,
        pp: int,
        max_concurrent_sequences: int,
        weight_bytes_per_gpu: float,
        usable_bytes_per_gpu: float,
        reason: str,
        ep: int = 1,
    ) -> PlanConfig:
        """A layout that does not fit: 0 sequences, no times, no throughput, and why."""
        return cls(
            id=id,
            hardware=hardware,
            tp=tp,
            pp=pp,
            gpus_per_replica=tp * pp * ep,
            concurrent_sequences=0,
            max_concurrent_sequences=max_concurrent_sequences,
            weight_bytes_per_gpu=weight_bytes_per_gpu,
            kv_bytes_per_gpu=0.0,
            usable_bytes_per_gpu=usable_bytes_per_gpu,
            decode_step_s=None,
            prefill_s=None,
            ttft_s=None,
            tpot_s=None,
            tokens_per_s_per_replica=None,
            tokens_per_s_per_gpu=None,
            tokens_per_s_per_user=None,
            requests_per_s_per_replica=None,
            meets_slo=False,
            replicas=None,
            total_gpus=None,
            gpu_hours_per_million_tokens=None,
            usd_per_million_tokens=None,
            rejected_reasons=(reason,),
            ep=ep,
        )

    @property
    def fits(self) -> bool:
        return self.concurrent_sequences > 0

    @property
    def layout(self) -> tuple[str, int, int] | tuple[str, int, int, int]:
        return (
            (self.hardware, self.tp, self.pp)
            if self.ep == 1
            else (self.hardware, self.tp, self.pp, self.ep)
        )

    def to_dict(self) -> dict[str, Any]:
        data = self._asdict()
        data["fits"] = self.fits
        data["rejected_reasons"] = list(self.rejected_reasons)
        return data


class DisaggregatedLayout(NamedTuple):
    """xPyD (``plan --disaggregate``): ``replicas`` units of x prefill and y decode replicas of tp
    GPUs each, simulated under Poisson arrivals at the plan's rate."""

    id: str
    """``h100-sxm 2P1D tp2 x3``: device, prefill and decode replicas per unit, tp, units."""
    hardware: str
    tp: int
    """Tensor-parallel degree of every prefill and decode replica."""
    prefill_per_unit: int
    decode_per_unit: int
    units: int
    prefill_replicas: int
    decode_replicas: int
    max_num_seqs: int
    """Concurrent sequences per replica (the aggregated layout's largest meeting the TPOT SLO)."""
    total_gpus: int
    gpu_hours_per_million_tokens: float
    usd_per_million_tokens: float | None
    sim_ttft_p90_s: float | None
    sim_tpot_p90_s: float | None
    requests_simulated: int
    meets_slo: bool
    """Both simulated p90s within their SLOs."""

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()


@dataclass(frozen=True, slots=True)
class DisaggregatedSearch:
    """What ``plan --disaggregate`` tried, and the best that meets the SLOs (cheapest, then the
    fastest p90 TTFT); None when none does."""

    best: DisaggregatedLayout | None
    tried: tuple[DisaggregatedLayout, ...]
    note: str
    """One sentence: the best against the aggregated recommendation, or why there is none."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "best": None if self.best is None else self.best.to_dict(),
            "note": self.note,
            "tried": [t.to_dict() for t in self.tried],
        }


class Ranked(NamedTuple):
    """A configuration's place in the recommendation (or, when nothing meets the SLOs, in the closest)."""

    rank: int
    index: int  # type: ignore[assignment]  # shadows tuple.index; callers read the field
    """Position in :attr:`Plan.configs`."""
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    """Every configuration tried, the Pareto front, and the verdict."""

    request: PlanRequest
    configs: tuple[PlanConfig, ...]
    pareto: tuple[int, ...]
    """Indices of the configurations on each device's Pareto front (tokens/s per GPU against tokens/s per
    user), by device, then from the fastest per user to the most throughput per GPU."""
    recommended: tuple[Ranked, ...]
    """The best configuration of each layout that meets the SLOs, best first."""
    closest: tuple[Ranked, ...]
    """When nothing meets the SLOs: the configurations nearest to them, nearest first."""
    status: str
    """``ok``, ``no_config_meets_slo`` or ``does_not_fit``."""
    verdict: str
    excluded: tuple[dict[str, Any], ...]
    """Tensor-parallel degrees the model's shapes do not allow, with the reason."""
    warnings: tuple[str, ...]
    disaggregated: DisaggregatedSearch | None = None
    """``plan --disaggregate``: the xPyD layouts simulated; None when not asked (and no key)."""

    @property
    def best(self) -> PlanConfig | None:
        return self.configs[self.recommended[0].index] if self.recommended else None

    @property
    def fitting(self) -> int:
        """Configurations that fit in memory."""
        return sum(c.fits for c in self.configs)

    @property
    def meeting_slo(self) -> int:
        """Configurations that meet the SLOs."""
        return sum(c.meets_slo for c in self.configs)

    def to_dict(self) -> dict[str, Any]:
        request = self.request
        configs = [c.to_dict() for c in self.configs]

        def ranked(items: tuple[Ranked, ...]) -> list[dict[str, Any]]:
            return [
                {"rank": r.rank, "reason": r.reason, "index": r.index, **configs[r.index]}
                for r in items
            ]

        return {
            "schema": SCHEMA,
            "llmroof_version": __version__,
            "request": request_to_dict(request),
            "status": self.status,
            "verdict": self.verdict,
            "counts": {
                "configurations": len(self.configs),
                "fit": self.fitting,
                "meet_slo": self.meeting_slo,
            },
            "recommended": ranked(self.recommended),
            "closest": ranked(self.closest),
            "pareto": [
                {
                    "index": i,
                    "id": self.configs[i].id,
                    "hardware": self.configs[i].hardware,
                    "tokens_per_s_per_gpu": self.configs[i].tokens_per_s_per_gpu,
                    "tokens_per_s_per_user": self.configs[i].tokens_per_s_per_user,
                    "meets_slo": self.configs[i].meets_slo,
                }
                for i in self.pareto
            ],
            "calibration": {name: cal.to_dict() for name, cal in request.calibration.items()},
            "excluded": list(self.excluded),
            "warnings": list(self.warnings),
            "configs": configs,
        } | ({} if self.disaggregated is None else {"disaggregated": self.disaggregated.to_dict()})


def request_to_dict(request: PlanRequest) -> dict[str, Any]:
    precision = request.precision
    return {
        "model": request.model.name,
        "hardware": [hw.name for hw in request.hardware],
        "gpus_per_node": {hw.name: hw.gpus_per_node for hw in request.hardware},
        "prompt_len": request.prompt_len,
        "output_len": request.output_len,
        "decode_context_len": request.decode_context_len,
        "rate_qps": request.rate_qps,
        "ttft_slo_s": request.ttft_slo_s,
        "tpot_slo_s": request.tpot_slo_s,
        "weight_dtype": precision.weight.name,
        "weight_group_size": precision.weight.group_size or None,
        "act_dtype": precision.activation.name,
        "kv_dtype": precision.kv.name,
        "kv_block_tokens": request.kv_block_tokens,
        "kv_blocks_per_sequence": request.kv_blocks_per_sequence,
        "memory_reserve_fraction": request.memory_reserve_fraction,
        "max_gpus_per_replica": request.max_gpus_per_replica,
        "attention_kernel": request.attention_kernel,
        "fused_qkv": request.fused_qkv,
        "gpu_hour_cost_usd": None
        if request.gpu_hour_cost_usd is None
        else {hw.name: cost for hw, cost in zip(request.hardware, request.gpu_hour_cost_usd)},
    }
