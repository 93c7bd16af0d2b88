"""Section builders both kinds of results share: verdicts, bytes per token, the per-op table of an
analysis, attention variants and analytic sweeps (run through llmroof's analytic engine, no torch).

Each builder returns the section's template context, or None when the data it needs is absent: the report
leaves such a section out rather than render it empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmroof.analytic import Workload, analyze
from llmroof.errors import LlmroofError
from llmroof.report import figures as fig
from llmroof.report import tables as tb
from llmroof.results.records.analysis import Memory, OpRow, PhaseTotals
from llmroof.specs.hardware import HardwareSpec
from llmroof.specs.model import ModelSpec
from llmroof.units import gib, percent, seconds, si

BYTE_PARTS = ("weights", "KV cache", "activations")
BATCHES = tuple(2**i for i in range(11))  # 1 .. 1024 sequences
CONTEXTS = tuple(2**i for i in range(8, 18))  # 256 .. 131072 tokens


def figure(svg: Any, caption: str) -> dict[str, Any] | None:
    return None if svg is None else {"svg": svg, "caption": caption}


# --- verdicts -------------------------------------------------------------------------------------


def intensity_verdict(intensity: float | None, ridge: float | None, roof: str) -> str:
    """ "1.05 FLOP/byte, 281x below the ridge point (295 FLOP/byte) of the H100 datasheet"."""
    if not intensity:
        return "no arithmetic intensity (no FLOPs)"
    if not ridge:
        return f"{intensity:.3g} FLOP/byte; no compute peak is known for {roof}, so no ridge point"
    side = "below" if intensity < ridge else "above"
    factor = ridge / intensity if intensity < ridge else intensity / ridge
    return f"{intensity:.3g} FLOP/byte, {factor:.3g}x {side} the ridge point ({ridge:.3g} FLOP/byte) of {roof}"


# --- bytes per token ------------------------------------------------------------------------------


def byte_parts(phase: PhaseTotals, tokens: float) -> tuple[tuple[str, float], ...]:
    """Weights, KV cache and activations per token from a phase's totals (an analysis's phases, or a profile
    configuration's ``analytic``)."""
    return (
        ("weights", phase.weight_bytes / tokens),
        ("KV cache", (phase.kv_read_bytes + phase.kv_write_bytes) / tokens),
        ("activations", (phase.act_read_bytes + phase.act_write_bytes) / tokens),
    )


def byte_row(label: str, parts: tuple[tuple[str, float], ...]) -> list[dict[str, Any]]:
    values = dict(parts)
    return [
        tb.cell(label),
        *(tb.number(values[p], "B") for p in BYTE_PARTS),
        tb.number(sum(values.values()), "B"),
    ]


BYTE_COLUMNS = [
    ("", False),
    ("weights", True),
    ("KV cache", True),
    ("activations", True),
    ("total", True),
]


# --- per-op tables --------------------------------------------------------------------------------


def analytic_op_table(ops: Sequence[OpRow]) -> dict[str, Any]:
    """An ``llmroof.analysis/1`` phase's ops: per instance, with the instance count."""
    rows = [
        [
            tb.cell(op.name),
            tb.integer(op.count),
            tb.number(op.flops),
            tb.number(op.weight_bytes, "B"),
            tb.number(op.act_read_bytes + op.act_write_bytes, "B"),
            tb.number(op.kv_read_bytes + op.kv_write_bytes, "B"),
            tb.number(op.bytes, "B"),
            tb.ratio_cell(op.intensity, 1),
            tb.time_cell(op.time_s),
            tb.cell(op.bound),
        ]
        for op in ops
    ]
    columns = [
        ("op", False),
        ("x", True),
        ("FLOPs", True),
        ("weights", True),
        ("act r+w", True),
        ("KV r+w", True),
        ("bytes", True),
        ("FLOP/B", True),
        ("roofline time", True),
        ("bound", False),
    ]
    return tb.table(columns, rows)


# --- parallelism ----------------------------------------------------------------------------------


