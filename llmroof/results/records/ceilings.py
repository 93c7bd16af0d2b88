"""``llmroof.ceilings/1``: this machine's calibrated roofs (``llmroof ceilings --format json``): the memory roof
of every level, the compute roof of every dtype, and the dispatch floor (the third wall), with the figures
they come from (``caches``, ``bandwidth``, ``compute``, ``method``) and where the calibration came from
(:class:`CalibrationInfo`, which profiles record too); see ``docs/results-schema.md``. Also the records of
the calibration itself: its figures, the drift checks against it, and the cache file that keeps it.

Keys are written as the record's fields in order, then the others as read: a field declared here must
come, in the file, before every key that is not. One exception keeps the files' bytes: a null
``dispatch_floor_s`` (calibrations made before it was measured) is written after ``elapsed_s``, where
such files have it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llmroof import schemas
from llmroof.errors import LlmroofError
from llmroof.results.records.base import Record, by_key, late, one, opt, seq


def median(ordered: list[float]) -> float:
    """The median of a sorted, non-empty list."""
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


@dataclass(frozen=True, kw_only=True)
class CacheLevel(Record):
    """A data (or unified) cache level as the measuring threads see it."""

    name: str
    """``L1``, ``L2``..."""
    capacity_bytes: int
    """Bytes all the measuring threads hold together: one instance's size x the instances they run on."""
    instance_bytes: int
    """One instance's size."""
    instances: int
    """Instances the measuring threads run on."""


@dataclass(frozen=True, kw_only=True)
class BandwidthFigure(Record):
    """One pattern at one working set: the best sample of each round, in bytes/s. Its JSON form writes
    the best, median and min beside the rounds; they are recomputed from the rounds when read."""

    pattern: str
    """``read``, ``write``, ``copy`` or ``triad``."""
    working_set_bytes: int
    rounds_bytes_per_s: tuple[float, ...] = seq()
    """Each round's best sample."""

    @property
    def best_bytes_per_s(self) -> float:
        return max(self.rounds_bytes_per_s)

    @property
    def median_bytes_per_s(self) -> float:
        return median(sorted(self.rounds_bytes_per_s))

    @property
    def min_bytes_per_s(self) -> float:
        return min(self.rounds_bytes_per_s)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"pattern": self.pattern, "working_set_bytes": self.working_set_bytes}
        if self.rounds_bytes_per_s:
            out["best_bytes_per_s"] = self.best_bytes_per_s
            out["median_bytes_per_s"] = self.median_bytes_per_s
            out["min_bytes_per_s"] = self.min_bytes_per_s
        out["rounds_bytes_per_s"] = list(self.rounds_bytes_per_s)
        return out | {k: v for k, v in self.extra.items() if k not in out}


@dataclass(frozen=True, kw_only=True)
class ComputeFigure(Record):
    """The linear kernel in one dtype, n x n by n x n: the best FLOP/s of each round (its JSON form
    writes the best, median and min beside the rounds, recomputed from them when read)."""

    dtype: str
    """``fp32``, ``bf16``, ``fp16``."""
    n: int
    """The operands' size."""
    rounds_flops_per_s: tuple[float, ...] = seq()
    """Each round's best sample."""

    @property
    def best_flops_per_s(self) -> float:
        return max(self.rounds_flops_per_s)

    @property
    def median_flops_per_s(self) -> float:
        return median(sorted(self.rounds_flops_per_s))

    @property
    def min_flops_per_s(self) -> float:
        return min(self.rounds_flops_per_s)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dtype": self.dtype, "n": self.n}
        if self.rounds_flops_per_s:
            out["best_flops_per_s"] = self.best_flops_per_s
            out["median_flops_per_s"] = self.median_flops_per_s
            out["min_flops_per_s"] = self.min_flops_per_s
        out["rounds_flops_per_s"] = list(self.rounds_flops_per_s)
        return out | {k: v for k, v in self.extra.items() if k not in out}


