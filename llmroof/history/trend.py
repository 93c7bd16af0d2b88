"""The history's use cases: :func:`add_files` (``history add``), :func:`trends` (``history show`` and
``history check``: each series with its change points, as a :class:`HistoryRecord`; from a
database named by the command line: :func:`read_trends`) and
:func:`export_rows` (``history export``: CSV in the layout Apache Otava reads)."""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from llmroof.errors import LlmroofError
from llmroof.history.detect import DetectSettings, analyse
from llmroof.history.store import Point, Provenance, RunIn, SeriesKey, Store, redact
from llmroof.results.records.history import (
    HistoryChange,
    HistoryPoint,
    HistoryRecord,
    HistorySeries,
)

METHOD = {
    "detection": (
        "seeded binary segmentation (Kovacs et al. 2020) of the CUSUM statistic on log values, then "
        "binary segmentation between the changes found; outliers clipped at 5 robust SDs from a "
        "running median; AR(1) noise whitened with rho from the lag-1/lag-2 absolute differences "
        "(Chakar et al. 2017) and the residuals' autocorrelation around the segments"
    ),
    "threshold": (
        "false-alarm budget alpha per series, shared over the seeded intervals (then over the "
        "segments); in each, the tail of the maximum CUSUM (James, James and Siegmund 1987) read as "
        "Student's t with the long-run scale's degrees of freedom"
    ),
    "interval": "ratio of the segments' geometric means, normal interval with the long-run noise",
    "unit_of_replication": "process: one value per process of a run",
}


@dataclass(frozen=True, kw_only=True)
class Selection:
    """Which series: exact or substring filters (empty: all)."""

    machine: str | None = None
    config: str | None = None
    """A substring of the configuration label."""
    metrics: tuple[str, ...] = ()
    branch: str | None = None
    """Only runs of this branch."""
    last: int | None = None
    """Only the newest N points of each series."""


def add_files(
    store: Store, paths: Sequence[str | Path], provenance: Provenance, machine: str | None = None
) -> list[tuple[RunIn, bool]]:
    """Read every file first (a bad one stops before anything is written), then add all in one transaction."""
    from llmroof.history.extract import runs_of_file

    runs = [run for path in paths for run in runs_of_file(path, machine)]
    return list(zip(runs, store.add(runs, provenance)))


@dataclass(frozen=True, kw_only=True)
class Added:
    """What ``history add`` did."""

    database: str
    """The database, as shown (a URL without its password)."""
    provenance: Provenance
    """Commit, branch and time the runs were stored with."""
    new_runs: int
    """Runs stored now."""
    new_values: int
    """Their values."""
    known_runs: int
    """Runs that were there already (the same file added before)."""


def add_to_history(
    db: str | None,
    paths: Sequence[str | Path],
    provenance: Provenance,
    *,
    machine: str | None = None,
    timeout_s: float = 30.0,
) -> Added:
    """Read and check every file, then open (or create) the database and add them in one transaction: a
    bad file leaves no database behind."""
    from llmroof.history.extract import runs_of_file
    from llmroof.history.store import open_store

    runs = [run for path in paths for run in runs_of_file(path, machine)]
    with open_store(db, create=True, timeout_s=timeout_s) as store:
        fresh = store.add(runs, provenance)
    return Added(
        database=redact(store.where.removeprefix("history ")),
        provenance=provenance,
        new_runs=sum(fresh),
        new_values=sum(len(r.points) for r, f in zip(runs, fresh) if f),
        known_runs=len(runs) - sum(fresh),
    )


def _history_point(point: Point) -> HistoryPoint:
    return HistoryPoint(
        commit=point.commit,
        branch=point.branch,
        time_utc=point.time_utc,
        value=point.value,
        process=point.process,
    )


def _series(
    key: SeriesKey,
    points: list[Point],
    settings: DetectSettings,
    threshold: float,
    since_utc: str | None,
    gate: bool,
) -> HistorySeries:
    found, noise = analyse([p.value for p in points], settings)
    changes = []
    for change in found:
        worse = change.ratio - 1 if key.better == "lower" else 1 / change.ratio - 1
        first, before = points[change.index], points[change.index - 1]
        changes.append(
            HistoryChange(
                index=change.index,
                commit=first.commit,
                previous_commit=before.commit,
                time_utc=first.time_utc,
                direction="regression" if worse > 0 else "improvement",
                before_median=change.before_median,
                after_median=change.after_median,
                ratio=change.ratio,
                ratio_low=change.ratio_low,
                ratio_high=change.ratio_high,
                worse_fraction=worse,
                confidence=change.confidence,
                statistic=change.statistic,
                points_before=change.points_before,
                points_after=change.points_after,
            )
        )
    latest = changes[-1] if changes else None
    gating = bool(
        gate
        and latest
        and latest.direction == "regression"
        and latest.worse_fraction > threshold
        and (since_utc is None or latest.time_utc >= since_utc)
    )
    return HistorySeries(
        machine=key.machine,
        config=key.config,
        metric=key.metric,
        better=key.better,
        unit=key.unit,
        points=tuple(_history_point(p) for p in points),
        rho=None if noise is None else noise.rho,
        sigma=None if noise is None else noise.sigma,
        changes=tuple(changes),
        latest=latest,
        gating=gating,
    )


