"""Compare two sides (BASE and NEW) metric by metric: match configurations by (phase, batch, length) and
ops by name, describe each side's samples, put a confidence interval on the NEW/BASE ratio, and give a
verdict: regression, improvement, unchanged or inconclusive.

Samples (the hierarchical view of Kalibera and Jones, "Rigorous benchmarking in reasonable time", 2013): the
unit of replication is the process. When both sides hold at least two processes (runs in a folder, or the
processes of a ``profile --repeat N`` file), each contributes one value (its median) and the interval comes from
the variation between processes. Otherwise the raw per-repetition samples are compared, pooled over a side's
runs; their interval cannot see run-to-run variation, so a change counts only beyond a run-to-run noise floor
and the output carries ``CAVEAT``.

The gate: only user-level metrics (TPOT, TTFT, tokens/s, achieved bandwidth) decide the exit code by default;
per-op times and the roofline fraction are reported, and gate when named with ``metrics`` (``-M``) or, for
ops, with ``gate_ops``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from llmroof.compare import stats
from llmroof.compare.differences import (
    ceiling_movement,
    check_pooled_models,
    differences,
)
from llmroof.compare.load import Run, RunConfig, Side, TimedOp, load_side
from llmroof.compare.metrics import (
    NOISE_FLOOR,
    Metric,
    repetition_values,
    run_value,
    select,
)
from llmroof.errors import LlmroofError
from llmroof.results.records.compare import (
    CompareRecord,
    CompareRow,
    CompareSettingsSummary,
    Difference,
    NoiseSummary,
    SampleSummary,
    SideRoofline,
    SideSummary,
)

VERDICTS = ("regression", "inconclusive", "improvement", "unchanged")  # worst first
FAIL_ON = ("regression", "inconclusive", "never")
CAVEAT = (
    "one run per side: the intervals come from repetitions within a single process, which share its "
    "state (clocks, allocator, other load), so they cannot see run-to-run variation; a change counts only "
    "beyond the run-to-run noise floor; profile with --repeat 3 (or compare folders of runs) for a gate "
    "that can see it"
)
EXIT_OK, EXIT_REGRESSION, EXIT_BAD_INPUT, EXIT_INCONCLUSIVE = 0, 1, 2, 3


@dataclass(frozen=True, kw_only=True)
class CompareSettings:
    threshold: float = 0.05
    """Smallest change that counts, as a fraction: worse by more than a factor 1 + threshold (TPOT x 1.05,
    tokens/s / 1.05), so a time and its rate always agree."""
    confidence: float = 0.95
    """Of the ratio's interval and of each side's median interval."""
    min_samples: int = 3
    """Fewer samples on a side make its verdicts inconclusive."""
    max_cv: float = 0.25
    """A coefficient of variation above this on a side makes its verdicts inconclusive."""
    metrics: tuple[str, ...] = ()
    """Metric names to compare; empty: all."""
    allow_mismatch: bool = False
    """Compare runs of different models, devices or workloads anyway."""
    noise_floor: float = NOISE_FLOOR
    """With one process a side: the run-to-run change those samples cannot rule out (a fraction); a
    regression's whole interval must lie beyond it. Raised to the movement of the measured ceilings between
    the sides when that is larger."""
    gate_ops: bool = False
    """Per-op times decide the exit code too (by default they are reported only)."""

    def __post_init__(self) -> None:
        if not 0 <= self.threshold < 10:
            raise LlmroofError(
                f"--threshold {self.threshold:.0%}: expected a change between 0% and 1000%"
            )
        if not 0.5 <= self.confidence < 1:
            raise LlmroofError(
                f"confidence {self.confidence}: expected a level in [0.5, 1), e.g. 0.95"
            )
        if self.min_samples < 2:
            raise LlmroofError(
                f"--min-samples {self.min_samples}: an interval needs at least 2 samples a side"
            )
        if self.max_cv <= 0:
            raise LlmroofError(f"--max-cv {self.max_cv}: expected a positive fraction, e.g. 0.25")
        if not 0 <= self.noise_floor < 10:
            raise LlmroofError(
                f"--noise-floor {self.noise_floor:.0%}: expected a change between 0% and 1000%"
            )
        select(self.metrics)  # unknown names fail here, before any file is read

    def gates(self, metric: Metric) -> bool:
        """Whether ``metric`` decides the exit code: every metric named with ``metrics``; by default the
        user-level ones, and per-op times with ``gate_ops``."""
        if self.metrics:
            return metric.name in self.metrics
        return metric.user_level or (metric.per_op and self.gate_ops)


@dataclass(frozen=True)
class Key:
    """A configuration (op None) or one op of it."""

    phase: str
    batch: int
    length: int
    op: str | None = None
    group: str = ""
    """The model (and device, workload) when a side holds runs of several: configurations match within it."""

    def label(self) -> str:
        text = (
            f"{self.phase} b={self.batch} {'s' if self.phase == 'prefill' else 'c'}={self.length}"
        )
        text = f"{self.group} {text}" if self.group else text
        return text if self.op is None else f"{text} {self.op}"

    def config_key(self) -> Key:
        return Key(self.phase, self.batch, self.length, group=self.group)


@dataclass(frozen=True)
class Row:
    key: Key
    metric: Metric
    base: stats.SideStats
    new: stats.SideStats
    interval: stats.RatioInterval | None
    verdict: str
    reason: str
    gates: bool = True
    """Whether this row decides the exit code (otherwise it is reported only)."""

    def record(self) -> CompareRow:
        """The row as ``llmroof.compare/1`` writes it."""
        key, interval = self.key, self.interval
        prefill = key.phase == "prefill"
        return CompareRow(
            benchmark=key.label(),
            phase=key.phase,
            batch=key.batch,
            prompt_len=key.length if prefill else None,
            context_len=None if prefill else key.length,
            op=key.op,
            metric=self.metric.name,
            label=self.metric.label,
            better=self.metric.better,
            unit=self.metric.unit,
            base=_summary(self.base),
            new=_summary(self.new),
            ratio=None if interval is None else interval.ratio,
            ratio_low=None if interval is None else interval.low,
            ratio_high=None if interval is None else interval.high,
            welch_df=None if interval is None else interval.df,
            verdict=self.verdict,
            reason=self.reason,
            gates=self.gates,
        )


def _summary(side: stats.SideStats) -> SampleSummary:
    return SampleSummary(
        n=side.n,
        median=side.median,
        median_low=side.low,
        median_high=side.high,
        median_interval_coverage=side.coverage,
        cv=side.cv,
    )


@dataclass(frozen=True)
class Point:
    """One configuration on the roofline, both sides: arithmetic intensity and achieved FLOP/s at the
    side's median time."""

    key: Key
    intensity_flops_per_byte: float
    base_flops_per_s: float
    new_flops_per_s: float