@dataclass(frozen=True, kw_only=True)
class BandwidthProbe(Record):
    """A drift check's probe of one pattern at the DRAM roof's working set, against the calibration's
    rounds of that figure."""

    measured_bytes_per_s: float
    """What the probe measured now."""
    calibration_median_bytes_per_s: float
    calibration_min_bytes_per_s: float
    calibration_max_bytes_per_s: float
    """The calibration's best round of the figure: a probe above it raises the roof."""
    drift_fraction: float
    """measured / the calibration's median - 1 (positive: faster now)."""
    beyond_spread: bool
    """Outside the calibration's [min, max] across rounds, widened by the drift tolerance (5%)."""


@dataclass(frozen=True, kw_only=True)
class ComputeProbe(Record):
    """A drift check's three calls of the linear kernel (informative: a faster one raises the compute
    roof)."""

    n: int
    """The calibrated size whose roof is probed."""
    measured_flops_per_s: float
    calibration_median_flops_per_s: float
    calibration_max_flops_per_s: float
    drift_fraction: float
    """measured / the calibration's median - 1."""


@dataclass(frozen=True, kw_only=True)
class DriftJudgement(Record):
    """A drift check against this machine's recent drift probes (kept in the calibration cache)."""

    warn: bool
    """A pattern moved beyond its usual range."""
    probes: int
    """Earlier probes compared with."""
    range: Mapping[str, list[float]]
    """Pattern -> [low, high] of the earlier probes' drift fractions (patterns with enough of them)."""
    moved: Mapping[str, float]
    """Pattern -> drift fraction, for each that moved beyond its range (or, without enough history,
    beyond the calibration's spread)."""


@dataclass(frozen=True, kw_only=True)
class DriftCheck(Record):
    """A quick probe of the memory roof (and, in a profile, the compute roof of its dtype) against the
    calibration, at the start or end of a run."""

    working_set_bytes: int
    """The DRAM roof's working set, where the probes ran."""
    probes: Mapping[str, BandwidthProbe] = by_key(BandwidthProbe)
    """Pattern (``read``, ``copy``) -> its probe."""
    drift_fraction: float | None
    """The probe that moved most: its drift fraction (None when nothing was probed)."""
    beyond_spread: bool
    """Some probe is beyond the calibration's spread."""
    compute: Mapping[str, ComputeProbe] | None = opt(ComputeProbe, by_key_=True)
    """Dtype -> its probe (empty when none was probed; absent in files made before it was)."""
    history: DriftJudgement | None = opt(DriftJudgement)
    """The judgement against this machine's recent probes (absent in files made before it was)."""
    raised_roof: bool | None = opt()
    """True where a probe beat its figure's best and raised the cached roof."""


@dataclass(frozen=True, kw_only=True)
class DriftChecks(Record):
    """A profile's drift checks at the start and the end of the run."""

    start: DriftCheck | None = one(DriftCheck)
    end: DriftCheck | None = one(DriftCheck)
    """None until the run ends (an interrupted run has none)."""


@dataclass(frozen=True, kw_only=True)
class CalibrationInfo(Record):
    """Where a run's ceilings came from: the calibration cache file, the machine fingerprint it is keyed
    by, when it was measured, whether it was reused; in a profile, the drift checks at the run's start and
    end. The ``calibration`` of ``llmroof.ceilings/1`` and ``llmroof.profile/1`` files.

    Every key but the fingerprint is one a file may lack (files made by other tools, or trimmed, hold only
    the fingerprint): read as None, and then left out again on writing; a calibration made by llmroof
    writes them all, ``note`` as null when there is none."""

    cache_path: str | None = late()
    """The calibration cache file (``$XDG_CACHE_HOME/llmroof/ceilings/<kind>-<fingerprint_id>.json``)."""
    fingerprint: Mapping[str, Any]
    """What the figures depend on (kept as read: its keys depend on the device): CPU or GPU model, UUID
    and driver, host, torch, threads, plan, method version."""
    fingerprint_id: str
    """A hash of the fingerprint: names the machine (the cache file, ``llmroof history``)."""
    measured_at: str | None = late()
    """UTC time of the measurement (ISO 8601)."""
    status: str | None = late()
    """``reused`` (read from the cache), ``measured`` (no cache yet), ``refreshed`` (``--refresh``) or
    ``remeasured`` (the cache file was unusable; ``note`` says why)."""
    note: str | None = late()
    """What the calibration says of itself (a cache re-measured or not updated); None when nothing."""
    plan: str | None = late()
    """The calibration plan (``full``, ``quick``)."""
    method_version: int | None = late()
    """The calibration method's version."""
    drift: DriftChecks | None = opt(DriftChecks)
    """Profiles: the drift checks at the ``start`` and ``end`` of the run."""

    def drift_checks(self) -> list[tuple[str, DriftCheck]]:
        """The drift checks made, as (``start`` or ``end``, the check), in run order."""
        drift = self.drift
        if drift is None:
            return []
        return [(when, d) for when, d in (("start", drift.start), ("end", drift.end)) if d]


