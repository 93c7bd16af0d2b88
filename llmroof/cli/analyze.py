"""``llmroof analyze``: the analytic roofline of one workload, per op and per phase, or a sweep."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmroof.cli.options import (
    AttentionKernelChoice,
    AttentionKind,
    Dtype,
    Force,
    Format,
    GroupSize,
    Hardware,
    HardwareFile,
    Html,
    ImplementationChoice,
    KvDtype,
    MicroBatches,
    Model,
    Pp,
    Tp,
    WeightDtype,
    settings,
)
from llmroof.errors import LlmroofError


def analyze(
    ctx: typer.Context,
    model: Model = "llama-3-8b",
    hardware: Hardware = "h100-sxm",
    batch: Annotated[int, typer.Option("--batch", "-b", min=1, help="Sequences per batch.")] = 1,
    prompt_len: Annotated[
        int, typer.Option("--prompt", "-s", min=1, help="Prefill: prompt tokens per sequence.")
    ] = 512,
    context_len: Annotated[
        int,
        typer.Option(
            "--context",
            "-c",
            min=1,
            help="Decode: KV-cache tokens per sequence during the step (new token included).",
        ),
    ] = 2048,
    tp: Tp = 1,
    pp: Pp = 1,
    ep: Annotated[
        int,
        typer.Option(
            "--ep",
            min=1,
            help="Expert-parallel ranks (MoE): E/ep experts each, attention data-parallel.",
        ),
    ] = 1,
    micro_batches: MicroBatches = 1,
    pp_layers: Annotated[
        str | None, typer.Option("--pp-layers", help="Layers per stage, e.g. 20,20,21,19.")
    ] = None,
    dtype: Dtype = "bf16",
    weight_dtype: WeightDtype = None,
    kv_dtype: KvDtype = None,
    group_size: GroupSize = None,
    expert_dtype: Annotated[
        str | None,
        typer.Option(
            "--expert-dtype", help="MoE experts' weight dtype, e.g. mxfp4 (default: the weights')."
        ),
    ] = None,
    zipf: Annotated[
        float,
        typer.Option(
            "--zipf",
            min=0.0,
            help="Skewed expert routing: Zipf exponent of the expert load (0: uniform).",
        ),
    ] = 0.0,
    expert_load: Annotated[
        Path | None,
        typer.Option(
            "--expert-load",
            dir_okay=False,
            help="Measured expert-load histogram: one count per expert.",
        ),
    ] = None,
    mla_naive: Annotated[
        bool,
        typer.Option(
            "--mla-naive",
            help="MLA decode decompresses the latent cache (default: absorbed weights).",
        ),
    ] = False,
    kv_heads: Annotated[
        int | None, typer.Option("--kv-heads", help="Override the model's KV heads.")
    ] = None,
    attention: Annotated[
        AttentionKind | None,
        typer.Option("--attention", help="Shorthand: mha (kv=H), gqa, mqa (kv=1)."),
    ] = None,
    implementation: Annotated[
        ImplementationChoice,
        typer.Option(
            "--implementation",
            help="Op set of the headline: fused (minimum traffic, the bound) or eager (one kernel "
            "per op); the eager figures are shown beside either way.",
        ),
    ] = ImplementationChoice.fused,
    attention_kernel: Annotated[
        AttentionKernelChoice,
        typer.Option(
            "--attention-kernel",
            help="Eager op set: eager (QK^T, softmax, PV ops) or flash (one fused op).",
        ),
    ] = AttentionKernelChoice.eager,
    fused_qkv: Annotated[
        bool, typer.Option("--fused-qkv", help="Eager op set: one attn.qkv projection.")
    ] = False,
    all_logits: Annotated[
        bool, typer.Option("--all-logits", help="Prefill computes logits at every position.")
    ] = False,
    reserve: Annotated[
        float,
        typer.Option(
            "--reserve",
            min=0.0,
            max=0.99,
            help="Share of device memory kept back from weights and KV cache.",
        ),
    ] = 0.1,
    sweep: Annotated[
        list[str] | None,
        typer.Option(
            "--sweep",
            help="AXIS=VALUES, repeatable (several make a grid): batch=1,2,4, context=512..32768 "
            "(doubling), context=512..131072:512 (step); also prompt, tp, pp, model, hardware, "
            "weight-dtype, kv-dtype.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            dir_okay=False,
            help="Stream every row of a sweep to this .csv or .jsonl file (any size).",
        ),
    ] = None,
    force: Force = False,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    html: Html = None,
    hardware_file: HardwareFile = None,
) -> None:
    """Exact FLOPs and bytes of every op for prefill and one decode step, against the roofline."""
    import sys

    from llmroof.report.console.analysis import print_result, write_html
    from llmroof.report.console.sweep import print_grid, print_sweep
    from llmroof.runs.analyze import AnalyzeOptions, GridSweep, analyze, chunk_writer, is_grid
    from llmroof.runs.analyze import sweep as run_sweep

    layers = _stage_layers(pp_layers)
    options = settings(AnalyzeOptions, ctx, pp_layers=layers, mla_absorbed=not mla_naive)
    if out is not None and not sweep:
        raise LlmroofError("--out applies to --sweep", "add e.g. --sweep batch=1..1024")
    if sweep:
        streamed = fmt is Format.csv and out is None and is_grid(sweep, out)
        sink = chunk_writer(sys.stdout, "csv") if streamed else None
        result = run_sweep(options, sweep, out=out, sink=sink, force=force)
        if isinstance(result, GridSweep):
            print_grid(
                result.record, fmt.value, result.layouts, result.summary, streamed=sink is not None
            )
        else:
            print_sweep(result, fmt.value)
    if sweep and html is None:
        return
    record = analyze(options)
    if html is not None:
        write_html(record, html, ["llmroof", *sys.argv[1:]])
    if not sweep:
        print_result(record, fmt.value)


def _stage_layers(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise LlmroofError(
            f"--pp-layers {text!r}: expected integers separated by commas, e.g. 20,20,21,19"
        ) from None


def register(app: typer.Typer) -> None:
    app.command("analyze")(analyze)
