"""``llmroof.compare/1``: a comparison of two sides of profile runs (``llmroof compare --format json``),
key by key in ``docs/compare.md``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmroof import schemas
from llmroof.results.records.base import Record, late, many, one, opt, seq


@dataclass(frozen=True, kw_only=True)
class SideRoofline(Record):
    """A side's measured ceilings: each the median over the side's runs that measured it."""

    peak_flops_per_s: float | None = None
    """Measured compute ceiling; None where no run measured it."""
    bandwidth_bytes_per_s: float | None = None
    """Measured memory bandwidth; None where no run measured it."""


@dataclass(frozen=True, kw_only=True)
class SideSummary(Record):
    """One side (BASE or NEW) of a comparison: what it is, for headers."""

    label: str
    """``BASE`` or ``NEW``."""
    path: str
    """The results file or folder given."""
    runs: int
    """Profile runs on the side."""
    files: tuple[str, ...] = seq()
    """Their results files."""
    model: str
    """Model, as shown."""
    device: str
    """Device, as shown."""
    dtype: str
    """Compute dtype."""
    layers: str
    """``N of L`` layers instantiated."""
    statuses: tuple[str, ...] = seq()
    """Each run's status."""
    times_utc: tuple[str, ...] = seq()
    """Each run's start time."""
    roofline: SideRoofline | None = late(SideRoofline(), SideRoofline)
    """The side's measured roofline."""

    @property
    def peak_flops_per_s(self) -> float | None:
        """Measured compute ceiling (median over the runs); None where unmeasured."""
        return None if self.roofline is None else self.roofline.peak_flops_per_s

    @property
    def bandwidth_bytes_per_s(self) -> float | None:
        """Measured memory bandwidth (median over the runs); None where unmeasured."""
        return None if self.roofline is None else self.roofline.bandwidth_bytes_per_s


@dataclass(frozen=True, kw_only=True)
class Difference(Record):
    """A difference between the sides' runs (model, device, workload, ceilings)."""

    scope: str
    """What differs: ``model``, ``device``, ``workload`` (these block a comparison), ``settings``,
    ``environment`` or ``ceilings``."""
    key: str
    """The figure that differs."""
    base: Any
    """BASE's value, as shown."""
    new: Any
    """NEW's value, as shown."""
    blocking: bool
    """Stops the comparison unless mismatches are allowed."""

    def describe(self) -> str:
        """``scope.key: base -> new``, as compare's errors and tables show it."""
        return f"{self.scope}.{self.key}: {self.base} -> {self.new}"


@dataclass(frozen=True, kw_only=True)
class SampleSummary(Record):
    """One side's samples of a compared metric, in the metric's unit."""

    n: int
    """Samples."""
    median: float
    """Their median."""
    median_low: float
    """Lower end of the median's distribution-free interval ([min, max] when few samples)."""
    median_high: float
    """Upper end of that interval."""
    median_interval_coverage: float
    """The interval's actual coverage (order statistics give a discrete set)."""
    cv: float
    """Log-normal coefficient of variation."""


@dataclass(frozen=True, kw_only=True)
class CompareRow(Record):
    """One metric of one configuration (or op), compared."""

    benchmark: str
    """The configuration's label (``decode b=4 c=2048``), with the op name for op rows."""
    phase: str
    """``prefill`` or ``decode``."""
    batch: int
    """b, sequences."""
    prompt_len: int | None = opt()
    """Prefill: s, tokens."""
    context_len: int | None = opt()
    """Decode: c, tokens."""
    op: str | None
    """Op name for per-op rows; None for a configuration."""
    metric: str
    """Metric key (``tpot_s``, ``achieved_bytes_per_s``...)."""
    label: str
    """Metric, as shown."""
    better: str
    """``lower`` or ``higher``."""
    unit: str
    """The metric's unit."""
    base: SampleSummary = one(SampleSummary)
    """BASE's samples."""
    new: SampleSummary = one(SampleSummary)
    """NEW's samples."""
    ratio: float | None
    """NEW/BASE of the geometric means."""
    ratio_low: float | None
    """Lower end of the ratio's interval."""
    ratio_high: float | None
    """Upper end of the ratio's interval."""
    welch_df: float | None
    """Welch's degrees of freedom."""
    verdict: str
    """``regression``, ``improvement``, ``unchanged`` or ``inconclusive``."""
    reason: str
    """Why, in words."""
    gates: bool = late(True)
    """Whether this row decides the exit code (otherwise it is reported only)."""

    @property
    def length(self) -> int | None:
        """Prompt (prefill) or context (decode) length, tokens."""
        return self.prompt_len if self.phase == "prefill" else self.context_len


