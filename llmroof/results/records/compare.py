"""``llmroof.compare/1``: a comparison of two sides of profile runs (``llmroof compare --format json``),
key by key in ``docs/compare.md``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmroof import schemas
from llmroof.results.records.base import Record, many, one, opt, seq


@dataclass(frozen=True, kw_only=True)
class SideSummary(Record):
    """One side (BASE or NEW) of a comparison."""

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
    roofline: Mapping[str, Any] | None = None
    """The side's measured roofline (``peak_flops_per_s``, ``bandwidth_bytes_per_s``)."""


@dataclass(frozen=True, kw_only=True)
class Difference(Record):
    """A difference between the sides' runs (model, device, workload, ceilings)."""

    scope: str
    """What differs: ``model``, ``workload``, ``ceilings``..."""
    key: str
    """The figure that differs."""
    base: Any
    """BASE's value, as shown."""
    new: Any
    """NEW's value, as shown."""
    blocking: bool
    """Stops the comparison unless mismatches are allowed."""


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
    base: Mapping[str, Any]
    """BASE's samples: ``n``, ``median``, its interval, ``cv``."""
    new: Mapping[str, Any]
    """NEW's samples, likewise."""
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

    @property
    def length(self) -> int | None:
        """Prompt (prefill) or context (decode) length, tokens."""
        return self.prompt_len if self.phase == "prefill" else self.context_len


@dataclass(frozen=True, kw_only=True)
class CompareRecord(Record):
    """A whole ``llmroof.compare/1`` file."""

    SCHEMA = schemas.COMPARE

    verdict: str
    """The worst verdict of any row."""
    counts: Mapping[str, int]
    """Rows per verdict."""
    settings: Mapping[str, Any]
    """Threshold, confidence, minimum samples, maximum CV, metrics, allow_mismatch."""
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
