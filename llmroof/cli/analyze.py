"""``llmroof analyze``: the analytic roofline of one workload, per op and per phase, or a sweep."""

from __future__ import annotations

from pathlib import Path

import typer

from llmroof.cli.options import (
    AttentionKernelChoice,
    AttentionKind,
    Dtype,
    Force,
    Format,
    GroupSize,
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
    hardware: str = typer.Option(
        "h100-sxm", "--hardware", "-H", help="Device name (see `llmroof hardware`)."
    ),
    batch: int = typer.Option(1, "--batch", "-b", min=1, help="Sequences per batch."),
    prompt_len: int = typer.Option(
        512, "--prompt", "-s", min=1, help="Prefill: prompt tokens per sequence."
    ),
    context_len: int = typer.Option(
        2048,
        "--context",
        "-c",
        min=1,
        help="Decode: KV-cache tokens per sequence during the step (new token included).",
    ),
    tp: Tp = 1,
    pp: Pp = 1,
    ep: int = typer.Option(
        1,
        "--ep",
        min=1,
        help="Expert-parallel ranks (MoE): E/ep experts each, attention data-parallel.",
    ),
    micro_batches: MicroBatches = 1,
    pp_layers: str | None = typer.Option(
        None, "--pp-layers", help="Layers per stage, e.g. 20,20,21,19."
    ),
    dtype: Dtype = "bf16",
    weight_dtype: WeightDtype = None,
    kv_dtype: KvDtype = None,
    group_size: GroupSize = None,
    expert_dtype: str | None = typer.Option(
        None,
        "--expert-dtype",
        help="MoE experts' weight dtype, e.g. mxfp4 (default: the weights').",
    ),
    zipf: float = typer.Option(
        0.0,
        "--zipf",
        min=0.0,
        help="Skewed expert routing: Zipf exponent of the expert load (0: uniform).",
    ),
    expert_load: Path | None = typer.Option(
        None,
        "--expert-load",
        dir_okay=False,
        help="Measured expert-load histogram: one count per expert.",
    ),
    mla_naive: bool = typer.Option(
        False,
        "--mla-naive",
        help="MLA decode decompresses the latent cache (default: absorbed weights).",
    ),
    kv_heads: int | None = typer.Option(None, "--kv-heads", help="Override the model's KV heads."),
    attention: AttentionKind | None = typer.Option(
        None, "--attention", help="Shorthand: mha (kv=H), gqa, mqa (kv=1)."
    ),
    implementation: ImplementationChoice = typer.Option(
        ImplementationChoice.fused,
        "--implementation",
        help="Op set of the headline: fused (minimum traffic, the bound) or eager (one kernel per op); the eager "
        "figures are shown beside either way.",
    ),
    attention_kernel: AttentionKernelChoice = typer.Option(
        AttentionKernelChoice.eager,
        "--attention-kernel",
        help="Eager op set: eager (QK^T, softmax, PV ops) or flash (one fused op).",
    ),
    fused_qkv: bool = typer.Option(
        False, "--fused-qkv", help="Eager op set: one attn.qkv projection."
    ),
    all_logits: bool = typer.Option(
        False, "--all-logits", help="Prefill computes logits at every position."
    ),
    reserve: float = typer.Option(
        0.1,
        "--reserve",
        min=0.0,
        max=0.99,
        help="Share of device memory kept back from weights and KV cache.",
    ),
    sweep: list[str] | None = typer.Option(
        None,
        "--sweep",
        help="AXIS=VALUES, repeatable (several make a grid): batch=1,2,4, context=512..32768 "
        "(doubling), context=512..131072:512 (step); also prompt, tp, pp, model, hardware, weight-dtype, kv-dtype.",
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        dir_okay=False,
        help="Stream every row of a sweep to this .csv or .jsonl file (any size).",
    ),
    force: Force = False,
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
    html: Html = None,
    hardware_file: HardwareFile = None,
) -> None:
    """Exact FLOPs and bytes of every op for prefill and one decode step, against the roofline."""
    import sys

    from llmroof.report.console.analysis import print_result, write_html
    from llmroof.runs.analyze import AnalyzeOptions, analyze

    layers = _stage_layers(pp_layers)
    options = settings(AnalyzeOptions, ctx, pp_layers=layers, mla_absorbed=not mla_naive)
    if out is not None and not sweep:
        raise LlmroofError("--out applies to --sweep", "add e.g. --sweep batch=1..1024")
    if sweep:
        from llmroof.report.console.sweep import print_grid, print_sweep
        from llmroof.runs.analyze import GridSweep, chunk_writer, is_grid
        from llmroof.runs.analyze import sweep as run_sweep

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
