"""``llmroof.compare.trace/1``: two ``llmroof.trace/1`` results compared phase by phase and op by op
(``llmroof compare A.json B.json --format json`` of two traces), key by key in ``docs/compare.md``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from llmroof import schemas
from llmroof.results.records.base import Record, many, one, seq


@dataclass(frozen=True, kw_only=True)
class TraceCompareRow(Record):
    """One phase's mean step (``op`` None) or one op of a phase, on both sides."""

    phase: str
    """``prefill``, ``mixed`` or ``decode``."""
    op: str | None
    """Op name (``mlp.down``); None for the phase's mean step."""
    base_time_s: float | None
    """BASE's time: the mean step, or the op's time over the trace; None where BASE lacks it."""
    new_time_s: float | None
    """NEW's time, likewise."""
    ratio: float | None
    """NEW/BASE time; None where a side lacks it or BASE's time is zero."""
    base_roofline_fraction: float | None
    """BASE's roofline fraction (bound / time)."""
    new_roofline_fraction: float | None
    """NEW's roofline fraction."""
    verdict: str
    """``regression``, ``improvement``, ``unchanged``, ``inconclusive``, ``only in base`` or
    ``only in new``."""
    reason: str
    """Why, in words."""
    gates: bool
    """Whether this row decides the exit code (otherwise it is reported only)."""

    @property
    def label(self) -> str:
        return f"{self.phase}: {self.op or 'step (mean)'}"


@dataclass(frozen=True, kw_only=True)
class TraceCompareSettings(Record):
    """The settings the traces were compared with."""

    threshold: float
    """Smallest change that counts, as a fraction."""
    noise_floor: float
    """The run-to-run change one trace a side cannot rule out (a fraction): a regression or
    improvement lies beyond it."""


@dataclass(frozen=True, kw_only=True)
class TraceCompareRecord(Record):
    """A whole ``llmroof.compare.trace/1`` file."""

    SCHEMA = schemas.COMPARE_TRACE

    base: str
    """BASE's trace result, as given."""
    new: str
    """NEW's trace result, as given."""
    verdict: str
    """The worst verdict of any gating row: regression, inconclusive, improvement, else unchanged."""
    counts: Mapping[str, int]
    """Gating rows per verdict."""
    reported_counts: Mapping[str, int]
    """All rows (gating or reported only) per verdict."""
    settings: TraceCompareSettings = one(TraceCompareSettings)
    """Threshold and noise floor."""
    differences: tuple[str, ...] = seq()
    """What differs between the traces beyond the code: model, hardware, dtype, layout."""
    rows: tuple[TraceCompareRow, ...] = many(TraceCompareRow)
    """Each phase's mean step, then each op of each phase."""