@dataclass(frozen=True)
class Comparison:
    settings: CompareSettings
    base: SideSummary
    new: SideSummary
    basis: str
    """"repetitions" (raw samples of one run a side) or "runs" (one median per run)."""
    caveat: str | None
    differences: tuple[Difference, ...]
    rows: tuple[Row, ...]
    unmatched: tuple[str, ...]
    points: tuple[Point, ...] = field(default=())
    noise_floor: float | None = None
    """The run-to-run change the comparison could not rule out (a fraction): with one process a side, the
    larger of the setting and the ceilings' movement; with repeated processes, the ceilings' movement."""
    ceiling_movement: float = 0.0

    def counts(self) -> dict[str, int]:
        """Verdicts of the rows that gate."""
        return {v: sum(1 for r in self.rows if r.gates and r.verdict == v) for v in VERDICTS}

    def reported_counts(self) -> dict[str, int]:
        """Verdicts of the rows that are reported only."""
        return {v: sum(1 for r in self.rows if not r.gates and r.verdict == v) for v in VERDICTS}

    def gate_labels(self) -> list[str]:
        return list(dict.fromkeys(r.metric.label for r in self.rows if r.gates))

    def verdict(self) -> str:
        """The worst verdict of any gating row: regression, then inconclusive, improvement, unchanged."""
        counts = self.counts()
        return next((v for v in VERDICTS if counts[v]), "unchanged")

    def exit_code(self, fail_on: str) -> int:
        """0 no regression, 1 regression, 3 inconclusive (only with ``fail_on="inconclusive"``)."""
        if fail_on not in FAIL_ON:
            raise ValueError(f"fail_on must be one of {FAIL_ON}")
        counts = self.counts()
        if fail_on == "never":
            return EXIT_OK
        if counts["regression"]:
            return EXIT_REGRESSION
        if fail_on == "inconclusive" and counts["inconclusive"]:
            return EXIT_INCONCLUSIVE
        return EXIT_OK

    def record(self) -> CompareRecord:
        """The ``llmroof.compare/1`` record: what ``--format json`` writes and ``llmroof.load()``
        reads."""
        s = self.settings
        return CompareRecord(
            verdict=self.verdict(),
            counts=self.counts(),
            reported_counts=self.reported_counts(),
            gate=tuple(sorted({r.metric.name for r in self.rows if r.gates})),
            settings=CompareSettingsSummary(
                threshold=s.threshold,
                confidence=s.confidence,
                min_samples=s.min_samples,
                max_cv=s.max_cv,
                metrics=tuple(m.name for m in select(s.metrics)),
                allow_mismatch=s.allow_mismatch,
                noise_floor=s.noise_floor,
                gate_ops=s.gate_ops,
            ),
            noise=NoiseSummary(
                floor=self.noise_floor,
                ceiling_movement=self.ceiling_movement,
                unit_of_replication="process" if self.basis == "runs" else "repetition",
            ),
            method=METHOD | {"basis": self.basis},
            caveat=self.caveat,
            base=self.base,
            new=self.new,
            differences=self.differences,
            rows=tuple(r.record() for r in self.rows),
            unmatched=self.unmatched,
        )


