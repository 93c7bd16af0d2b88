"""``llmroof.simulate/1``: a simulated serving replica or fleet under a traffic (``llmroof
simulate``), key by key in ``docs/simulate.md``. Latency figures use the definitions of
``llmroof.bench/1`` (vLLM's).

Times are seconds since the first arrival.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llmroof import schemas
from llmroof.results.records.base import Record, many, one, opt, seq
from llmroof.results.records.bench import QUANTILES, Distribution

REQUEST_COLUMNS = (
    "index",
    "arrival_s",
    "first_token_s",
    "end_s",
    "prompt_tokens",
    "output_tokens",
    "cached_tokens",
    "preemptions",
)
"""The columns of a level's ``records`` (one row per request)."""
TIMELINE_COLUMNS = ("time_s", "waiting", "running", "kv_fraction")
"""The columns of a level's ``timeline``."""


@dataclass(frozen=True, kw_only=True)
class SimulatedLevel(Record):
    """One rate (or one trace) simulated."""

    rate: float | None
    """Mean arrivals per second; None for a trace replayed as recorded."""
    trace: str | None = opt()
    """The trace file replayed."""
    requests: int
    """Requests simulated (all complete)."""
    duration_s: float
    """First arrival to last completion."""
    request_throughput_per_s: float
    output_tokens_per_s: float
    goodput_per_s: float | None
    """Requests per second meeting every SLO; None without SLOs."""
    ttft_s: Distribution = one(Distribution)
    tpot_s: Distribution = one(Distribution)
    itl_s: Distribution = one(Distribution)
    e2e_s: Distribution = one(Distribution)
    mean_in_system: float
    """Time-average of requests arrived and not finished (Little's law: request rate x mean E2E)."""
    steps: int
    """Engine steps over every replica."""
    max_step_tokens: int
    """Most tokens one step processed."""
    max_step_seqs: int
    """Most sequences one step held."""
    preemptions: int
    """Sequences preempted (recomputed) for KV blocks."""
    prefix_hit_tokens: int
    """Prompt tokens served from the prefix cache."""
    timeline: tuple[tuple[float, int, int, float], ...] = seq(default=())
    """Samples of the first replica over time: ``TIMELINE_COLUMNS``."""
    records: tuple[tuple[Any, ...], ...] = seq(default=())
    """One row per request: ``REQUEST_COLUMNS``."""

    @property
    def label(self) -> str:
        return f"rate={self.rate:g}/s" if self.rate is not None else f"trace {self.trace}"


@dataclass(frozen=True, kw_only=True)
class SimulateSplit(Record):
    """Disaggregated serving: prefill and decode on separate replicas (``--disaggregate xPyD``)."""

    prefill_replicas: int
    decode_replicas: int
    prefill_tp: int
    decode_tp: int


@dataclass(frozen=True, kw_only=True)
class SimulateSettings(Record):
    """Model, hardware, layout, scheduler, traffic and SLOs as given (every key always written)."""

    model: str
    hardware: str
    tp: int
    pp: int
    dtype: str
    """Activation dtype."""
    replicas: int
    router: str
    prompt_tokens: int
    output_tokens: int
    requests: int
    """Requests per rate."""
    seed: int
    cv: float
    """Coefficient of variation of the arrival gaps (1: Poisson)."""
    trace: str | None
    """The trace file replayed, if any."""
    max_num_seqs: int
    max_num_batched_tokens: int
    chunked_prefill: bool
    block_tokens: int
    kv_blocks: int | None
    """KV blocks given on the command line; None: sized from the device's memory."""
    speculative_k: int
    acceptance_rate: float
    prefix_hit_rate: float | None
    ttft_slo_s: float | None
    tpot_slo_s: float | None
    disaggregation: SimulateSplit | None = one(SimulateSplit)
    """None: every replica serves prefill and decode."""