@dataclass(frozen=True, kw_only=True)
class CeilingsRecord(Record):
    """A whole ``llmroof.ceilings/1`` file."""

    SCHEMA = schemas.CEILINGS

    device_kind: str
    """``cpu`` or ``cuda``."""
    device_name: str
    threads: int | None
    """CPU threads measured with (None on a GPU)."""
    plan: str
    """Calibration plan (``full``, ``quick``)."""
    memory_bandwidth_bytes_per_s: float
    """DRAM/HBM roof."""
    cache_bandwidth_bytes_per_s: Mapping[str, float] = field(default_factory=dict)
    """Level -> roof; monotone (a level is never slower than one outside it)."""
    compute_flops_per_s: Mapping[str, float] = field(default_factory=dict)
    """Dtype -> compute roof."""
    overhead_bound_levels_bytes_per_s: Mapping[str, float] | None = opt()
    """Levels measured slower than a level outside them (their probes time dispatch): not roofs."""
    dispatch_floor_s: float | None = opt()
    """The third wall: least time of one op dispatch (CPU) or kernel launch (GPU); absent in calibrations
    made before llmroof measured it."""
    calibration: CalibrationInfo | None = opt(CalibrationInfo)
    """Where the figures came from: cache path, fingerprint, when measured, ``status``."""
    # The fields below follow the file's order (they come first among the keys declared after
    # ``calibration``), so that a file reads and writes back as the same bytes.
    memory_bandwidth_pattern: str | None = opt()
    """The pattern that set the DRAM roof (read, write, copy, triad)."""
    memory_bandwidth_working_set_bytes: int | None = opt()
    """The working set at which it was set."""
    memory_bandwidth_spread_bytes_per_s: Mapping[str, float] | None = opt()
    """The DRAM roof's spread over the calibration's rounds (min, median, max)."""
    memory_bandwidth_by_pattern_bytes_per_s: Mapping[str, float | None] | None = opt()
    """Each pattern's best beyond the last-level cache (None: not measured there)."""
    dispatch_rounds_s: tuple[float, ...] | None = opt(seq_=True)
    """The dispatch floor of every round (the floor is the best)."""
    dispatch_kind: str | None = opt()
    """``op dispatch`` (CPU) or ``kernel launch`` (GPU)."""
    cache_capacity_bytes: Mapping[str, int] | None = opt()
    """Level -> capacity."""
    method_version: int | None = opt()
    """The calibration method's version."""
    elapsed_s: float | None = opt()
    """How long the calibration took."""
    method: str | None = opt()
    """How the figures were measured, in words."""
    caches: tuple[CacheLevel, ...] | None = opt(CacheLevel, many_=True)
    """The cache levels as the measuring threads see them."""
    bandwidth: tuple[BandwidthFigure, ...] | None = opt(BandwidthFigure, many_=True)
    """Every (pattern, working set) measured, by working set."""
    compute: tuple[ComputeFigure, ...] | None = opt(ComputeFigure, many_=True)
    """Every (dtype, n) of the linear kernel measured."""

    def to_dict(self) -> dict[str, Any]:
        """:meth:`Record.to_dict`, with a null ``dispatch_floor_s`` right after ``elapsed_s``."""
        out = super().to_dict()
        if "dispatch_floor_s" not in out or out["dispatch_floor_s"] is not None:
            return out
        del out["dispatch_floor_s"]
        items = list(out.items())
        at = next((i + 1 for i, (key, _) in enumerate(items) if key == "elapsed_s"), len(items))
        return dict([*items[:at], ("dispatch_floor_s", None), *items[at:]])

    def to_pandas(self) -> Any:
        """One row per roof: memory levels, DRAM, compute dtypes and the dispatch floor."""
        import pandas as pd

        rows: list[dict[str, Any]] = [
            {"roof": level, "kind": "cache", "value": v, "unit": "B/s"}
            for level, v in self.cache_bandwidth_bytes_per_s.items()
        ]
        rows.append(
            {
                "roof": "DRAM",
                "kind": "memory",
                "value": self.memory_bandwidth_bytes_per_s,
                "unit": "B/s",
            }
        )
        rows += [
            {"roof": d, "kind": "compute", "value": v, "unit": "FLOP/s"}
            for d, v in self.compute_flops_per_s.items()
        ]
        if self.dispatch_floor_s is not None:
            rows.append(
                {"roof": "dispatch", "kind": "launch", "value": self.dispatch_floor_s, "unit": "s"}
            )
        return pd.DataFrame(rows)


