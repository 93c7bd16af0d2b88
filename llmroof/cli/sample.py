"""``llmroof sample``: watch a GPU's HBM bandwidth through NVML for S seconds, or while a command runs."""

from __future__ import annotations

import subprocess
import sys
import time
from enum import Enum
from pathlib import Path
from typing import Any

import typer

from llmroof import schemas
from llmroof.errors import LlmroofError
from llmroof.units import percent, si

SCHEMA = schemas.SAMPLE


class SampleFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


def sample(
    ctx: typer.Context,
    seconds: float = typer.Option(10.0, "--seconds", "-t", min=0.0, help="How long to sample (without a command)."),
    interval_ms: float = typer.Option(100.0, "--interval-ms", "-i", min=1.0, help="Sampling interval (GPM: >= 100 ms)."),
    gpu: int = typer.Option(0, "--gpu", "-g", min=0, help="NVML device index (as nvidia-smi numbers GPUs)."),
    fmt: SampleFormat = typer.Option(SampleFormat.table, "--format", "-f", help="Output format."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Also write the record to this JSON (or .csv) file.",
                                    dir_okay=False),
) -> None:
    """Sample HBM bandwidth, memory busy share, clocks, power and throttle reasons through NVML.

    Put a command after `--` to sample while it runs (its exit code is passed on):
    `llmroof sample -- python serve.py`.
    """
    from llmroof.measure import nvml as nv

    command = list(ctx.args)
    if out is not None:  # before sampling: a folder that cannot be written would lose the samples
        from llmroof.results.io import check_writable

        check_writable(out)
    device, status = nv.open_nvml(nv.load_pynvml(), index=gpu)
    sampler = nv.Sampler(device, status, interval_s=interval_ms / 1e3)
    live = fmt is SampleFormat.table and sys.stdout.isatty() and sampler.status.source is not None
    started = time.time()
    code = 0
    with sampler:
        if command:
            code = _run_command(command, sampler, live)
        elif sampler.status.source is not None:
            _wait(seconds, sampler, live)
    record = _record(sampler, device, command, code, started, gpu)
    if out is not None:
        _write(out, record)
    if fmt is SampleFormat.json:
        from llmroof.cli.render import print_json

        print_json(record)
    elif fmt is SampleFormat.csv:
        from llmroof.cli.render import print_csv

        print_csv(record["samples"])
    else:
        _print_summary(record)
    if code:
        raise typer.Exit(code)


