"""``llmroof compare --history DB NEW``: a new run against the last N runs of the base branch on the same
machine fingerprint, with compare's own statistics and verdicts (``compare.stats``, ``compare.comparison
.verdict``) and its outputs (a :class:`~llmroof.compare.comparison.Comparison`).

BASE is the history: one value per stored run (the unit of replication is the process). NEW with two or
more processes (``profile --repeat``) contributes one value per process; NEW with one process contributes
its timing repetitions, which cannot see run-to-run variation, so the output carries compare's caveat. In
both cases the noise floor is the base's own spread, the 90th over the 10th percentile of its runs, minus
one: measured run-to-run variation on this machine, which replaces compare's default floor (a guess for
when nothing better is known). A change must lie beyond what the base branch's recent runs already vary by.
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmroof.compare import stats
from llmroof.compare.comparison import (
    CAVEAT,
    CompareSettings,
    Comparison,
    Key,
    Row,
    verdict,
)
from llmroof.compare.load import Run, RunConfig, load_runs
from llmroof.compare.metrics import (
    Metric,
    repetition_values,
    run_value,
    select,
)
from llmroof.errors import LlmroofError
from llmroof.history.extract import machine_of, run_config_label
from llmroof.history.store import Store
from llmroof.measure.stats import quantile
from llmroof.results.records.compare import SideSummary

BASE_BRANCH_VARIABLES = (
    "GITHUB_BASE_REF",
    "CI_MERGE_REQUEST_TARGET_BRANCH_NAME",
    "BUILDKITE_PULL_REQUEST_BASE_BRANCH",
)


@dataclass(frozen=True, kw_only=True)
class HistoryBase:
    """Which runs of the history are BASE."""

    runs: int = 10
    """The newest N runs of the base branch."""
    branch: str | None = None
    """The base branch; None: the CI's base-branch variable, else ``main``, else ``master``."""

    def __post_init__(self) -> None:
        if self.runs < 2:
            raise LlmroofError(
                f"--history-runs {self.runs}: the base's spread needs at least 2 runs"
            )


def base_branch(store: Store, wanted: str | None, environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    if wanted:
        return wanted
    named = next((env[v] for v in BASE_BRANCH_VARIABLES if env.get(v)), None)
    return named or (
        "main" if store.has_branch("main") or not store.has_branch("master") else "master"
    )


def spread(values: list[float]) -> float:
    """q90 / q10 - 1 of the base's runs: how much they already vary."""
    ordered = sorted(values)
    low, high = quantile(ordered, 0.1), quantile(ordered, 0.9)
    return high / low - 1 if low > 0 else math.inf


def compare_with_history(
    store: Store, new: str | Path, settings: CompareSettings, base: HistoryBase | None = None
) -> Comparison:
    base = base or HistoryBase()
    path = Path(new) / "results.json" if Path(new).is_dir() else Path(new)
    runs = load_runs(path)
    branch = base_branch(store, base.branch)
    machine = machine_of(runs[0])
    series = {(k.config, k.metric): sid for sid, k in store.series(machine=machine)}
    basis = "runs" if len(runs) >= 2 else "repetitions"
    rows: list[Row] = []
    unmatched: list[str] = []
    floors: list[float] = []
    base_times: set[str] = set()
    for config in runs[0].ok_configs():
        for metric in select(settings.metrics):
            if config.phase not in metric.phases:
                continue
            ops = [op.name for op in config.ops] if metric.per_op else [None]
            for op in ops:
                label = run_config_label(runs[0], config, op)
                sid = series.get((label, metric.name))
                points = store.points(sid, last=base.runs, branch=branch) if sid is not None else []
                if len(points) < 2:
                    unmatched.append(
                        f"{label} {metric.name}: {len(points)} run(s) of {branch} in the history"
                    )
                    continue
                base_values = [p.value for p in points]
                base_times.update(p.time_utc for p in points)
                new_values = _new_values(runs, config, metric, op, basis)
                floor = spread(
                    base_values
                )  # measured run-to-run noise: it replaces compare's default guess
                floors.append(floor)
                key = Key(config.phase, config.batch, config.length, op)
                rows.append(_row(key, metric, base_values, new_values, settings, floor))
    if not rows:
        raise LlmroofError(
            f"{path}: no configuration of it has 2 or more runs of {branch} on machine {machine} "
            f"in {store.where}",
            "add the base branch's runs with llmroof history add, or pass --base-branch",
        )
    first = runs[0]
    info: dict[str, Any] = {
        "model": first.model_name,
        "device": f"{first.device_name} ({first.device_kind})",
        "dtype": first.dtype,
        "layers": f"{first.layers_instantiated} of {first.layers_total}",
    }
    base_info = SideSummary(
        label="BASE",
        path=f"{store.where} ({branch}, last {base.runs} runs, machine {machine})",
        runs=min(
            base.runs,
            max(
                (len(store.points(s, last=base.runs, branch=branch)) for s in series.values()),
                default=0,
            ),
        ),
        files=(),
        statuses=(),
        times_utc=tuple(sorted(base_times)),
        **info,
    )
    new_info = SideSummary(
        label="NEW",
        path=str(path),
        runs=len(runs),
        files=(str(path),),
        statuses=tuple(r.status for r in runs),
        times_utc=tuple(r.time_utc for r in runs),
        **info,
    )
    return Comparison(
        settings=settings,
        base=base_info,
        new=new_info,
        basis=basis,
        caveat=CAVEAT if basis == "repetitions" else None,
        differences=(),
        rows=tuple(rows),
        unmatched=tuple(unmatched),
        noise_floor=max(floors) if floors else None,
    )


def _new_values(
    runs: list[Run], config: RunConfig, metric: Metric, op: str | None, basis: str
) -> list[float]:
    """NEW's values of this configuration (and op): one per process, or one process's repetitions."""
    values: list[float] = []
    for run in runs:
        match = next((c for c in run.ok_configs() if c.shape() == config.shape()), None)
        if match is None:
            continue
        timed = match.timed_ops()
        if op is not None and op not in timed:
            continue
        entry = timed.get(op) if op else None
        if basis == "runs":
            values.append(run_value(metric, match, entry))
        else:
            values += repetition_values(metric, match, run.extra_layers, entry)
    return values


def _row(
    key: Key,
    metric: Metric,
    base_values: list[float],
    new_values: list[float],
    settings: CompareSettings,
    floor: float,
) -> Row:
    base_stats = stats.describe(base_values, settings.confidence)
    new_stats = stats.describe(new_values, settings.confidence)
    interval = None
    if min(base_values + new_values) > 0 and len(new_values) >= 2:
        interval = stats.ratio_interval(base_values, new_values, settings.confidence)
    elif min(base_values + new_values) > 0:
        ratio = statistics.median(new_values) / statistics.median(base_values)
        interval = stats.RatioInterval(ratio, math.nan, math.nan, settings.confidence, math.nan)
    name, reason = verdict(metric, base_stats, new_stats, interval, settings, floor)
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