@dataclass(frozen=True, kw_only=True)
class DriftProbe(Record):
    """One drift check as the calibration cache remembers it (an entry of its ``drift_history``)."""

    at: str | None = late()
    """UTC time of the check (ISO 8601)."""
    when: str | None = late()
    """``start`` or ``end`` of the run."""
    fractions: Mapping[str, float]
    """Pattern -> its probe's drift fraction (measured / the calibration's median - 1)."""


@dataclass(frozen=True, kw_only=True)
class CeilingsCacheRecord(Record):
    """A whole ``llmroof.ceilings.cache/1`` file: one machine's calibration, as the cache keeps it,
    with what the drift checks of later runs add (``raised_at``, ``drift_history``)."""

    SCHEMA = schemas.CEILINGS_CACHE

    @classmethod
    def from_cache(cls, data: Any, where: str) -> CeilingsCacheRecord:
        """A cache file's JSON object as the record; a 0.2.0 cache, which named the results schema
        (``llmroof.ceilings/1``), is read as the cache's."""
        if isinstance(data, dict) and data.get("schema") == schemas.CEILINGS:
            data = data | {"schema": cls.SCHEMA}
        return cls.from_dict(data, where)

    method_version: int
    """The calibration method's version: a cache of another version is measured again."""
    fingerprint: Mapping[str, Any]
    """What the figures depend on: CPU (or GPU model, UUID and driver), host, torch, threads, plan."""
    fingerprint_id: str
    """A hash of the fingerprint: the file's name."""
    measured_at: str
    """UTC time of the measurement (ISO 8601)."""
    ceilings: Mapping[str, Any]
    """The measured figures, as ``llmroof ceilings --format json`` gives them (without ``calibration``)."""
    raised_at: str | None = opt()
    """UTC time a drift probe last raised a roof (ISO 8601); absent where none has."""
    drift_history: tuple[Any, ...] | None = opt(seq_=True)
    """The last drift probes, oldest first, each a :class:`DriftProbe` (kept as read: an entry of
    another shape is skipped by :meth:`drift_probes`, not an error)."""

    def drift_probes(self) -> list[DriftProbe]:
        """The entries of ``drift_history`` that are drift probes, oldest first (an entry of another
        shape, edited by hand or written by another version, is skipped)."""
        probes = []
        for i, entry in enumerate(self.drift_history or ()):
            try:
                probes.append(DriftProbe.from_dict(entry, f"drift_history[{i}]"))
            except LlmroofError:
                continue
        return probes