@dataclass(frozen=True, kw_only=True)
class CompareSettingsSummary(Record):
    """The settings a comparison ran with."""

    threshold: float
    """Smallest change that counts, as a fraction."""
    confidence: float
    """Of the ratio's interval and of each side's median interval."""
    min_samples: int
    """Fewer samples on a side make its verdicts inconclusive."""
    max_cv: float
    """A coefficient of variation above this makes a side's verdicts inconclusive."""
    metrics: tuple[str, ...] = seq()
    """The metrics compared (all of them when none were named)."""
    allow_mismatch: bool
    """Runs of different models, devices or workloads compared anyway."""
    noise_floor: float | None = late()
    """With one process a side: the run-to-run change those samples cannot rule out (a fraction)."""
    gate_ops: bool | None = late()
    """Per-op times decide the exit code too."""


@dataclass(frozen=True, kw_only=True)
class NoiseSummary(Record):
    """The run-to-run noise a comparison allowed for."""

    floor: float | None
    """The change it could not rule out (a fraction); None where none applied."""
    ceiling_movement: float
    """The largest factor by which a measured ceiling moved between the sides, minus 1."""
    unit_of_replication: str
    """``process`` (one median per run) or ``repetition`` (raw samples of one run a side)."""


@dataclass(frozen=True, kw_only=True)
class CompareRecord(Record):
    """A whole ``llmroof.compare/1`` file."""

    SCHEMA = schemas.COMPARE

    verdict: str
    """The worst verdict of any row."""
    counts: Mapping[str, int]
    """Gating rows per verdict."""
    reported_counts: Mapping[str, int] | None = late()
    """Rows reported only (not gating), per verdict."""
    gate: tuple[str, ...] | None = late(seq_=True)
    """The metrics that decide the exit code."""
    settings: CompareSettingsSummary = one(CompareSettingsSummary)
    """The settings it ran with."""
    noise: NoiseSummary | None = late(None, NoiseSummary)
    """The run-to-run noise allowed for."""
    method: Mapping[str, str]
    """The statistics, in words."""
    caveat: str | None = None
    """One run per side: why the intervals understate run-to-run variation."""
    base: SideSummary = one(SideSummary)
    """BASE."""
    new: SideSummary = one(SideSummary)
    """NEW."""
    differences: tuple[Difference, ...] = many(Difference)
    """How the sides' runs differ."""
    rows: tuple[CompareRow, ...] = many(CompareRow)
    """One per metric of each matched configuration and op."""
    unmatched: tuple[Any, ...] = seq()
    """Configurations on one side only."""

    def to_pandas(self, *, ops: bool = False) -> Any:
        """One row per compared metric of a configuration (``ops=True``: of the ops too); each side's
        statistics as ``base_median``, ``new_cv``..., in the metric's unit (column ``unit``)."""
        import pandas as pd

        rows = []
        for row in self.rows:
            if row.op is not None and not ops:
                continue
            data = row.to_dict()
            base, new = data.pop("base"), data.pop("new")
            rows.append(
                data
                | {f"base_{k}": v for k, v in base.items()}
                | {f"new_{k}": v for k, v in new.items()}
            )
        return pd.DataFrame(rows)