METHOD = {
    "ratio": "NEW/BASE of geometric means; interval from Welch's t on log values",
    "regression": (
        "the whole interval is worse than no change by more than the threshold (and, "
        "where set, the noise floor)"
    ),
    "median_interval": "order statistics (distribution-free)",
    "cv": "sqrt(exp(var(log x)) - 1), the log-normal coefficient of variation",
    "basis": "",
    "full_depth_samples": (
        "t_stack + (L - N) t_layer, the i-th fastest stack repetition with "
        "the i-th fastest layer repetition"
    ),
}
"""The statistics, in words (``method`` of the file; ``basis`` is the comparison's)."""


# --- verdicts ---------------------------------------------------------------------------------------


def verdict(
    metric: Metric,
    base: stats.SideStats,
    new: stats.SideStats,
    interval: stats.RatioInterval | None,
    settings: CompareSettings,
    noise_floor: float | None = None,
) -> tuple[str, str]:
    """(verdict, reason). A regression (improvement) needs its whole interval beyond the threshold: worse
    (better) by more than it with the interval's confidence, not merely "some change" -- which keeps the gate
    from crying wolf on noise. With ``noise_floor`` (one process a side), the interval must also lie beyond
    that run-to-run change. Too few samples or too much noise on either side is inconclusive, and so is a
    point estimate beyond the threshold that the interval does not establish."""
    problems = []
    few = [
        f"{name} n={side.n}"
        for name, side in (("base", base), ("new", new))
        if side.n < settings.min_samples
    ]
    if few:
        problems.append(f"few samples: {', '.join(few)} < {settings.min_samples}")
    noisy = [
        f"{name} CV {side.cv:.0%}"
        for name, side in (("base", base), ("new", new))
        if side.cv > settings.max_cv
    ]
    if noisy:
        problems.append(f"noisy: {', '.join(noisy)} > {settings.max_cv:.0%}")
    if problems or interval is None:
        return "inconclusive", "; ".join(problems) or "no ratio: a value is zero"
    # Factors > 1: got worse. The interval as "worse" factors: [best case, worst case].
    if metric.better == "lower":
        worse, worse_low, worse_high = interval.ratio, interval.low, interval.high
    else:
        worse, worse_low, worse_high = 1 / interval.ratio, 1 / interval.high, 1 / interval.low
    limit = 1 + settings.threshold
    floor = max(settings.threshold, noise_floor or 0.0)
    beyond = f"beyond {settings.threshold:.0%}"
    if worse > limit or worse < 1 / limit:
        if math.isnan(worse_low) or math.isnan(worse_high):
            return "inconclusive", "no interval"
        if worse_low > 1 + floor:
            return (
                "regression",
                beyond if floor == settings.threshold else f"beyond the {floor:.0%} noise floor",
            )
        if worse_high < 1 / (1 + floor):
            return (
                "improvement",
                beyond if floor == settings.threshold else f"beyond the {floor:.0%} noise floor",
            )
        if not interval.excludes_one():
            return "inconclusive", "interval includes no change"
        if (worse_low > limit or worse_high < 1 / limit) and floor > settings.threshold:
            return "inconclusive", f"within the {floor:.0%} run-to-run noise floor"
        return "inconclusive", f"interval reaches within {settings.threshold:.0%}"
    if interval.excludes_one():
        return "unchanged", f"significant, but within {settings.threshold:.0%}"
    return "unchanged", "no significant change"


