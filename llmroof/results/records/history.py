"""``llmroof.history/1``: the trend of every series in a history database, with its change points
(``llmroof history show --format json`` and ``llmroof history check --format json``), key by key in
``docs/ci.md``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmroof import schemas
from llmroof.results.records.base import Record, many, opt


@dataclass(frozen=True, kw_only=True)
class HistoryPoint(Record):
    """One process's value."""

    commit: str
    """The commit it measured."""
    branch: str
    """The branch."""
    time_utc: str
    """When (ISO 8601, UTC): the order of the series."""
    value: float
    """The value, in the series' unit."""
    process: int
    """Process index within a ``--repeat`` file; -1 for a file of one run."""


@dataclass(frozen=True, kw_only=True)
class HistoryChange(Record):
    """A step in a series."""

    index: int
    """Position (in the series' points) of the first point at the new level."""
    commit: str
    """The first commit at the new level: where the change began."""
    previous_commit: str
    """The last commit before it: the change lies in ``previous_commit..commit``."""
    time_utc: str
    """Time of the first point at the new level."""
    direction: str
    """``regression`` or ``improvement`` (by the metric's better direction)."""
    before_median: float
    """Median of the segment before."""
    after_median: float
    """Median of the segment after."""
    ratio: float
    """after / before (geometric means of the segments)."""
    ratio_low: float
    """Lower end of the ratio's interval."""
    ratio_high: float
    """Upper end of the ratio's interval."""
    worse_fraction: float
    """How much worse, as a fraction (negative: better): ratio - 1 for lower-is-better, 1 / ratio - 1 else."""
    confidence: float
    """1 - the p-value of the test that found the split: a lower bound on the confidence."""
    statistic: float
    """The standardised CUSUM, in units of the series' long-run noise."""
    points_before: int
    """Points in the segment before."""
    points_after: int
    """Points in the segment after."""


@dataclass(frozen=True, kw_only=True)
class HistorySeries(Record):
    """One metric of one configuration on one machine, over time."""

    machine: str
    """Machine fingerprint."""
    config: str
    """Model, dtype and configuration (and op)."""
    metric: str
    """Metric key (``tpot_s``...)."""
    better: str
    """``lower`` or ``higher``."""
    unit: str
    """The values' unit."""
    points: tuple[HistoryPoint, ...] = many(HistoryPoint)
    """The values, oldest first."""
    rho: float | None = opt()
    """Estimated lag-1 autocorrelation of the log values."""
    sigma: float | None = opt()
    """Estimated long-run noise of the log values (a fraction, roughly)."""
    changes: tuple[HistoryChange, ...] = many(HistoryChange)
    """Every change point found, oldest first."""
    latest: HistoryChange | None = opt(HistoryChange)
    """The newest change point."""
    gating: bool = False
    """(check) The newest change is a regression beyond the threshold that began at or after ``since``."""


@dataclass(frozen=True, kw_only=True)
class HistoryRecord(Record):
    """A whole ``llmroof.history/1`` file."""

    SCHEMA = schemas.HISTORY

    command: str
    """``show`` or ``check``."""
    database: str
    """The database (a PostgreSQL URL without its password)."""
    settings: Mapping[str, Any]
    """Detection settings (alpha, min_segment, min_size), filters, threshold and since."""
    since: str | None = None
    """(check) The commit or time after which a regression gates; None: every change point gates."""
    since_time_utc: str | None = None
    """(check) The time ``since`` resolved to."""
    verdict: str = "ok"
    """``regression`` when a series gates, else ``ok``."""
    series: tuple[HistorySeries, ...] = many(HistorySeries)
    """Every series selected."""
    method: Mapping[str, str] | None = None
    """The detection method, in words."""

    @property
    def gating(self) -> tuple[HistorySeries, ...]:
        return tuple(s for s in self.series if s.gating)
