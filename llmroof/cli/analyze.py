"""``llmroof analyze``: the analytic roofline of one workload, per op and per phase, or a sweep."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from llmroof.cli.options import (
    DTYPE_HELP,
    HARDWARE_FILE,
    AttentionKernelChoice,
    AttentionKind,
    Format,
    ImplementationChoice,
    resolve_hardware,
    resolve_model,
    resolve_precision,
    resolve_routing,
)
from llmroof.errors import LlmroofError


def analyze(
    model: str = typer.Option(
        "llama-3-8b", "--model", "-m", help="Preset name, or a config.json (or its folder)."
    ),
    hardware: str = typer.Option(
        "h100-sxm", "--hardware", "-H", help="Device name (see `llmroof hardware`)."
    ),
    batch: int = typer.Option(1, "--batch", "-b", min=1, help="Sequences per batch."),
    prompt: int = typer.Option(
        512, "--prompt", "-s", min=1, help="Prefill: prompt tokens per sequence."
    ),
    context: int = typer.Option(
        2048,
        "--context",
        "-c",
        min=1,
        help="Decode: KV-cache tokens per sequence during the step (new token included).",
    ),
    tp: int = typer.Option(1, "--tp", min=1, help="Tensor-parallel ranks."),
    pp: int = typer.Option(1, "--pp", min=1, help="Pipeline stages."),
    ep: int = typer.Option(
        1,
        "--ep",
        min=1,
        help="Expert-parallel ranks (MoE): E/ep experts each, attention data-parallel.",
    ),
    micro_batches: int = typer.Option(
        1, "--micro-batches", min=1, help="Prefill micro-batches in the pipeline."
    ),
    pp_layers: str | None = typer.Option(
        None, "--pp-layers", help="Layers per stage, e.g. 20,20,21,19."
    ),
    dtype: str = typer.Option(
        "bf16", "--dtype", help=f"Activation (compute) dtype; default for the others. {DTYPE_HELP}"
    ),
    weight_dtype: str | None = typer.Option(
        None, "--weight-dtype", help="Decoder linear weights' dtype."
    ),
    kv_dtype: str | None = typer.Option(None, "--kv-dtype", help="KV-cache dtype."),
    group_size: int | None = typer.Option(
        None, "--group-size", help="int4 quantisation group size (default 128)."
    ),
    expert_dtype: str | None = typer.Option(
        None,
        "--expert-dtype",
        help="MoE experts' weight dtype, e.g. mxfp4 (default: the weights').",
    ),
    zipf: float | None = typer.Option(
        None,
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
    force: bool = typer.Option(
        False,
        "--force",
        help="Replace a FILE.partial beside --out FILE (an interrupted sweep's, or yours).",
    ),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
    html: Path | None = typer.Option(
        None,
        "--html",
        dir_okay=False,
        help="Also write an HTML report of the analysis to this file.",
    ),
    hardware_file: Path | None = HARDWARE_FILE,
) -> None:
    """Exact FLOPs and bytes of every op for prefill and one decode step, against the roofline."""
    from llmroof.analytic import Workload, checked_analyze
    from llmroof.analytic.serialize import analysis_to_dict
    from llmroof.report.console.analysis import print_result

    spec = resolve_model(model, kv_heads, attention)
    device = resolve_hardware(hardware, hardware_file)
    stages = _parse_stage_layers(pp_layers)
    try:
        workload = Workload(
            batch=batch,
            prompt_len=prompt,
            context_len=context,
            precision=resolve_precision(dtype, weight_dtype, kv_dtype, group_size, expert_dtype),
            tp=tp,
            pp=pp,
            ep=ep,
            micro_batches=micro_batches,
            pp_layers=stages,
            routing=resolve_routing(zipf, expert_load),
            mla_absorbed=not mla_naive,
            implementation=implementation.value,
            attention_kernel=attention_kernel.value,
            fused_qkv=fused_qkv,
            all_logits=all_logits,
            memory_reserve_fraction=reserve,
        )
    except ValueError as exc:
        raise LlmroofError(str(exc)) from None
    if out is not None and not sweep:
        raise LlmroofError("--out applies to --sweep", "add e.g. --sweep batch=1..1024")
    if out is not None:
        from llmroof.results.stream import check_stream_target, stream_format

        stream_format(out)
        check_stream_target(out, force=force)
    if sweep:
        from llmroof.runs.analyze import SweepNames

        _sweep(
            spec,
            device,
            workload,
            sweep,
            out,
            fmt,
            SweepNames(
                dtype=dtype,
                weight_dtype=weight_dtype,
                kv_dtype=kv_dtype,
                group_size=group_size,
                kv_heads=kv_heads,
                attention=None if attention is None else attention.value,
                hardware_file=hardware_file,
            ),
            force,
        )
        if html is not None:
            _write_html(analysis_to_dict(checked_analyze(spec, device, workload)), html)
        return
    data = analysis_to_dict(checked_analyze(spec, device, workload))
    if html is not None:
        _write_html(data, html)
    print_result(data, fmt.value)


def _write_html(data: dict[str, Any], path: Path) -> None:
    import sys

    from llmroof.report.console.analysis import write_html

    write_html(data, path, ["llmroof", *sys.argv[1:]])


def _parse_stage_layers(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise LlmroofError(
            f"--pp-layers {text!r}: expected integers separated by commas, e.g. 20,20,21,19"
        ) from None


def _sweep(
    spec: Any,
    device: Any,
    workload: Any,
    texts: list[str],
    out: Path | None,
    fmt: Format,
    names: Any,
    force: bool = False,
) -> None:
    """Run the sweep (:func:`llmroof.runs.analyze.sweep`) and render its record: a one-axis sweep as JSON, CSV
    or a table; a grid's frontier likewise (its rows stream to ``--out``, or to stdout as CSV)."""
    import sys

    from llmroof.report.console.sweep import print_grid, print_sweep
    from llmroof.runs.analyze import GridSweep, chunk_writer, is_grid
    from llmroof.runs.analyze import sweep as run_sweep

    sink = (
        chunk_writer(sys.stdout, "csv")
        if fmt is Format.csv and out is None and is_grid(texts, out)
        else None
    )
    result = run_sweep(spec, device, workload, texts, names=names, out=out, sink=sink, force=force)
    if not isinstance(result, GridSweep):
        print_sweep(result, fmt.value)
        return
    print_grid(
        result.record,
        fmt.value,
        layouts=result.layouts,
        sizes=result.sizes,
        seconds_taken=result.seconds,
        out=out,
        streamed=sink is not None,
    )


def register(app: typer.Typer) -> None:
    app.command("analyze")(analyze)
