"""``llmroof.sample/1``: NVML samples of a GPU (``llmroof sample --format json``), key by key in
``docs/nvml.md``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmroof import schemas
from llmroof.results.records.base import Record, many, seq


@dataclass(frozen=True, kw_only=True)
class NvmlSample(Record):
    """One sampling window."""

    start_s: float
    """Window start, ``time.perf_counter()`` seconds."""
    end_s: float
    """Window end."""
    source: str
    """``gpm``, ``memory_utilization_samples`` or ``utilization_rates``."""
    dram_bw_util_percent: float | None
    """GPM: DRAM bandwidth as a share of peak, percent."""
    dram_bandwidth_bytes_per_s: float | None
    """GPM: share × peak."""
    mem_busy_percent: float | None
    """Fallback sources: share of time the memory controller was busy (not bytes)."""
    sm_clock_mhz: float | None
    """SM clock."""
    mem_clock_mhz: float | None
    """Memory clock."""
    power_w: float | None
    """Board power."""
    temperature_c: float | None
    """GPU temperature."""
    clock_event_reasons: tuple[str, ...] = seq()
    """Throttle reasons active in the window."""


@dataclass(frozen=True, kw_only=True)
class SampleRecord(Record):
    """A whole ``llmroof.sample/1`` file."""

    SCHEMA = schemas.SAMPLE

    gpu_index: int
    """NVML device index."""
    gpu_name: str | None
    """Device name; None without a device."""
    status: str
    """The source, ``unavailable: ...`` or ``off: ...``."""
    source: str | None
    """The source that sampled; None when none did."""
    source_note: str | None
    """What the source measures, in words."""
    fallback_reason: str | None
    """Why a better source was not used."""
    error: str | None
    """The NVML error that stopped the sampler."""
    peak_dram_bandwidth_bytes_per_s: float | None
    """2 × max memory clock × bus width / 8."""
    interval_s: float
    """Sampling interval."""
    command: tuple[str, ...] | None = seq(default=None)
    """The command sampled while it ran."""
    exit_code: int | None = None
    """Its exit code."""
    duration_s: float
    """How long sampling lasted."""
    summary: Mapping[str, Any]
    """``n``, ``sources`` and mean/p50/p95 of each figure."""
    samples: tuple[NvmlSample, ...] = many(NvmlSample)
    """Every sample."""

    def to_pandas(self, *, ops: bool = False) -> Any:
        """One row per sample; throttle reasons joined with ``,``."""
        import pandas as pd

        return pd.DataFrame(
            [
                s.to_dict() | {"clock_event_reasons": ",".join(s.clock_event_reasons)}
                for s in self.samples
            ]
        )
