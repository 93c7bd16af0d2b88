"""Text of a comparison shared by every output: cells of the result tables, headers, and the one-line
summary. The table, markdown and HTML renderers differ only in markup."""

from __future__ import annotations

import math
from typing import Any

from llmroof.compare.comparison import Comparison, Row
from llmroof.compare.stats import RatioInterval, SideStats
from llmroof.units import percent, seconds, si

COLUMNS = ("benchmark", "metric", "BASE median [CI] n", "NEW median [CI] n", "change of geo-means [CI]", "verdict", "why")


def value(unit: str, x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if unit == "s":
        return seconds(x)
    if unit == "fraction":
        return percent(x)
    if unit == "tokens/s":
        return si(x)
    return si(x, unit)


def side(unit: str, stats: SideStats) -> str:
    interval = f" [{value(unit, stats.low)}, {value(unit, stats.high)}]" if stats.n > 1 else ""
    return f"{value(unit, stats.median)}{interval} n={stats.n}"


def change(interval: RatioInterval | None) -> str:
    """NEW vs BASE as a signed percentage with its interval: ``+20.3% [+15.1%, +25.8%]``."""
    if interval is None:
        return "-"
    if math.isnan(interval.low):
        return f"{interval.ratio - 1:+.1%}"
    return f"{interval.ratio - 1:+.1%} [{interval.low - 1:+.1%}, {interval.high - 1:+.1%}]"


def cells(row: Row) -> dict[str, str]:
    """One row as text, keyed by ``COLUMNS``."""
    unit = row.metric.unit
    return dict(zip(COLUMNS, (row.key.label(), row.metric.label, side(unit, row.base), side(unit, row.new),
                              change(row.interval), row.verdict, row.reason)))


def config_rows(comparison: Comparison) -> list[Row]:
    return [r for r in comparison.rows if r.key.op is None]


def op_rows(comparison: Comparison) -> list[Row]:
    return [r for r in comparison.rows if r.key.op is not None]


def summary_line(comparison: Comparison) -> str:
    """``regression: 2 regression, 1 inconclusive, 0 improvement, 40 unchanged (threshold 5%, 95% intervals)``"""
    counts = comparison.counts()
    parts = ", ".join(f"{counts[v]} {v}" for v in counts)
    s = comparison.settings
    return (f"{comparison.verdict()}: {parts} (threshold {s.threshold:.0%}, {s.confidence:.0%} intervals, "
            f"{'run medians' if comparison.basis == 'runs' else 'per-repetition samples'})")


def side_line(info: Any) -> str:
    runs = f"{info.runs} run{'s' if info.runs != 1 else ''}"
    unfinished = sorted({s for s in info.statuses if s != "complete"})
    note = f"; not complete: {', '.join(unfinished)}" if unfinished else ""
    return (f"{info.label}: {info.path} ({runs}{note}): {info.model} on {info.device}, {info.dtype}, "
            f"{info.layers} layers")


def intervals_note(comparison: Comparison) -> str:
    s = comparison.settings
    return (f"Medians with {s.confidence:.0%} distribution-free intervals ([min, max], below "
            f"{s.confidence:.0%}, with fewer than 6 samples); NEW/BASE as the ratio of geometric "
            f"means with a {s.confidence:.0%} Welch interval on log values. A regression or improvement "
            f"changes by more than {s.threshold:.0%} and its interval excludes no change; inconclusive: fewer "
            f"than {s.min_samples} samples or a CV above {s.max_cv:.0%} on a side, or a large change whose "
            "interval includes no change.")