# --- the comparison ---------------------------------------------------------------------------------


def compare_paths(base: str | Path, new: str | Path, settings: CompareSettings) -> Comparison:
    return compare_sides(load_side("BASE", base), load_side("NEW", new), settings)


def compare_sides(base: Side, new: Side, settings: CompareSettings) -> Comparison:
    check_pooled_models(base)
    check_pooled_models(new)
    found = differences(base, new, settings.threshold)
    blocking = [d for d in found if d.blocking]
    if blocking and not settings.allow_mismatch:
        shown = "; ".join(d.describe() for d in blocking[:6])
        more = f"; and {len(blocking) - 6} more" if len(blocking) > 6 else ""
        raise LlmroofError(
            f"BASE and NEW are not the same model, device and workload: {shown}{more}",
            "compare like with like, or pass --allow-mismatch",
        )
    groups = group_labels(base, new)
    basis = (
        "runs"
        if all(
            min(_count(side, groups, label) for side in (base, new)) >= 2
            for label in set(groups.values())
        )
        else "repetitions"
    )
    movement = ceiling_movement(base, new)
    floor = max(settings.noise_floor, movement) if basis == "repetitions" else movement
    base_configs, new_configs = _configs(base, groups), _configs(new, groups)
    matched = [k for k in base_configs if k in new_configs]
    unmatched = [
        f"{k.label()}: only in {'BASE' if k in base_configs else 'NEW'}"
        for k in list(base_configs) + list(new_configs)
        if (k in base_configs) != (k in new_configs)
    ]
    if not matched:
        raise LlmroofError(
            "BASE and NEW have no configuration in common (phase, batch and length)",
            "profile both with the same --batch, --prompt and --context",
        )
    metrics = select(settings.metrics)
    rows = []  # configuration metrics first, grouped by configuration; then per-op times
    for key in matched:
        rows += [
            _row(key, metric, base_configs[key], new_configs[key], basis, settings, floor)
            for metric in metrics
            if not metric.per_op and key.phase in metric.phases
        ]
    for metric in (m for m in metrics if m.per_op):
        for key in (k for k in matched if k.phase in metric.phases):
            op_names = _op_names(base_configs[key], new_configs[key], unmatched, key)
            rows += [
                _row(
                    Key(key.phase, key.batch, key.length, name, key.group),
                    metric,
                    base_configs[key],
                    new_configs[key],
                    basis,
                    settings,
                    floor,
                )
                for name in op_names
            ]
    if not rows:
        raise LlmroofError(
            f"nothing to compare: {', '.join(m.name for m in metrics)} measure "
            f"{' and '.join(sorted({p for m in metrics for p in m.phases}))}, and BASE and NEW share "
            f"only {', '.join(k.label() for k in matched)}",
            "choose other --metric names",
        )
    return Comparison(
        settings=settings,
        base=_info(base),
        new=_info(new),
        basis=basis,
        caveat=CAVEAT if basis == "repetitions" else None,
        differences=tuple(found),
        rows=tuple(rows),
        unmatched=tuple(unmatched),
        points=tuple(_points(matched, base_configs, new_configs)),
        noise_floor=floor or None,
        ceiling_movement=movement,
    )


Found = list[tuple[Run, RunConfig]]
"""A configuration's records, one per run that measured it."""


def group_labels(base: Side, new: Side) -> dict[int, str]:
    """Each run's group (by ``id(run)``): "" when all runs measured the same model, device and workload, or
    when the sides hold different sets of them (compared pooled, under --allow-mismatch); otherwise the model's
    name, with the dtype, layers and device added where names alone are ambiguous."""
    from llmroof.compare.differences import identity

    runs = [*base.runs, *new.runs]
    identities = {identity(r) for r in runs}
    if len(identities) <= 1 or {identity(r) for r in base.runs} != {identity(r) for r in new.runs}:
        return {id(r): "" for r in runs}

    def describe(run: Run, depth: int) -> str:
        parts = [
            run.model_name,
            run.dtype,
            f"{run.layers_instantiated}/{run.layers_total} layers",
            run.device_name,
        ]
        return " ".join(str(p) for p in parts[:depth])

    for depth in range(1, 5):
        labels = {identity(r): describe(r, depth) for r in runs}
        if len(set(labels.values())) == len(identities):
            return {id(r): labels[identity(r)] for r in runs}
    order = sorted(identities)
    return {id(r): f"{describe(r, 1)} #{order.index(identity(r)) + 1}" for r in runs}


