"""``llmroof.ceilings/1``: this machine's calibrated roofs (``llmroof ceilings --format json``): the memory roof
of every level, the compute roof of every dtype, and the dispatch floor (the third wall). The per-figure
detail (``bandwidth``, ``compute``, ``caches``, ``method``...) is kept as read; see ``docs/results-schema.md``.

Keys are written as the record's fields in order, then the others as read: a field declared here must
come, in the file, before every key that is not (``dispatch_floor_s`` is null, hence kept as read, in
calibrations made before it was measured)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llmroof import schemas
from llmroof.results.records.base import Record, opt


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
    calibration: Mapping[str, Any] | None = opt()
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
