"""``llmroof sample``: watch a GPU's HBM bandwidth through NVML for S seconds, or while a command runs."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from llmroof.cli.options import Format


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
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
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
    from llmroof.report.console.sample import LiveView, print_result, write_file
    from llmroof.runs.sample import run_sample

    if out is not None:  # before sampling: a folder that cannot be written would lose the samples
        from llmroof.results.io import check_writable

        check_writable(out)
    live = fmt is Format.table and sys.stdout.isatty()
    record = run_sample(
        gpu=gpu,
        interval_s=interval_ms / 1e3,
        seconds=seconds,
        command=ctx.args,
        view=LiveView if live else None,
    )
    if out is not None:
        write_file(out, record)
    print_result(record, fmt.value)
    if record.exit_code:
        raise typer.Exit(record.exit_code)


def register(app: typer.Typer) -> None:
    app.command(
        "sample", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
    )(sample)
