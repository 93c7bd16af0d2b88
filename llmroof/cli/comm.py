"""``llmroof comm``: measure all-reduce, all-gather and send/recv across message sizes."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from llmroof.cli.options import Format


def comm(
    ranks: int = typer.Option(
        2, "--ranks", "-n", min=2, help="Processes (one per GPU, or CPU processes over gloo)."
    ),
    sizes: str = typer.Option(
        "4K..64M", "--sizes", help="Message sizes: a doubling range (4K..256M) or a list."
    ),
    device: str = typer.Option("auto", "--device", "-d", help="auto, cpu or cuda."),
    iterations: int = typer.Option(20, "--iterations", min=1, help="Timed calls per op and size."),
    hardware: str | None = typer.Option(
        None,
        "--hardware",
        "-H",
        help="Predict with this catalog device's link (default: fitted to the run).",
    ),
    timeout: float = typer.Option(
        120.0, "--timeout", min=1.0, help="Seconds before a stuck rank fails the run."
    ),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Also write the JSON record here.", dir_okay=False
    ),
) -> None:
    """Bandwidth of the collectives tensor and pipeline parallelism use, in the nccl-tests convention."""
    from llmroof.report.console.comm import print_result
    from llmroof.runs.comm import run_comm

    record = run_comm(
        ranks=ranks,
        sizes=sizes,
        device=device,
        iterations=iterations,
        hardware=hardware,
        timeout_s=timeout,
        out=out,
        progress=lambda line: print(f"llmroof: {line}", file=sys.stderr),
    )
    if record is None:  # a torchrun rank other than 0
        return
    print_result(record, fmt.value)


def register(app: typer.Typer) -> None:
    app.command("comm")(comm)
