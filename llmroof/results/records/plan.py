"""``llmroof.plan/1``: a capacity plan (``llmroof plan --format json``), key by key in ``docs/planning.md``.

:class:`llmroof.plan.records.Plan` builds it (``Plan.to_record``); its configurations are :class:`PlanRow`
(the planner's ``PlanConfig`` adds only methods), and its xPyD layouts :class:`DisaggregatedRow`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmroof import schemas
from llmroof.results.records.base import Record, late, many, opt, seq


@dataclass(frozen=True, kw_only=True)
class PlanRow(Record):
    """One configuration: a device, a parallel layout and concurrent sequences per replica."""

    id: str
    """``h100-sxm tp2 pp1 x16``."""
    hardware: str
    """Catalog key of the device."""
    tp: int
    """Tensor-parallel degree."""
    pp: int
    """Pipeline stages."""
    gpus_per_replica: int
    """tp·pp·ep."""
    concurrent_sequences: int
    """Sequences in flight on one replica (0: does not fit)."""
    max_concurrent_sequences: int
    """The most the paged KV cache holds beside the weights."""
    weight_bytes_per_gpu: float
    """Weights on the fullest GPU."""
    kv_bytes_per_gpu: float
    """KV blocks reserved on the fullest GPU."""
    usable_bytes_per_gpu: float
    """Device memory less the reserve."""
    decode_step_s: float | None
    """One decode step of a micro-batch through every stage."""
    prefill_s: float | None
    """Prefill of one request's prompt."""
    ttft_s: float | None
    """Time to first token."""
    tpot_s: float | None
    """Time between a user's tokens in steady state."""
    tokens_per_s_per_replica: float | None
    """Output tokens per second of a replica."""
    tokens_per_s_per_gpu: float | None
    """Output tokens per second per GPU."""
    tokens_per_s_per_user: float | None
    """Output tokens per second a user sees."""
    requests_per_s_per_replica: float | None
    """Requests per second of a replica."""
    meets_slo: bool
    """Fits and meets every SLO asked for."""
    replicas: int | None
    """Replicas the rate needs."""
    total_gpus: int | None
    """replicas × gpus_per_replica."""
    gpu_hours_per_million_tokens: float | None
    """GPU-hours per million output tokens."""
    usd_per_million_tokens: float | None
    """The same in dollars, with a GPU-hour price."""
    rejected_reasons: tuple[str, ...] = seq()
    """Why it does not qualify; empty when it does."""
    ep: int = late(1)
    """Expert-parallel degree (MoE models; 1 otherwise); absent in older files (1)."""
    sim_ttft_p90_s: float | None = late()
    """p90 TTFT simulated at the plan's rate (``plan --rate``, top configurations); null when not
    simulated, absent in older files."""
    sim_tpot_p90_s: float | None = late()
    """p90 TPOT simulated likewise."""
    fits: bool
    """concurrent_sequences > 0."""


@dataclass(frozen=True, kw_only=True)
class RankedRow(PlanRow):
    """A configuration's place in the recommendation (or among the closest)."""

    rank: int
    """1 is best."""
    reason: str
    """Why, in words."""
    index: int
    """Position in ``configs``."""


@dataclass(frozen=True, kw_only=True)
class ParetoPoint(Record):
    """A configuration on its device's Pareto front."""

    index: int
    """Position in ``configs``."""
    id: str
    """The configuration's id."""
    hardware: str
    """Catalog key of the device."""
    tokens_per_s_per_gpu: float | None
    """Throughput per GPU."""
    tokens_per_s_per_user: float | None
    """Speed a user sees."""
    meets_slo: bool
    """Meets every SLO asked for."""


@dataclass(frozen=True, kw_only=True)
class DisaggregatedRow(Record):
    """An xPyD layout ``plan --disaggregate`` simulated."""

    id: str
    """``h100-sxm 2P1D tp2 x3``: device, prefill and decode replicas per unit, tp, units."""
    hardware: str
    """Catalog key of the device."""
    tp: int
    """Tensor-parallel degree of every prefill and decode replica."""
    prefill_per_unit: int
    """x of xPyD."""
    decode_per_unit: int
    """y of xPyD."""
    units: int
    """Copies of the xPyD unit the rate needs."""
    prefill_replicas: int
    """units·x."""
    decode_replicas: int
    """units·y."""
    max_num_seqs: int
    """Concurrent sequences per replica."""
    total_gpus: int
    """(prefill + decode replicas)·tp."""
    gpu_hours_per_million_tokens: float
    """GPU-hours per million output tokens at the plan's rate."""
    usd_per_million_tokens: float | None
    """The same in dollars, with a GPU-hour price."""
    sim_ttft_p90_s: float | None
    """p90 TTFT simulated under Poisson arrivals at the plan's rate."""
    sim_tpot_p90_s: float | None
    """p90 TPOT simulated likewise."""
    requests_simulated: int
    """Requests in the simulation."""
    meets_slo: bool
    """Both simulated p90s within their SLOs."""


@dataclass(frozen=True, kw_only=True)
class DisaggregatedSearchRow(Record):
    """What ``plan --disaggregate`` tried and the best layout."""

    best: DisaggregatedRow | None = late(record=DisaggregatedRow)
    """The cheapest layout meeting the SLOs (then the fastest p90 TTFT); null when none does."""
    note: str
    """The best against the aggregated recommendation, in words, or why there is none."""
    tried: tuple[DisaggregatedRow, ...] = many(DisaggregatedRow)
    """Every layout simulated."""


@dataclass(frozen=True, kw_only=True)
class PlanRecord(Record):
    """A whole ``llmroof.plan/1`` file."""

    SCHEMA = schemas.PLAN

    llmroof_version: str
    """Version that wrote the file."""
    request: Mapping[str, Any]
    """What was asked: model, hardware, prompt and output lengths, rate, SLOs, dtypes, limits."""
    status: str
    """``ok``, ``no_config_meets_slo`` or ``does_not_fit``."""
    verdict: str
    """The recommendation, in words."""
    counts: Mapping[str, int]
    """``configurations``, ``fit``, ``meet_slo``."""
    recommended: tuple[RankedRow, ...] = many(RankedRow)
    """The best configuration of each layout that meets the SLOs, best first."""
    closest: tuple[RankedRow, ...] = many(RankedRow)
    """When nothing meets the SLOs: the nearest, nearest first."""
    pareto: tuple[ParetoPoint, ...] = many(ParetoPoint)
    """Each device's Pareto front."""
    calibration: Mapping[str, Any]
    """Per device, the calibration from profile runs (``--calibrate``)."""
    excluded: tuple[Mapping[str, Any], ...] = seq()
    """Tensor-parallel degrees the model's shapes do not allow, with the reason."""
    warnings: tuple[str, ...] = seq()
    """Warnings about the plan."""
    configs: tuple[PlanRow, ...] = many(PlanRow)
    """Every configuration tried."""
    disaggregated: DisaggregatedSearchRow | None = opt(DisaggregatedSearchRow)
    """``plan --disaggregate``: the xPyD layouts simulated; absent otherwise (and in older files)."""

    def to_pandas(self, *, ops: bool = False) -> Any:
        """One row per configuration tried; ``rejected_reasons`` joined with ``; ``."""
        import pandas as pd

        return pd.DataFrame(
            [
                row.to_dict() | {"rejected_reasons": "; ".join(row.rejected_reasons)}
                for row in self.configs
            ]
        )
