"""``llmroof trace``: a real engine's profiler trace (PyTorch/Kineto JSON or nsys SQLite) on the roofline."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

import typer

from llmroof.units import si


class TraceFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


def trace(
    traces: list[Path] = typer.Argument(
        ...,
        help="Trace files of one run (rank files read together): "
        "*.json, *.json.gz (torch.profiler, vLLM, SGLang) or nsys *.sqlite.",
        dir_okay=False,
    ),
    model: str = typer.Option(
        ..., "--model", "-m", help="Preset name or a config.json (path or folder)."
    ),
    hardware: str | None = typer.Option(
        None,
        "--hardware",
        help="Catalog device (default: the device the "
        "trace names; `cpu`: this machine's calibrated ceilings).",
    ),
    hardware_file: Path | None = typer.Option(
        None, "--hardware-file", dir_okay=False, help="A TOML or JSON file of extra devices."
    ),
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
    launch_floor: float | None = typer.Option(
        None,
        "--launch-floor",
        min=0.0,
        help="Seconds: the least time of one kernel on this GPU (`llmroof ceilings --device cuda`'s "
        "dispatch_floor_s); ops it explains are `bound: launch`. CPU traces take it from the calibration.",
    ),
    fmt: TraceFormat = typer.Option(
        TraceFormat.table, "--format", "-f", help="table, json or csv (per kernel)."
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", dir_okay=False, help="Write the output to this file."
    ),
    html: Path | None = typer.Option(
        None,
        "--html",
        dir_okay=False,
        help="Also write an HTML report (answer, roofline, lost-time ranking, steps) to this file.",
    ),
) -> None:
    """Place every kernel of an engine's profiler trace on the roofline of the model that produced it."""
    from llmroof.trace.run import trace_command

    record = trace_command(
        traces,
        model=model,
        hardware=hardware,
        hardware_file=hardware_file,
        ceilings_file=ceilings_file,
        batch=batch,
        context=context,
        prompt=prompt,
        dtype=dtype,
        tp=tp,
        pp=pp,
        ep=ep,
        rules=rules,
        launch_floor_s=launch_floor,
    )
    if html is not None:
        from llmroof.report.render import write_trace_report

        write_trace_report(record, html, source=", ".join(str(t) for t in traces))
    if fmt is TraceFormat.json:
        from llmroof.results.io import dumps, write_json_atomic

        if out is not None:
            write_json_atomic(out, record.to_dict())
        else:
            typer.echo(dumps(record.to_dict()))
    elif fmt is TraceFormat.csv:
        from llmroof.results.io import csv_text, write_csv_atomic

        rows = [k.to_dict() for k in record.kernels]
        if out is not None:
            write_csv_atomic(out, rows)
        else:
            typer.echo(csv_text(rows), nl=False)
    else:
        print_table(record, out)


def print_table(record: Any, out: Path | None = None) -> None:
    from rich.table import Table

    from llmroof.cli.render import console

    cov = record.coverage
    lines = [
        (
            f"{record.model.name} on {record.hardware.name} ({record.hardware.source}, {record.dtype}, "
            f"tp {record.layout.tp}): {len(record.steps)} steps, kernel time {si(cov.kernel_time_s, 's')}, "
            f"{cov.attributed_fraction:.1%} attributed to model ops, {cov.classified_fraction:.1%} classified, "
            f"{si(cov.unattributed_s, 's')} unattributed"
        )
    ]
    steps = Table(title="Steps", title_justify="left")
    for column in (
        "step",
        "phase",
        "batch",
        "tokens",
        "source",
        "time",
        "bound",
        "of roof",
        "idle",
    ):
        steps.add_column(
            column, justify="left" if column in ("step", "phase", "source") else "right"
        )
    for s in record.steps:
        tokens = s.prompt_tokens if s.phase == "prefill" else s.context_tokens
        steps.add_row(
            s.name,
            s.phase,
            str(s.batch),
            str(tokens),
            s.source,
            si(s.time_s, "s"),
            si(s.bound_s, "s"),
            f"{s.roofline_fraction:.1%}" if s.roofline_fraction is not None else "-",
            si(s.idle_s, "s"),
        )
    ops = Table(title="Ops, ranked by time lost against their bound", title_justify="left")
    for column in (
        "op",
        "phase",
        "category",
        "count",
        "time",
        "bound",
        "of roof",
        "bound by",
        "lost",
    ):
        ops.add_column(
            column, justify="left" if column in ("op", "phase", "category", "bound by") else "right"
        )
    for o in record.ops:
        ops.add_row(
            o.op + (" (suspect)" if o.suspect else ""),
            o.phase,
            o.category,
            str(o.count),
            si(o.time_s, "s"),
            si(o.bound_s, "s") if o.bound_s is not None else "-",
            f"{o.roofline_fraction:.1%}" if o.roofline_fraction is not None else "-",
            o.bound or "-",
            si(o.time_lost_s, "s"),
        )
    cats = Table(title="Categories", title_justify="left")
    for column in ("category", "time", "share"):
        cats.add_column(column, justify="left" if column == "category" else "right")
    for c in record.categories:
        cats.add_row(c.category, si(c.time_s, "s"), f"{c.fraction:.1%}")
    if out is not None:
        import io

        from llmroof.results.io import write_text_atomic

        buffer = io.StringIO()
        con = console(file=buffer, width=160, elastic=True)
        _print(con, lines, steps, ops, cats, record)
        write_text_atomic(out, buffer.getvalue())
        return
    _print(console(), lines, steps, ops, cats, record)


def _print(con: Any, lines: Any, steps: Any, ops: Any, cats: Any, record: Any) -> None:
    for line in lines:
        con.print(line, markup=False, highlight=False)
    con.print(steps)
    con.print(ops)
    con.print(cats)
    for warning in record.warnings:
        con.print(f"warning: {warning}", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("trace")(trace)
