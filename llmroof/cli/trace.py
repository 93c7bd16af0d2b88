"""``llmroof trace``: a real engine's profiler trace (PyTorch/Kineto JSON or nsys SQLite) on the roofline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmroof.cli.options import Format, HardwareFile, Html, Model, OutFile, options_of


def trace(
    ctx: typer.Context,
    traces: Annotated[
        list[Path],
        typer.Argument(
            help="Trace files of one run (rank files read together): "
            "*.json, *.json.gz (torch.profiler, vLLM, SGLang) or nsys *.sqlite.",
            dir_okay=False,
        ),
    ],
    model: Model,
    hardware: str | None = typer.Option(
        None,
        "--hardware",
        help="Catalog device (default: the device the "
        "trace names; `cpu`: this machine's calibrated ceilings).",
    ),
    hardware_file: HardwareFile = None,
    ceilings_file: Path | None = typer.Option(
        None,
        "--ceilings",
        dir_okay=False,
        help="`llmroof ceilings --format json` output to use as the roofs "
        "(CPU traces; default: this machine's cached calibration).",
    ),
    batch: int | None = typer.Option(
        None, "--batch", "-b", min=1, help="Sequences per step, where the trace does not say."
    ),
    context: int | None = typer.Option(
        None,
        "--context",
        "-c",
        min=1,
        help="Decode context per sequence, where the trace does not say.",
    ),
    prompt: int | None = typer.Option(
        None,
        "--prompt",
        "-s",
        min=1,
        help="Prefill prompt per sequence, where the trace does not say.",
    ),
    dtype: str | None = typer.Option(
        None,
        "--dtype",
        help="Compute dtype (default: bf16 for GPU traces, fp32 for CPU-only ones).",
    ),
    tp: int | None = typer.Option(
        None, "--tp", min=1, help="Tensor-parallel ranks (default: from the trace)."
    ),
    pp: int | None = typer.Option(None, "--pp", min=1, help="Pipeline stages."),
    ep: int | None = typer.Option(None, "--ep", min=1, help="Expert-parallel ranks."),
    rules: Path | None = typer.Option(
        None,
        "--rules",
        dir_okay=False,
        help="A TOML file of kernel rules tried before the built-in ones.",
    ),
    launch_floor_s: float | None = typer.Option(
        None,
        "--launch-floor",
        min=0.0,
        help="Seconds: the least time of one kernel on this GPU (`llmroof ceilings --device cuda`'s "
        "dispatch_floor_s); ops it explains are `bound: launch`. CPU traces take it from the calibration.",
    ),
    fmt: Format = typer.Option(
        Format.table, "--format", "-f", help="table, json or csv (per kernel)."
    ),
    out: OutFile = None,
    html: Html = None,
) -> None:
    """Place every kernel of an engine's profiler trace on the roofline of the model that produced it."""
    from llmroof.report.console.trace import print_result
    from llmroof.trace.run import trace_command

    record = trace_command(traces, **options_of(trace_command, ctx))
    if html is not None:
        from llmroof.report.render import write_trace_report

        write_trace_report(record, html, source=", ".join(str(t) for t in traces))
    print_result(record, fmt.value, out)


def register(app: typer.Typer) -> None:
    app.command("trace")(trace)