def stage_memory(
    memory: Memory, layers: list[int], tp: int, *, usable_known: bool
) -> tuple[fig.BarPanel, dict[str, Any]]:
    """Weights and KV cache on one GPU of each pipeline stage (an ``llmroof.analysis/1`` ``memory`` record):
    the figure's panel and the table. A stage's KV cache is the fullest stage's, scaled by its layers."""
    kv = [memory.kv_bytes_per_gpu * n / max(layers) for n in layers]
    weights = memory.stage_weight_bytes
    bars = tuple(
        fig.Bar(f"stage {j} ({n} layers)", (("weights", weights[j]), ("KV cache", kv[j])))
        for j, n in enumerate(layers)
    )
    usable = memory.usable_bytes_per_gpu
    in_gib = (
        max(w + k for w, k in zip(weights, kv)) >= 2**30 or usable_known
    )  # else plain (decimal) bytes
    panel = fig.BarPanel(
        f"Memory per GPU by pipeline stage (tp {tp})",
        "GiB per GPU" if in_gib else "bytes per GPU",
        "GiB" if in_gib else "B",
        bars,
        limit=(usable, f"usable {gib(usable)}") if usable_known else None,
        scale=2**30 if in_gib else 1.0,
    )
    rows = [
        [
            tb.cell(f"stage {j}"),
            tb.integer(n),
            tb.gib_cell(weights[j]),
            tb.gib_cell(kv[j]),
            tb.gib_cell(weights[j] + kv[j]),
        ]
        + ([tb.gib_cell(usable)] if usable_known else [])
        for j, n in enumerate(layers)
    ]
    columns = [
        ("stage", False),
        ("layers", True),
        ("weights per GPU", True),
        ("KV cache per GPU", True),
        ("total per GPU", True),
    ] + ([("usable", True)] if usable_known else [])
    return panel, tb.table(columns, rows)


# --- attention variants ---------------------------------------------------------------------------


def attention_variants(
    spec: ModelSpec, hardware: HardwareSpec, workload: Workload, *, roof: str, memory_known: bool
) -> dict[str, Any] | None:
    """MHA, GQA and MQA of the same model at the same workload: KV bytes per token, the largest batch whose
    KV cache fits at the context, and the decode bound."""
    results = []
    for variant in _variants(spec):
        try:
            results.append((variant, analyze(variant, hardware, workload)))
        except (ValueError, LlmroofError):
            continue
    if len(results) < 2:
        return None
    b, c = workload.batch, workload.context_len
    rows = []
    for variant, a in results:
        kv_read = sum(op.kv_read_bytes * op.count for op in a.decode.ops)  # the phase's totals
        kv_write = sum(op.kv_write_bytes * op.count for op in a.decode.ops)
        kv_step = (kv_read + kv_write) / b
        capacity = [tb.integer(a.max_batch(c))] if memory_known else []
        mine = " (this model)" if variant.num_kv_heads == spec.num_kv_heads else ""
        rows.append(
            [
                tb.cell(f"{variant.attention_kind.upper()} (kv={variant.num_kv_heads}){mine}"),
                tb.number(a.kv_bytes_per_token, "B"),
                tb.number(kv_step, "B"),
                *capacity,
                tb.time_cell(a.decode.time_s),
                tb.number(a.decode_tokens_per_s),
                tb.cell(a.decode.bound),
            ]
        )
    columns = [
        ("variant", False),
        ("KV cache per token", True),
        ("KV read per generated token", True),
    ]
    columns += [(f"largest batch at context {c}", True)] if memory_known else []
    columns += [
        (f"decode TPOT bound (b={b})", True),
        ("tokens/s bound", True),
        ("decode bound", False),
    ]
    notes = [
        f"The same model with its KV heads changed, analysed at batch {b} and context {c} on {roof}."
    ]
    if not memory_known:
        notes.append(
            "The results file records no device memory capacity, so the largest batch is not given."
        )
    return {
        "figure": figure(
            _attention_figure(spec, results, workload, memory_known),
            "KV cache per token, capacity and the decode bound for each attention variant; the "
            "darker bar is this model.",
        ),
        "table": tb.table(columns, rows),
        "notes": notes,
    }


def _variants(spec: ModelSpec) -> list[ModelSpec]:
    """The model as MHA, GQA and MQA, each KV-head count once."""
    variants: list[ModelSpec] = []
    for kind in ("mha", "gqa", "mqa"):
        try:
            variant = spec.with_attention(kind)
        except LlmroofError:
            continue
        if all(v.num_kv_heads != variant.num_kv_heads for v in variants):
            variants.append(variant)
    return variants


