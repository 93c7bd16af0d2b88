"""The terminal summary of ``llmroof sample``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmroof.report.console.render import console, print_csv, print_json, user
from llmroof.results.records.sample import SampleRecord
from llmroof.units import percent, si


def print_result(record: SampleRecord, fmt: str = "table") -> None:
    """``fmt``: table (the summary), json (the record) or csv (one row per sample), on stdout."""
    if fmt == "json":
        print_json(record.to_dict())
    elif fmt == "csv":
        print_csv(sample_rows(record))
    else:
        print_summary(record, console())


def print_summary(record: SampleRecord, out: Any) -> None:
    """What NVML saw on ``out``, a rich console: DRAM bandwidth, memory busy, throttle reasons."""
    summary = record.summary
    if record.source is None:
        out.print(f"NVML sampling {record.status}")
    else:
        out.print(
            f"GPU {record.gpu_index} ({user(record.gpu_name)}): {summary.n} samples from {record.source} "
            f"every {record.interval_s * 1e3:.0f} ms; peak DRAM bandwidth "
            f"{si(record.peak_dram_bandwidth_bytes_per_s, 'B/s')} (NVML: 2 x max memory clock x bus width / 8)"
        )
        if record.source_note:
            out.print(f"Source: {user(record.source_note)}")
        if summary.mean_dram_bandwidth_bytes_per_s is not None:
            out.print(
                f"DRAM bandwidth: mean {si(summary.mean_dram_bandwidth_bytes_per_s, 'B/s')}, p50 "
                f"{si(summary.p50_dram_bandwidth_bytes_per_s, 'B/s')}, p95 "
                f"{si(summary.p95_dram_bandwidth_bytes_per_s, 'B/s')}"
            )
        busy = (
            summary.mean_mem_busy_percent,
            summary.p50_mem_busy_percent,
            summary.p95_mem_busy_percent,
        )
        if busy[0] is not None:
            mean, p50, p95 = (percent((v or 0.0) / 100) for v in busy)
            out.print(f"Memory busy: mean {mean}, p50 {p50}, p95 {p95}")
        reasons = summary.clock_event_reasons_seen
        out.print(f"Throttle reasons seen: {', '.join(reasons) if reasons else 'none'}")
    if record.error:
        out.print(f"[yellow]{user(record.error)}[/]")
    if record.command:
        out.print(f"Command exited with {record.exit_code}")


class LiveView:
    """A rich Live line with the latest sample, refreshed by the caller."""

    def __init__(self, sampler: Any) -> None:
        from rich.live import Live

        self.sampler = sampler
        self.live = Live("waiting for the first sample...", refresh_per_second=4, transient=True)

    def __enter__(self) -> Any:
        self.live.__enter__()
        return self.refresh

    def __exit__(self, *exc: Any) -> None:
        self.live.__exit__(*exc)

    def refresh(self) -> None:
        samples = self.sampler.snapshot()
        if samples:
            self.live.update(live_line(samples[-1]))


def live_line(s: Any) -> str:
    """The latest sample in one line: DRAM bandwidth (or memory busy), clocks, power, throttling."""
    if s.dram_bandwidth_bytes_per_s is not None:
        bandwidth = (
            f"DRAM {si(s.dram_bandwidth_bytes_per_s, 'B/s')} "
            f"({s.dram_bw_util_percent:.0f}% of peak)"
        )
    else:
        bandwidth = f"memory busy {s.mem_busy_percent:.0f}% of the time"
    clocks = f"SM {s.sm_clock_mhz or 0:.0f} MHz, {s.power_w or 0:.0f} W"
    reasons = f", throttle: {', '.join(s.clock_event_reasons)}" if s.clock_event_reasons else ""
    return f"{bandwidth}; {clocks}{reasons}"


def sample_rows(record: SampleRecord) -> list[dict[str, Any]]:
    return [s.to_dict() for s in record.samples]


def write_file(path: Path, record: SampleRecord) -> None:
    """``--out``: the samples as CSV (a ``.csv`` name), else the record as JSON."""
    from llmroof.results.io import write_csv_atomic, write_json_atomic

    if path.suffix.lower() == ".csv":
        write_csv_atomic(path, sample_rows(record))
    else:
        write_json_atomic(path, record.to_dict())
