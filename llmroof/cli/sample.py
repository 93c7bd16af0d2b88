"""``llmroof sample``: watch a GPU's HBM bandwidth through NVML for S seconds, or while a command runs."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from llmroof.units import si

if TYPE_CHECKING:
    from llmroof.results.records.sample import SampleRecord


class SampleFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


def sample(
    ctx: typer.Context,
    seconds: float = typer.Option(
        10.0, "--seconds", "-t", min=0.0, help="How long to sample (without a command)."
    ),
    interval_ms: float = typer.Option(
        100.0, "--interval-ms", "-i", min=1.0, help="Sampling interval (GPM: >= 100 ms)."
    ),
    gpu: int = typer.Option(
        0, "--gpu", "-g", min=0, help="NVML device index (as nvidia-smi numbers GPUs)."
    ),
    fmt: SampleFormat = typer.Option(SampleFormat.table, "--format", "-f", help="Output format."),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="Also write the record to this JSON (or .csv) file.",
        dir_okay=False,
    ),
) -> None:
    """Sample HBM bandwidth, memory busy share, clocks, power and throttle reasons through NVML.

    Put a command after `--` to sample while it runs (its exit code is passed on):
    `llmroof sample -- python serve.py`.
    """
    from llmroof.runs.sample import run_sample

    if out is not None:  # before sampling: a folder that cannot be written would lose the samples
        from llmroof.results.io import check_writable

        check_writable(out)
    live = fmt is SampleFormat.table and sys.stdout.isatty()
    record = run_sample(
        gpu=gpu,
        interval_s=interval_ms / 1e3,
        seconds=seconds,
        command=ctx.args,
        view=_live_view if live else None,
    )
    if out is not None:
        _write(out, record)
    if fmt is SampleFormat.json:
        from llmroof.cli.render import print_json

        print_json(record.to_dict())
    elif fmt is SampleFormat.csv:
        from llmroof.cli.render import print_csv

        print_csv(_rows(record))
    else:
        from llmroof.cli.render import console
        from llmroof.report.console.sample import print_summary

        print_summary(record, console())
    if record.exit_code:
        raise typer.Exit(record.exit_code)


class _live_view:
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
            self.live.update(_line(samples[-1]))


def _line(s: Any) -> str:
    if s.dram_bandwidth_bytes_per_s is not None:
        bandwidth = f"DRAM {si(s.dram_bandwidth_bytes_per_s, 'B/s')} ({s.dram_bw_util_percent:.0f}% of peak)"
    else:
        bandwidth = f"memory busy {s.mem_busy_percent:.0f}% of the time"
    clocks = f"SM {s.sm_clock_mhz or 0:.0f} MHz, {s.power_w or 0:.0f} W"
    reasons = f", throttle: {', '.join(s.clock_event_reasons)}" if s.clock_event_reasons else ""
    return f"{bandwidth}; {clocks}{reasons}"


def _rows(record: SampleRecord) -> list[dict[str, Any]]:
    return [s.to_dict() for s in record.samples]


def _write(path: Path, record: SampleRecord) -> None:
    from llmroof.results.io import write_csv_atomic, write_json_atomic

    if path.suffix.lower() == ".csv":
        write_csv_atomic(path, _rows(record))
    else:
        write_json_atomic(path, record.to_dict())


def register(app: typer.Typer) -> None:
    app.command(
        "sample", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
    )(sample)
