"""What a plan returns: one :class:`PlanConfig` per configuration tried, and the :class:`Plan` around them;
:meth:`Plan.to_record` gives its ``llmroof.plan/1`` record (documented key by key in ``docs/planning.md``),
whose one writer is ``Record.to_dict``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, NamedTuple

from llmroof import schemas
from llmroof.plan.request import PlanRequest
from llmroof.results.records.plan import (
    DisaggregatedRow,
    DisaggregatedSearchRow,
    ParetoPoint,
    PlanRecord,
    PlanRow,
    RankedRow,
)
from llmroof.version import __version__

SCHEMA = schemas.PLAN


@dataclass(frozen=True, kw_only=True)
class PlanConfig(PlanRow):
    """One configuration: a device, a parallel layout and a number of concurrent sequences per replica
    (the ``llmroof.plan/1`` record's :class:`~llmroof.results.records.plan.PlanRow`, whose fields say what
    each figure is, with the planner's methods).

    Layouts whose weights (or whose first sequences) do not fit get one row with 0 sequences and no times.
    Throughputs count output tokens only.
    """

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
            fits=False,
        )

    @property
    def layout(self) -> tuple[str, int, int] | tuple[str, int, int, int]:
        return (
            (self.hardware, self.tp, self.pp)
            if self.ep == 1
            else (self.hardware, self.tp, self.pp, self.ep)
        )


DisaggregatedLayout = DisaggregatedRow
"""xPyD (``plan --disaggregate``): ``replicas`` units of x prefill and y decode replicas of tp GPUs each,
simulated under Poisson arrivals at the plan's rate (the record's row, one type)."""
DisaggregatedSearch = DisaggregatedSearchRow
"""What ``plan --disaggregate`` tried, and the best that meets the SLOs (cheapest, then the fastest p90
TTFT); None when none does."""


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

    def to_record(self) -> PlanRecord:
        """The ``llmroof.plan/1`` record of this plan."""
        configs = self.configs

        def ranked(items: tuple[Ranked, ...]) -> tuple[RankedRow, ...]:
            return tuple(
                RankedRow(
                    **_row_fields(configs[r.index]), rank=r.rank, reason=r.reason, index=r.index
                )
                for r in items
            )

        return PlanRecord(
            llmroof_version=__version__,
            request=request_to_dict(self.request),
            status=self.status,
            verdict=self.verdict,
            counts={
                "configurations": len(configs),
                "fit": self.fitting,
                "meet_slo": self.meeting_slo,
            },
            recommended=ranked(self.recommended),
            closest=ranked(self.closest),
            pareto=tuple(
                ParetoPoint(
                    index=i,
                    id=configs[i].id,
                    hardware=configs[i].hardware,
                    tokens_per_s_per_gpu=configs[i].tokens_per_s_per_gpu,
                    tokens_per_s_per_user=configs[i].tokens_per_s_per_user,
                    meets_slo=configs[i].meets_slo,
                )
                for i in self.pareto
            ),
            calibration={name: cal.to_dict() for name, cal in self.request.calibration.items()},
            excluded=self.excluded,
            warnings=self.warnings,
            configs=configs,
            disaggregated=self.disaggregated,
        )

    def to_dict(self) -> dict[str, Any]:
        """The ``llmroof.plan/1`` JSON object (:meth:`to_record`'s)."""
        return self.to_record().to_dict()


def _row_fields(config: PlanRow) -> dict[str, Any]:
    """A configuration's record fields, to place it in a ranked row."""
    return {
        f.name: getattr(config, f.name) for f in dataclasses.fields(PlanRow) if f.name != "extra"
    }


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