def exit_status(returncode: int) -> int:
    """A child's exit code as a shell reports it: a child killed by signal N (Popen's -N) gives 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def _run_command(command: list[str], sampler: Any, live: bool) -> int:
    try:
        process = subprocess.Popen(command)
    except OSError as exc:
        raise LlmroofError(f"cannot run {command[0]!r}: {exc.strerror}", "check the command after `--`") from None
    try:
        if live:
            with _live_view(sampler) as refresh:
                while process.poll() is None:
                    time.sleep(sampler.interval_s)
                    refresh()
        return exit_status(process.wait())
    except KeyboardInterrupt:
        process.terminate()
        return exit_status(process.wait())


def _wait(seconds: float, sampler: Any, live: bool) -> None:
    end = time.monotonic() + seconds
    try:
        if live:
            with _live_view(sampler) as refresh:
                while time.monotonic() < end:
                    time.sleep(min(sampler.interval_s, max(0.0, end - time.monotonic())))
                    refresh()
        else:
            time.sleep(seconds)
    except KeyboardInterrupt:
        pass  # Ctrl-C ends sampling early; the summary still prints


class _live_view:  # noqa: N801 - a context manager used like a function
    """A rich Live line with the latest sample, refreshed by the caller."""

    def __init__(self, sampler: Any) -> None:
        from rich.live import Live

        self.sampler = sampler
        self.live = Live("waiting for the first sample...", refresh_per_second=4, transient=True)

    def __enter__(self):  # type: ignore[no-untyped-def]
        self.live.__enter__()
        return self.refresh

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(*exc)

    def refresh(self) -> None:
        samples = self.sampler.snapshot()
        if samples:
            self.live.update(_line(samples[-1]))


def _line(s: Any) -> str:
    if s.dram_bandwidth_bytes_per_s is not None:
        bandwidth = f"DRAM {si(s.dram_bandwidth_bytes_per_s, 'B/s')} ({s.dram_bw_util_percent:.0f}% of peak)"
    else:
        bandwidth = f"memory busy {s.mem_busy_percent:.0f}% of the time"
    clocks = f"SM {s.sm_clock_mhz or 0:.0f} MHz, {s.power_w or 0:.0f} W"
    reasons = f", throttle: {', '.join(s.clock_event_reasons)}" if s.clock_event_reasons else ""
    return f"{bandwidth}; {clocks}{reasons}"


def _record(sampler: Any, device: Any, command: list[str], code: int, started: float, gpu: int) -> dict[str, Any]:
    from llmroof.measure.nvml import summarize_samples

    samples = sampler.snapshot()
    return {
        "schema": SCHEMA,
        "gpu_index": gpu,
        "gpu_name": device.name if device else None,
        "status": sampler.status.label,
        "source": sampler.status.source,
        "source_note": _note(sampler.status.source),
        "fallback_reason": sampler.status.reason or None,
        "error": sampler.error,
        "peak_dram_bandwidth_bytes_per_s": device.peak_dram_bandwidth_bytes_per_s if device else None,
        "interval_s": sampler.interval_s,
        "command": command or None,
        "exit_code": code if command else None,
        "duration_s": time.time() - started,
        "summary": summarize_samples(samples),
        "samples": [s.to_dict() for s in samples],
    }


def _note(source: str | None) -> str | None:
    return {
        "gpm": "DRAM bandwidth: GPM's share of peak x peak (bytes)",
        "memory_utilization_samples": "time-busy, not bytes: share of time the memory controller was busy",
        "utilization_rates": "time-busy, not bytes: share of time the memory controller was busy",
    }.get(source or "")


def _write(path: Path, record: dict[str, Any]) -> None:
    if path.suffix.lower() == ".csv":
        import csv
        import io

        buffer = io.StringIO()
        rows = record["samples"]
        if rows:
            writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        from llmroof.results.io import write_text_atomic

        write_text_atomic(path, buffer.getvalue())
        return
    from llmroof.results.io import write_json_atomic

    write_json_atomic(path, record)


def _print_summary(record: dict[str, Any]) -> None:
    from llmroof.cli.render import console

    out = console()
    summary = record["summary"]
    if record["source"] is None:
        out.print(f"NVML sampling {record['status']}")
    else:
        out.print(f"GPU {record['gpu_index']} ({record['gpu_name']}): {summary['n']} samples from {record['source']} "
                  f"every {record['interval_s'] * 1e3:.0f} ms; peak DRAM bandwidth "
                  f"{si(record['peak_dram_bandwidth_bytes_per_s'], 'B/s')} (NVML: 2 x max memory clock x bus width / 8)")
        if record["source_note"]:
            out.print(f"Source: {record['source_note']}")
        if summary["mean_dram_bandwidth_bytes_per_s"] is not None:
            out.print(f"DRAM bandwidth: mean {si(summary['mean_dram_bandwidth_bytes_per_s'], 'B/s')}, p50 "
                      f"{si(summary['p50_dram_bandwidth_bytes_per_s'], 'B/s')}, p95 "
                      f"{si(summary['p95_dram_bandwidth_bytes_per_s'], 'B/s')}")
        if summary["mean_mem_busy_percent"] is not None:
            out.print(f"Memory busy: mean {percent(summary['mean_mem_busy_percent'] / 100)}, p50 "
                      f"{percent(summary['p50_mem_busy_percent'] / 100)}, p95 {percent(summary['p95_mem_busy_percent'] / 100)}")
        reasons = summary["clock_event_reasons_seen"]
        out.print(f"Throttle reasons seen: {', '.join(reasons) if reasons else 'none'}")
    if record["error"]:
        out.print(f"[yellow]{record['error']}[/]")
    if record["command"]:
        out.print(f"Command exited with {record['exit_code']}")


def register(app: typer.Typer) -> None:
    app.command("sample", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(sample)
