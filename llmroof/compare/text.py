"""Text of a comparison shared by every output: cells of the result tables, headers, and the one-line
summary. The table, markdown and HTML renderers differ only in markup."""

from __future__ import annotations

import math
from typing import Any

from llmroof.compare.comparison import Comparison, Row
from llmroof.compare.stats import RatioInterval, SideStats
from llmroof.units import percent, seconds, si

COLUMNS = (
    "benchmark",
    "metric",
    "BASE median [CI] n",
    "NEW median [CI] n",
    "change of geo-means [CI]",
    "verdict",
    "why",
)


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
    verdict = row.verdict if row.gates else f"{row.verdict} (reported)"
    return dict(
        zip(
            COLUMNS,
            (
                row.key.label(),
                row.metric.label,
                side(unit, row.base),
                side(unit, row.new),
                change(row.interval),
                verdict,
                row.reason,
            ),
        )
    )


def config_rows(comparison: Comparison) -> list[Row]:
    return [r for r in comparison.rows if r.key.op is None]


def op_rows(comparison: Comparison) -> list[Row]:
    return [r for r in comparison.rows if r.key.op is not None]


def summary_line(comparison: Comparison) -> str:
    """``regression: 2 regression, 1 inconclusive, 0 improvement, 40 unchanged (gate: TPOT, ...; threshold 5%,
    95% intervals, process medians); reported only: ...``"""
    counts = comparison.counts()
    parts = ", ".join(f"{counts[v]} {v}" for v in counts)
    s = comparison.settings
    if comparison.basis == "runs":
        basis = "process medians"
    else:
        basis = f"one process a side: {comparison.noise_floor or 0:.0%} run-to-run noise floor"
    line = (
        f"{comparison.verdict()}: {parts} (gate: {', '.join(comparison.gate_labels()) or 'none'}; threshold "
        f"{s.threshold:.0%}, {s.confidence:.0%} intervals, {basis})"
    )
    reported = comparison.reported_counts()
    if any(reported.values()):
        line += "; reported only: " + ", ".join(
            f"{reported[v]} {v}" for v in reported if reported[v]
        )
    return line


def noise_line(comparison: Comparison) -> str:
    """What run-to-run noise the comparison can see, and what it cannot."""
    floor = comparison.noise_floor
    moved = comparison.ceiling_movement
    moved_text = (
        f"; the measured ceilings differ by up to {moved:.0%} between the sides"
        if moved > 0.005
        else ""
    )
    if comparison.basis == "runs":
        return (
            f"Run-to-run noise: seen (the unit of replication is the process: {comparison.base.runs} and "
            f"{comparison.new.runs} processes){moved_text}"
            + (f"; changes within {floor:.0%} are not counted" if floor else "")
            + "."
        )
    return (
        f"Run-to-run noise: NOT seen (one process a side); changes within a {floor or 0:.0%} noise floor "
        f"(--noise-floor {comparison.settings.noise_floor:.0%}{moved_text}) are inconclusive. Profile with "
        "--repeat 3 or more for a gate that sees it."
    )


def side_line(info: Any) -> str:
    runs = f"{info.runs} run{'s' if info.runs != 1 else ''}"
    unfinished = sorted({s for s in info.statuses if s != "complete"})
    note = f"; not complete: {', '.join(unfinished)}" if unfinished else ""
    return (
        f"{info.label}: {info.path} ({runs}{note}): {info.model} on {info.device}, {info.dtype}, "
        f"{info.layers} layers"
    )


def intervals_note(comparison: Comparison) -> str:
    s = comparison.settings
    return (
        f"Medians with {s.confidence:.0%} distribution-free intervals ([min, max], below "
        f"{s.confidence:.0%}, with fewer than 6 samples); NEW/BASE as the ratio of geometric "
        f"means with a {s.confidence:.0%} Welch interval on log values. A regression or improvement: the "
        f"whole interval beyond {s.threshold:.0%} (and beyond the noise floor, where one is set); "
        f"inconclusive: fewer than {s.min_samples} samples or a CV above {s.max_cv:.0%} on a side, or a "
        "change beyond the threshold that the interval does not establish. Rows marked (reported) do not "
        "decide the exit code."
    )
