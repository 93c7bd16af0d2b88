"""``llmroof.sample/1``: NVML samples of a GPU (``llmroof sample --format json``), key by key in
``docs/nvml.md``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llmroof import schemas
from llmroof.results.records.base import Record, many, one, seq


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
class SampleSummary(Record):
    """Mean, p50 and p95 of every figure over the samples (None: no sample had it), the sources and
    every clock-event reason seen. Every key is always written."""

    n: int
    """Samples."""
    sources: tuple[str, ...] = seq()
    mean_dram_bandwidth_bytes_per_s: float | None
    p50_dram_bandwidth_bytes_per_s: float | None
    p95_dram_bandwidth_bytes_per_s: float | None
    mean_dram_bw_util_percent: float | None
    p50_dram_bw_util_percent: float | None
    p95_dram_bw_util_percent: float | None
    mean_mem_busy_percent: float | None
    p50_mem_busy_percent: float | None
    p95_mem_busy_percent: float | None
    mean_sm_clock_mhz: float | None
    p50_sm_clock_mhz: float | None
    p95_sm_clock_mhz: float | None
    mean_mem_clock_mhz: float | None
    p50_mem_clock_mhz: float | None
    p95_mem_clock_mhz: float | None
    mean_power_w: float | None
    p50_power_w: float | None
    p95_power_w: float | None
    mean_temperature_c: float | None
    p50_temperature_c: float | None
    p95_temperature_c: float | None
    clock_event_reasons_seen: tuple[str, ...] = seq()


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
    summary: SampleSummary = one(SampleSummary)
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