def _attention_figure(
    spec: ModelSpec, results: list[tuple[ModelSpec, Any]], workload: Workload, memory_known: bool
) -> Any:
    b, c = workload.batch, workload.context_len
    panels = [
        (
            "KV cache per token",
            "bytes per token (B)",
            "B",
            [a.kv_bytes_per_token for _, a in results],
        )
    ]
    if memory_known:
        panels.append(
            (
                "Largest batch",
                f"sequences at context {c}",
                "",
                [float(a.max_batch(c)) for _, a in results],
            )
        )
    panels.append(
        (
            "Decode TPOT bound",
            "time per output token (s)",
            "s",
            [a.decode.time_s for _, a in results],
        )
    )
    alt = "Bar charts comparing " + ", ".join(
        f"{v.attention_kind.upper()} with {v.num_kv_heads} KV heads: KV cache {si(a.kv_bytes_per_token, 'B')} per "
        f"token, decode bound {seconds(a.decode.time_s)}"
        for v, a in results
    )
    ticks = [f"{v.attention_kind.upper()}\nkv={v.num_kv_heads}" for v, _ in results]
    mine = next(
        (i for i, (v, _) in enumerate(results) if v.num_kv_heads == spec.num_kv_heads), None
    )
    return fig.category_bars(
        ticks,
        panels,
        highlight=mine,
        alt=alt,
        name="attention",
        title=f"Attention variants of {spec.name} at batch {b}, context {c}",
    )


# --- analytic sweeps ------------------------------------------------------------------------------


def analytic_sweeps(
    spec: ModelSpec, hardware: HardwareSpec, workload: Workload, *, roof: str, memory_known: bool
) -> dict[str, Any] | None:
    """Batch and context sweeps of the roofline bound around ``workload`` (``llmroof.analytic.sweep``)."""
    from llmroof.analytic.sweep import sweep

    try:
        batches = batches_for(workload)
        by_batch = sweep(spec, hardware, workload, "batch", list(batches))
        by_context = sweep(spec, hardware, workload, "context", list(CONTEXTS))
        base = analyze(spec, hardware, workload)
    except (LlmroofError, ValueError):
        return None
    exact = base.compute_bound_batch()
    batch_svg = _batch_sweep_figure(
        by_batch, base, hardware, roof=roof, memory_known=memory_known, batches=batches
    )
    context_svg = _context_sweep_figure(by_context, base, roof=roof, memory_known=memory_known)
    notes = ["Analytic: the roofline bound at each point, not a measurement."]
    if exact is not None and exact > batches[-1]:
        notes.append(f"Decode turns compute-bound at batch {exact}, beyond the range shown.")
    elif exact is None:
        notes.append(
            "Decode does not turn compute-bound at any batch: each sequence's KV traffic grows as fast "
            "as its FLOPs."
            if base.roofline.peak_flops_per_s
            else "No compute peak is known, so there is no crossover."
        )
    figures = [
        f
        for f in (
            figure(
                batch_svg,
                "Decode throughput and memory traffic at the roofline bound against "
                "batch; green lines mark the crossover and the memory limit.",
            ),
            figure(context_svg, "Decode bound and bytes per token against context length."),
        )
        if f is not None
    ]
    if (
        spec.is_moe
        and (moe := moe_figure(spec, by_batch, base.workload, batches=batches)) is not None
    ):
        figures.append(moe)
    return {"figures": figures, "table": None, "notes": notes} if figures else None


def batches_for(workload: Workload) -> tuple[int, ...]:
    """The sweep's batches: powers of two up to 1024, multiples of ep (expert parallelism splits the batch)."""
    return tuple(b for b in BATCHES if b % workload.ep == 0)


def moe_figure(
    spec: ModelSpec,
    rows: list[Any],
    workload: Workload,
    measured: Sequence[tuple[int, int]] = (),
    batches: Sequence[int] = BATCHES,
) -> dict[str, Any] | None:
    """Experts touched per MoE layer and bytes per generated token against the decode batch: the analytic
    E * (1 - (1 - k/E)^b) beside the top-k-only and all-experts readings, and ``measured`` (batch, experts) points."""
    from llmroof.analytic.moe import expected_experts

    e, k = spec.experts
    xs = tuple(map(float, batches))
    touched = [
        fig.Series(
            f"analytic E(1-(1-k/E)^b), {workload.routing.describe()}",
            xs,
            tuple(expected_experts(e, k, b, workload.routing) for b in batches),
            color=0,
        ),
        fig.Series(f"top-k only ({k})", xs, (float(k),) * len(xs), dashed=True, color=1),
        fig.Series(f"all experts ({e})", xs, (float(e),) * len(xs), dashed=True, color=2),
    ]
    if measured:
        points = sorted(measured)
        touched.append(
            fig.Series(
                "measured (the profile's router)",
                tuple(float(b) for b, _ in points),
                tuple(float(n) for _, n in points),
                color=3,
            )
        )
    panels = [
        fig.LinePanel("Experts read per MoE layer", "experts", "", tuple(touched)),
        fig.LinePanel(
            "Bytes per generated token",
            "bytes per token (B)",
            "B",
            (
                fig.Series(
                    f"analytic, c={workload.context_len}",
                    xs,
                    tuple(r.bytes_per_token for r in rows),
                ),
            ),
        ),
    ]
    alt = (
        f"Experts touched per MoE layer rise from {expected_experts(e, k, batches[0], workload.routing):.1f} at "
        f"batch {batches[0]} to "
        f"{expected_experts(e, k, batches[-1], workload.routing):.1f} of {e} at batch {batches[-1]}; bytes per "
        f"token fall from {si(rows[0].bytes_per_token, 'B')} to {si(rows[-1].bytes_per_token, 'B')}"
    )
    svg = fig.sweep(
        panels,
        xlabel="batch (sequences)",
        marks=[],
        alt=alt,
        name="moe-experts",
        title=f"Mixture of experts: {k} of {e} experts per token",
    )
    return figure(
        svg,
        "Distinct experts one decode step reads per MoE layer against batch (analytic, with the "
        "top-k-only and all-experts readings dashed"
        + (", and the experts the profile's router touched" if measured else "")
        + "), and the bytes per generated token it implies.",
    )