def _count(side: Side, groups: dict[int, str], label: str) -> int:
    return sum(1 for r in side.runs if groups[id(r)] == label)


def _configs(side: Side, groups: dict[int, str] | None = None) -> dict[Key, Found]:
    found: dict[Key, Found] = {}
    for run in side.runs:
        group = groups.get(id(run), "") if groups else ""
        for config in run.ok_configs():
            found.setdefault(
                Key(config.phase, config.batch, config.length, group=group), []
            ).append((run, config))
    return found


def _op_names(base: Found, new: Found, unmatched: list[str], key: Key) -> list[str]:
    base_ops = dict.fromkeys(name for _, c in base for name in c.timed_ops())
    new_ops = dict.fromkeys(name for _, c in new for name in c.timed_ops())
    for name in base_ops.keys() ^ new_ops.keys():
        unmatched.append(f"{key.label()} {name}: only in {'BASE' if name in base_ops else 'NEW'}")
    return [name for name in base_ops if name in new_ops]


def _values(found: Found, key: Key, metric: Metric, basis: str) -> list[float]:
    values: list[float] = []
    for run, config in found:
        op: TimedOp | None = config.timed_ops().get(key.op) if key.op else None
        if key.op and op is None:
            continue
        if basis == "runs":
            values.append(run_value(metric, config, op))
        else:
            values += repetition_values(metric, config, run.extra_layers, op)
    return values


def _row(
    key: Key,
    metric: Metric,
    base: Found,
    new: Found,
    basis: str,
    settings: CompareSettings,
    noise_floor: float | None = None,
) -> Row:
    base_values, new_values = _values(base, key, metric, basis), _values(new, key, metric, basis)
    base_stats = stats.describe(base_values, settings.confidence)
    new_stats = stats.describe(new_values, settings.confidence)
    interval = None
    if (
        min(base_values + new_values) <= 0
    ):  # a zero rate (an op without bytes): no ratio to speak of
        pass
    elif len(base_values) >= 2 and len(new_values) >= 2:
        interval = stats.ratio_interval(base_values, new_values, settings.confidence)
    else:  # too few for an interval (the verdict says so), but the point estimate still helps the reader
        ratio = statistics.median(new_values) / statistics.median(base_values)
        interval = stats.RatioInterval(ratio, math.nan, math.nan, settings.confidence, math.nan)
    name, reason = verdict(metric, base_stats, new_stats, interval, settings, noise_floor)
    return Row(
        key=key,
        metric=metric,
        base=base_stats,
        new=new_stats,
        interval=interval,
        verdict=name,
        reason=reason,
        gates=settings.gates(metric),
    )


def _info(side: Side) -> SideSummary:
    first = side.runs[0]
    rooflines = [r.measured_roofline for r in side.runs if r.measured_roofline is not None]
    return SideSummary(
        label=side.label,
        path=str(side.path),
        runs=len(side.runs),
        files=tuple(
            str(r.path) + ("" if r.process is None else f"#process{r.process}") for r in side.runs
        ),
        model=", ".join(dict.fromkeys(r.model_name for r in side.runs)),
        device=f"{first.device_name} ({first.device_kind})",
        dtype=first.dtype,
        layers=f"{first.layers_instantiated} of {first.layers_total}",
        statuses=tuple(r.status for r in side.runs),
        times_utc=tuple(r.time_utc for r in side.runs),
        roofline=SideRoofline(
            peak_flops_per_s=_median_of([r.peak_flops_per_s for r in rooflines]),
            bandwidth_bytes_per_s=_median_of([r.bandwidth_bytes_per_s for r in rooflines]),
        ),
    )


def _median_of(figures: list[float | None]) -> float | None:
    """The median of a measured ceiling over the runs that have it."""
    known = [f for f in figures if f is not None]
    return statistics.median(known) if known else None


def _points(matched: Sequence[Key], base: dict[Key, Found], new: dict[Key, Found]) -> list[Point]:
    points = []
    for key in matched:
        analytic = base[key][0][1]
        if not analytic.bytes or not analytic.flops:
            continue
        base_time = statistics.median(c.time_s for _, c in base[key])
        new_time = statistics.median(c.time_s for _, c in new[key])
        points.append(
            Point(
                key=key,
                intensity_flops_per_byte=analytic.flops / analytic.bytes,
                base_flops_per_s=analytic.flops / base_time,
                new_flops_per_s=analytic.flops / new_time,
            )
        )
    return points
