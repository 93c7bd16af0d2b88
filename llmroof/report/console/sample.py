"""The terminal summary of ``llmroof sample``."""

from __future__ import annotations

from typing import Any

from llmroof.report.console.render import user
from llmroof.results.records.sample import SampleRecord
from llmroof.units import percent, si


def print_summary(record: SampleRecord, out: Any) -> None:
    """What NVML saw on ``out``, a rich console: DRAM bandwidth, memory busy, throttle reasons."""
    summary = record.summary
    if record.source is None:
        out.print(f"NVML sampling {record.status}")
    else:
        out.print(
            f"GPU {record.gpu_index} ({user(record.gpu_name)}): {summary['n']} samples from {record.source} "
            f"every {record.interval_s * 1e3:.0f} ms; peak DRAM bandwidth "
            f"{si(record.peak_dram_bandwidth_bytes_per_s, 'B/s')} (NVML: 2 x max memory clock x bus width / 8)"
        )
        if record.source_note:
            out.print(f"Source: {user(record.source_note)}")
        if summary["mean_dram_bandwidth_bytes_per_s"] is not None:
            out.print(
                f"DRAM bandwidth: mean {si(summary['mean_dram_bandwidth_bytes_per_s'], 'B/s')}, p50 "
                f"{si(summary['p50_dram_bandwidth_bytes_per_s'], 'B/s')}, p95 "
                f"{si(summary['p95_dram_bandwidth_bytes_per_s'], 'B/s')}"
            )
        if summary["mean_mem_busy_percent"] is not None:
            out.print(
                f"Memory busy: mean {percent(summary['mean_mem_busy_percent'] / 100)}, p50 "
                f"{percent(summary['p50_mem_busy_percent'] / 100)}, p95 {percent(summary['p95_mem_busy_percent'] / 100)}"
            )
        reasons = summary["clock_event_reasons_seen"]
        out.print(f"Throttle reasons seen: {', '.join(reasons) if reasons else 'none'}")
    if record.error:
        out.print(f"[yellow]{user(record.error)}[/]")
    if record.command:
        out.print(f"Command exited with {record.exit_code}")