@dataclass(frozen=True, kw_only=True)
class StepTimes(Record):
    """Step times the simulation used at the request shape, the efficiencies applied, the KV pool."""

    decode_step_s: float
    """One decode step at batch 1."""
    prefill_s: float
    """One prefill of the prompt."""
    unloaded_request_s: float
    """A request alone: its prefill and every decode step."""
    decode_efficiency: float
    prefill_efficiency: float
    efficiency_source: str
    """``roofline``, or the bench the efficiencies were calibrated from."""
    queued_factor: float | None
    service_spread_requests: int
    """Requests whose measured pace spreads the service time (one-at-a-time engines only)."""
    wake_s: tuple[float, ...] = seq()
    kv_capacity_tokens: int


@dataclass(frozen=True, kw_only=True)
class AgainstRow(Record):
    """One (level, metric, statistic) of ``simulate --against``: predicted beside measured."""

    rate: float
    metric: str
    """``ttft_s.p50``... or ``request_throughput_per_s``."""
    predicted: float | None
    measured: float | None
    error: float | None
    """predicted / measured - 1; None where either is missing or measured is 0."""
    source: str
    """The bench file."""


@dataclass(frozen=True, kw_only=True)
class SimulateResult(Record):
    """A simulation: its settings, one level per rate or trace, and the largest rate within the
    SLOs."""

    SCHEMA = schemas.SIMULATE

    settings: SimulateSettings = one(SimulateSettings)
    """Model, hardware, layout, scheduler, traffic and SLOs as given."""
    step_model: StepTimes = one(StepTimes)
    """Step times the simulation used: ``decode_step_s`` and ``prefill_s`` at the request shape, the
    efficiencies applied, the KV pool."""
    levels: tuple[SimulatedLevel, ...] = many(SimulatedLevel)
    max_rate_meeting_slo: float | None = opt()
    """Largest Poisson rate whose ``slo_percentile`` TTFT and TPOT meet the SLOs (bisection); only
    with SLOs."""
    slo_percentile: float | None = opt()
    against: tuple[AgainstRow, ...] | None = opt(AgainstRow, many_=True)
    """With ``--against BENCH``: rows of rate, metric, predicted, measured, error (predicted /
    measured - 1) and source, for every level the bench measured at the same rate."""
    notes: tuple[str, ...] = seq(default=())

    @property
    def unloaded_ttft_s(self) -> float | None:
        """TTFT of a request alone: one prefill at the request shape."""
        return self.step_model.prefill_s

    @property
    def unloaded_tpot_s(self) -> float | None:
        """TPOT of a request alone: one decode step at batch 1."""
        return self.step_model.decode_step_s

    @property
    def ttft_slo_s(self) -> float | None:
        return self.settings.ttft_slo_s

    @property
    def tpot_slo_s(self) -> float | None:
        return self.settings.tpot_slo_s

    @property
    def seed(self) -> int | None:
        return self.settings.seed

    @property
    def replicas(self) -> int:
        """Replicas behind the router (1 with disaggregation, whose split is in ``settings``)."""
        return self.settings.replicas

    def to_pandas(self, *, ops: bool = False, per_request: bool = False) -> Any:
        """One row per level (``ttft_s.p50``...), or per request with ``per_request`` (or
        ``ops``)."""
        import pandas as pd

        if per_request or ops:
            rows = [
                {"level": level.label, **dict(zip(REQUEST_COLUMNS, r))}
                for level in self.levels
                for r in level.records
            ]
            return pd.DataFrame(rows)
        return pd.DataFrame([level_row(level) for level in self.levels])


def level_row(level: SimulatedLevel) -> dict[str, Any]:
    row: dict[str, Any] = {"rate": level.rate, "trace": level.trace}
    for name in (
        "requests",
        "duration_s",
        "request_throughput_per_s",
        "output_tokens_per_s",
        "goodput_per_s",
        "mean_in_system",
        "steps",
        "preemptions",
        "prefix_hit_tokens",
    ):
        row[name] = getattr(level, name)
    for name in ("ttft_s", "tpot_s", "itl_s", "e2e_s"):
        dist = getattr(level, name)
        for stat in ("mean", *QUANTILES):
            row[f"{name}.{stat}"] = getattr(dist, stat)
    return row