def _batch_sweep_figure(
    rows: list[Any],
    base: Any,
    hardware: HardwareSpec,
    *,
    roof: str,
    memory_known: bool,
    batches: Sequence[int] = BATCHES,
) -> Any:
    """Decode tokens/s and the memory traffic per GPU at the bound against batch, the crossover marked."""
    c, gpus = base.workload.context_len, base.workload.tp * base.workload.pp * base.workload.ep
    exact = base.compute_bound_batch()
    marks: list[tuple[float, str]] = []
    if exact is not None and exact <= batches[-1]:
        marks.append((float(exact), f"compute-bound from batch {exact}"))
    if memory_known and base.max_batch(c) < batches[-1]:
        marks.append(
            (float(max(base.max_batch(c), 1)), f"max batch that fits: {base.max_batch(c)}")
        )
    xs = tuple(map(float, batches))
    tokens = tuple(r.tokens_per_s for r in rows)
    rate = tuple(r.bytes_per_token * r.tokens_per_s / gpus for r in rows)
    bandwidth = hardware.memory_bandwidth_bytes_per_s
    panels = [
        fig.LinePanel(
            "Decode throughput bound",
            "tokens/s (all sequences)",
            "",
            (fig.Series(f"roofline bound, c={c}", xs, tokens),),
        ),
        fig.LinePanel(
            "Memory traffic at the bound, per GPU",
            "bandwidth (B/s)",
            "B/s",
            (fig.Series(f"bytes/token x tokens/s / GPUs, c={c}", xs, rate),),
            hline=(bandwidth, f"peak {si(bandwidth, 'B/s')}"),
            log_y=False,
        ),
    ]
    alt = (
        f"Decode tokens/s bound rises from {si(tokens[0])} at batch 1 to {si(tokens[-1])} at batch "
        f"{batches[-1]}; "
        + (
            f"it turns compute-bound at batch {exact}"
            if exact
            else "it stays memory-bound over the range"
        )
    )
    return fig.sweep(
        panels,
        xlabel="batch (sequences)",
        marks=marks,
        alt=alt,
        name="sweep-batch",
        title=f"Batch sweep at context {c} ({roof})",
    )


def _context_sweep_figure(rows: list[Any], base: Any, *, roof: str, memory_known: bool) -> Any:
    """The decode bound and bytes per token against context, the longest context that fits marked."""
    b = base.workload.batch
    marks = []
    if memory_known and base.max_context(b) < CONTEXTS[-1]:
        marks.append(
            (float(max(base.max_context(b), 1)), f"max context that fits: {base.max_context(b)}")
        )
    xs = tuple(map(float, CONTEXTS))
    panels = [
        fig.LinePanel(
            "Decode TPOT bound",
            "time per output token (s)",
            "s",
            (fig.Series(f"roofline bound, b={b}", xs, tuple(r.tpot_s for r in rows)),),
        ),
        fig.LinePanel(
            "Bytes per generated token",
            "bytes per token (B)",
            "B",
            (fig.Series(f"b={b}", xs, tuple(r.bytes_per_token for r in rows)),),
        ),
    ]
    alt = (
        f"Decode TPOT bound grows from {seconds(rows[0].tpot_s)} at context {CONTEXTS[0]} to "
        f"{seconds(rows[-1].tpot_s)} at context {CONTEXTS[-1]}, batch {b}"
    )
    return fig.sweep(
        panels,
        xlabel="context (tokens)",
        marks=marks,
        alt=alt,
        name="sweep-context",
        title=f"Context sweep at batch {b} ({roof})",
    )


def percent_of(value: float | None, whole: float | None) -> str:
    return "-" if not value or not whole else percent(value / whole)