def select_series(store: Store, selection: Selection) -> list[tuple[int, SeriesKey]]:
    found = []
    for series_id, key in store.series(machine=selection.machine):
        if selection.config and selection.config not in key.config:
            continue
        if selection.metrics and key.metric not in selection.metrics:
            continue
        found.append((series_id, key))
    return found


def trends(
    store: Store,
    selection: Selection,
    settings: DetectSettings,
    *,
    command: str = "show",
    threshold: float = 0.05,
    since: str | None = None,
) -> HistoryRecord:
    """Every selected series with its change points; for ``check``, which gate (a regression beyond
    ``threshold`` whose newest change began at or after ``since``)."""
    since_utc = resolve_since(store, since) if since else None
    series = []
    for series_id, key in select_series(store, selection):
        points = store.points(series_id, last=selection.last, branch=selection.branch)
        if points:
            series.append(
                _series(key, points, settings, threshold, since_utc, gate=command == "check")
            )
    if not series:
        raise LlmroofError(
            f"{store.where}: no series matches", "list them with llmroof history show"
        )
    return HistoryRecord(
        command=command,
        database=redact(store.where),
        since=since,
        since_time_utc=since_utc,
        verdict="regression" if any(s.gating for s in series) else "ok",
        series=tuple(series),
        method=METHOD,
        settings={
            "alpha": settings.alpha,
            "min_segment": settings.min_segment,
            "min_size": settings.min_size,
            "confidence": settings.confidence,
            "threshold": threshold,
            "machine": selection.machine,
            "config": selection.config,
            "metrics": list(selection.metrics),
            "branch": selection.branch,
            "last": selection.last,
        },
    )


def read_trends(
    db: str | None,
    selection: Selection,
    settings: DetectSettings,
    *,
    command: str = "show",
    threshold: float = 0.05,
    since: str | None = None,
) -> HistoryRecord:
    """:func:`trends` of the history at ``db`` (None: ``$LLMROOF_HISTORY``, else the default file),
    opened read-only; ``check`` gates by default on the changes since the merge base with main."""
    from llmroof.history.store import open_store

    if command == "check" and not since:
        from llmroof.history.provenance import merge_base

        since = merge_base()
    with open_store(db, readonly=True) as store:
        return trends(store, selection, settings, command=command, threshold=threshold, since=since)


def resolve_since(store: Store, since: str) -> str:
    """``--since`` as a UTC time: ``14d`` (days ago), an ISO date or time, or a commit (its first run in
    the history, else its time in git)."""
    from llmroof.history.provenance import _git, parse_time

    days = re.fullmatch(r"(\d+)d", since.strip())
    if days:
        when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(
            days=int(days.group(1))
        )
        return when.isoformat(timespec="seconds")
    if re.fullmatch(r"\d{4}-\d\d-\d\d.*", since.strip()):
        return parse_time(since)
    first = store.first_time_of_commit(since)
    if first:
        return first
    stamp = _git("show", "-s", "--format=%cI", since)
    if stamp:
        return parse_time(stamp)
    raise LlmroofError(
        f"--since {since!r}: not a commit of the history or of git, a date, or Nd",
        "pass a commit, 2026-05-01, or 14d",
    )


def export_rows(record: HistoryRecord) -> list[dict[str, object]]:
    """One row per run time, one column per series, as Apache Otava's CSV importer reads it: a ``time``
    column, a ``commit`` attribute column, then the metrics (``otava analyze`` with ``--csv``-style config
    naming them). Processes of one run are separate rows."""
    columns = [_column(s) for s in record.series]
    heads: dict[tuple[str, str, int], dict[str, object]] = {}
    values: dict[tuple[str, str, int], dict[str, object]] = {}
    for series, column in zip(record.series, columns):
        for point in series.points:
            key = (point.time_utc, point.commit, point.process)
            heads.setdefault(
                key, {"time": point.time_utc, "commit": point.commit, "branch": point.branch}
            )
            values.setdefault(key, {})[column] = point.value
    names = list(dict.fromkeys(columns))
    return [
        {**heads[key], **{n: values[key].get(n) for n in names}}
        for key in sorted(heads, key=lambda key: (key[0], key[2]))
    ]


def _column(series: HistorySeries) -> str:
    text = f"{series.machine}.{series.config}.{series.metric}"
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text)
