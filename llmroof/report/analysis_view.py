"""The report of an analytic run (``llmroof.analysis/1``): every section from the analysis alone.

There are no measurements here: the headline gives the roofline bounds, and the bytes, sweeps and
attention sections are analytic. Parallelism appears when the workload spans more than one GPU.
"""

from __future__ import annotations

from typing import Any

from llmroof.errors import LlmroofError
from llmroof.report import figures as fig
from llmroof.report import rebuild
from llmroof.report import sections as sec
from llmroof.report import tables as tb
from llmroof.results.records import AnalysisRecord
from llmroof.results.records.analysis import PhaseTotals
from llmroof.specs.hardware import HardwareSpec
from llmroof.units import gib, percent, seconds, si


def _record(data: dict[str, Any]) -> AnalysisRecord:
    """The analysis as its typed record: a file missing a key fails the section that reads it, named."""
    return AnalysisRecord.from_dict(data)


def _hardware(r: AnalysisRecord) -> HardwareSpec:
    """The analysis's catalog entry as the ``HardwareSpec`` it was (its derived figures, the compute
    dtype and the roofline's peak, stay in ``r.hardware``); one that is not an entry fails the
    section, named."""
    spec = rebuild.hardware_spec(r.hardware)
    if spec is None:
        raise LlmroofError(
            "llmroof.analysis/1.hardware: not a hardware entry", "re-run llmroof analyze"
        )
    return spec


def _specs(data: dict[str, Any]) -> tuple[Any, Any, Any] | None:
    """The model, hardware and workload the analysis ran, rebuilt for the analytic engine."""
    record = rebuild.as_record(data, AnalysisRecord)
    if record is None:
        return None
    spec, hardware, workload = (
        rebuild.model_spec(record),
        rebuild.hardware_spec(record.hardware),
        rebuild.analysis_workload(record),
    )
    return (spec, hardware, workload) if spec and hardware and workload else None


def sweeps(data: dict[str, Any]) -> dict[str, Any] | None:
    specs = _specs(data)
    return (
        None
        if specs is None
        else sec.analytic_sweeps(*specs, roof=_roof_label(data), memory_known=True)
    )


def attention(data: dict[str, Any]) -> dict[str, Any] | None:
    specs = _specs(data)
    return (
        None
        if specs is None
        else sec.attention_variants(*specs, roof=_roof_label(data), memory_known=True)
    )


def title(data: dict[str, Any]) -> tuple[str, str]:
    r = _record(data)
    w = r.workload
    subtitle = (
        f"Analytic roofline: batch {w.batch}, prompt {w.prompt_len}, context {w.context_len}, "
        f"weights {w.weight_dtype}, activations {w.act_dtype}, KV {w.kv_dtype}, "
        f"tp {r.parallel.tp}, pp {r.parallel.pp}"
    )
    return f"{r.model.name} on {r.hardware['display_name']}", subtitle


def _roof_label(data: dict[str, Any]) -> str:
    return f"the {_record(data).hardware['display_name']} datasheet"


def headline(data: dict[str, Any]) -> dict[str, Any]:
    r = _record(data)
    hw, w, spec = r.hardware, r.workload, _hardware(r)
    pre, dec = r.phases.prefill, r.phases.decode
    pre_eager, dec_eager = _eager(pre), _eager(dec)
    bandwidth = spec.memory_bandwidth_bytes_per_s
    used = dec.bytes / r.parallel.gpus / dec.time_s if dec.time_s else None
    parts = sec.byte_parts(dec, w.batch)
    cards = [
        {
            "label": "Decode TPOT (roofline bound)",
            "value": seconds(dec.tpot_s),
            "detail": f"at most {si(dec.tokens_per_s)} tokens/s at batch {w.batch}, context {w.context_len}"
            f"{_eager_note(r, dec, dec_eager.tpot_s if dec_eager else None)}. Not measured here: llmroof profile measures it.",
        },
        {
            "label": "Peak memory bandwidth",
            "value": si(bandwidth, "B/s"),
            "detail": f"{spec.memory_type or 'memory'} of one GPU; decode at its bound moves "
            f"{si(used, 'B/s')} per GPU ({sec.percent_of(used, bandwidth)} of peak)",
        },
        {
            "label": "Bytes per generated token",
            "value": si(dec.bytes_per_token, "B"),
            "detail": ", ".join(f"{name} {si(value, 'B')}" for name, value in parts),
        },
        {
            "label": "Prefill TTFT (roofline bound)",
            "value": seconds(pre.ttft_s),
            "detail": f"{w.batch} x {w.prompt_len} prompt tokens, {pre.bound}-bound"
            f"{_eager_note(r, pre, pre_eager.ttft_s if pre_eager else None)}",
        },
    ]
    ridge = hw.get("ridge_point_flops_per_byte")
    verdict = (
        f"Decode is {dec.bound}-bound: its arithmetic intensity is "
        f"{sec.intensity_verdict(dec.intensity, ridge, _roof_label(data))}."
    )
    cb = dec.compute_bound_batch
    if hw.get("roofline_peak_flops_per_s"):
        verdict += (
            " It turns compute-bound at batch " + str(cb) + "."
            if cb is not None
            else " It stays memory-bound at any batch at this context."
        )
    notes = [
        f"Prefill is {pre.bound}-bound: {sec.intensity_verdict(pre.intensity, ridge, _roof_label(data))}."
    ]
    mem = r.memory
    if not mem.fits:
        notes.append(
            f"Does not fit: needs {gib(mem.total_bytes_per_gpu)} per GPU of "
            f"{gib(mem.usable_bytes_per_gpu)} usable."
        )
    return {"cards": cards, "verdict": verdict, "bound": dec.bound, "notes": notes, "table": None}


def _implementation(r: AnalysisRecord) -> str:
    """The op set of the headline (files before it was recorded are eager)."""
    return r.workload.implementation or "eager"


def _eager(totals: PhaseTotals) -> PhaseTotals | None:
    """The eager op set's totals written beside a fused headline's (None where the file has none)."""
    return PhaseTotals.from_dict(totals.eager, "eager") if totals.eager else None


def _eager_note(r: AnalysisRecord, totals: PhaseTotals, eager_s: float | None) -> str:
    """'; eager ops: X' beside a fused headline figure (nothing for an eager headline or an older file)."""
    implementation = _implementation(r)
    if implementation == "eager" or not totals.eager:
        return ""
    return (
        f"; {implementation} kernels (minimum traffic); with one kernel per op (eager, "
        f"{r.workload.attention_kernel} attention) {seconds(eager_s)}"
    )


def roofline(data: dict[str, Any]) -> dict[str, Any] | None:
    r = _record(data)
    hw, spec = r.hardware, _hardware(r)
    ceiling = fig.Ceiling(
        f"{spec.display_name} datasheet ({hw['compute_dtype']})",
        spec.memory_bandwidth_bytes_per_s,
        hw.get("roofline_peak_flops_per_s"),
    )
    points = [
        fig.Point(
            op.name, op.phase, op.intensity or 0.0, op.flops / op.time_s if op.time_s else 0.0
        )
        for op in r.ops
    ]
    for phase in ("prefill", "decode"):
        totals = getattr(r.phases, phase)
        if totals.time_s and totals.intensity:
            points.append(
                fig.Point(
                    f"{phase} step",
                    phase,
                    totals.intensity,
                    totals.flops / r.parallel.gpus / totals.time_s,
                    total=True,
                )
            )
    alt = (
        f"Roofline of {spec.display_name}: memory slope {si(ceiling.bandwidth_bytes_per_s, 'B/s')}, "
        f"compute roof {si(ceiling.peak_flops_per_s, 'FLOP/s')}. Decode ops sit at about "
        f"{r.phases.decode.intensity or 0:.2g} FLOP/byte, prefill ops at up to "
        f"{max((op.intensity or 0) for op in r.ops if op.phase == 'prefill'):.3g} FLOP/byte."
    )
    svg = fig.roofline(
        [ceiling], points, title=f"Roofline: {r.model.name} on {spec.display_name}", alt=alt
    )
    notes = [
        "Each op at its arithmetic intensity and the FLOP/s the roofline allows it (per instance, one "
        "layer on one GPU); stars are the whole prefill and decode step per GPU. "
        "Ops with no FLOPs (the embedding lookup) have no place on a log axis and are left out."
    ]
    return (
        None
        if svg is None
        else {
            "figure": sec.figure(
                svg, "Analytic roofline: every op of prefill and of one decode step."
            ),
            "notes": notes,
        }
    )


def bytes_per_token(data: dict[str, Any]) -> dict[str, Any]:
    r = _record(data)
    w = r.workload
    decode_parts = sec.byte_parts(r.phases.decode, w.batch)
    prefill_parts = sec.byte_parts(r.phases.prefill, w.batch * w.prompt_len)
    panels = [
        fig.BarPanel(
            "Decode: per generated token",
            "bytes per token",
            "B",
            (fig.Bar(f"b={w.batch} c={w.context_len}", decode_parts),),
        ),
        fig.BarPanel(
            "Prefill: per prompt token",
            "bytes per token",
            "B",
            (fig.Bar(f"b={w.batch} s={w.prompt_len}", prefill_parts),),
        ),
    ]
    alt = (
        "Bytes per token split into weights, KV cache and activations: decode "
        + ", ".join(f"{n} {si(v, 'B')}" for n, v in decode_parts)
        + "; prefill "
        + ", ".join(f"{n} {si(v, 'B')}" for n, v in prefill_parts)
    )
    svg = fig.stacked_bars(
        panels, title="Memory traffic per token (analytic)", alt=alt, name="bytes"
    )
    rows = [
        sec.byte_row("decode, per generated token", decode_parts),
        sec.byte_row("prefill, per prompt token", prefill_parts),
    ]
    dec_eager, pre_eager = _eager(r.phases.decode), _eager(r.phases.prefill)
    if _implementation(r) != "eager" and dec_eager is not None and pre_eager is not None:
        rows += [
            sec.byte_row(
                "decode, per generated token (eager ops)", sec.byte_parts(dec_eager, w.batch)
            ),
            sec.byte_row(
                "prefill, per prompt token (eager ops)",
                sec.byte_parts(pre_eager, w.batch * w.prompt_len),
            ),
        ]
    return {
        "figure": sec.figure(svg, "Analytic bytes per token by kind; all GPUs together."),
        "table": tb.table(sec.BYTE_COLUMNS, rows),
        "notes": [
            "Analytic only: an analytic run has no measurement. NVML measures bytes in "
            "llmroof profile on a GPU."
        ],
    }


def parallel(data: dict[str, Any]) -> dict[str, Any] | None:
    r = _record(data)
    par, mem = r.parallel, r.memory
    if par.gpus <= 1:
        return None
    memory_panel, memory_table = sec.stage_memory(
        mem, list(par.stage_layers), par.tp, usable_known=True
    )
    pre, dec = r.phases.prefill, r.phases.decode
    shares = tuple(
        fig.Bar(f"{name}: {part}", ((part, 100 * value),))
        for name, p in (("prefill", pre), ("decode", dec))
        for part, value in (
            ("communication", p.comm_time_s / p.time_s),
            ("pipeline bubble", p.bubble_fraction),
        )
    )
    panels = [
        memory_panel,
        fig.BarPanel(
            "Share of each phase's critical path", "percent of the phase time", "%", shares
        ),
    ]
    alt = (
        f"Per-GPU memory for {len(par.stage_layers)} pipeline stages against "
        f"{gib(mem.usable_bytes_per_gpu)} usable; communication is "
        f"{percent(pre.comm_time_s / pre.time_s)} of prefill and "
        f"{percent(dec.comm_time_s / dec.time_s)} of a decode step; prefill bubble "
        f"{percent(pre.bubble_fraction)}"
    )
    svg = fig.stacked_bars(
        panels,
        title=f"Parallelism: tp {par.tp} x pp {par.pp} = {par.gpus} GPUs",
        alt=alt,
        name="parallel",
    )
    comm_rows = [
        [
            tb.cell(c.phase),
            tb.cell(c.name),
            tb.cell(c.kind),
            tb.number(c.bytes, "B"),
            tb.integer(c.ranks),
            tb.cell(c.link),
            tb.time_cell(c.time_s),
            tb.integer(c.count),
            tb.time_cell(c.time_s * c.count),
        ]
        for c in par.comm
    ]
    comm = tb.table(
        [
            ("phase", False),
            ("collective", False),
            ("kind", False),
            ("message", True),
            ("ranks", True),
            ("link", False),
            ("time each", True),
            ("count", True),
            ("total", True),
        ],
        comm_rows,
    )
    notes = [
        f"Prefill: communication {seconds(pre.comm_time_s)} of {seconds(pre.time_s)} "
        f"({percent(pre.comm_time_s / pre.time_s)}); bubble {percent(pre.bubble_fraction)} "
        f"(GPipe's formula: {percent(par.gpipe_bubble_fraction)}) with {par.micro_batches} micro-batches.",
        f"Decode step: communication {seconds(dec.comm_time_s)} of {seconds(dec.time_s)} "
        f"({percent(dec.comm_time_s / dec.time_s)}); bubble {percent(dec.bubble_fraction)}.",
        "Analytic: llmroof profile --tp/--pp measures comm share and bubble on real ranks, beside these.",
    ]
    figure = sec.figure(
        svg,
        "Per-GPU memory by pipeline stage, and the shares of each phase's time spent "
        "communicating or idle in the pipeline bubble.",
    )
    return {
        "figures": [figure] if figure else [],
        "notes": notes,
        "tables": [
            {"title": "Memory per GPU", "table": memory_table},
            {"title": "Communication", "table": comm},
        ],
    }


def ops(data: dict[str, Any]) -> dict[str, Any]:
    r = _record(data)
    implementation = _implementation(r)
    tables = [
        {
            "title": f"{phase} ops ({implementation})",
            "table": sec.analytic_op_table([op for op in r.ops if op.phase == phase]),
            "open": True,
        }
        for phase in ("prefill", "decode")
    ]
    if implementation != "eager" and r.eager_ops:
        tables += [
            {
                "title": f"{phase} ops (eager: one kernel per op)",
                "table": sec.analytic_op_table([op for op in r.eager_ops if op.phase == phase]),
                "open": False,
            }
            for phase in ("prefill", "decode")
        ]
    return {
        "tables": tables,
        "notes": [
            "Per instance: one layer on one GPU; x is the number of instances in "
            "the phase. FLOPs count 2 per multiply-add."
        ],
    }


def environment(data: dict[str, Any]) -> dict[str, Any]:
    r = _record(data)
    m, hw, w, par = r.model, r.hardware, r.workload, r.parallel
    device = _hardware(r)
    spec = m.spec
    pairs = [
        ("llmroof", r.llmroof_version),
        ("model", m.name),
        ("model source", spec.get("source")),
        ("parameters", si(m.params)),
        (
            "attention",
            f"{m.attention.upper()}: {spec.get('num_heads')} query heads, "
            f"{spec.get('num_kv_heads')} KV heads of {spec.get('head_dim')}",
        ),
        (
            "layers x hidden / MLP",
            f"{spec.get('num_layers')} x {spec.get('hidden_size')} / "
            f"{spec.get('intermediate_size')}",
        ),
        ("hardware", f"{device.display_name} ({device.name})"),
        (
            "memory",
            f"{gib(device.memory_bytes)} {device.memory_type}, "
            f"{si(device.memory_bandwidth_bytes_per_s, 'B/s')}",
        ),
        (
            f"compute peak ({hw['compute_dtype']}, dense)",
            si(hw.get("roofline_peak_flops_per_s"), "FLOP/s"),
        ),
        *((f"source: {k}", v) for k, v in sorted(device.sources.items())),
        ("dtypes", f"weights {w.weight_dtype}, activations {w.act_dtype}, KV {w.kv_dtype}"),
        ("op set of the bound", _implementation(r)),
        ("eager ops: attention kernel", w.attention_kernel),
        ("eager ops: fused qkv", str(w.fused_qkv).lower()),
        ("parallel", f"tp {par.tp}, pp {par.pp}, {par.micro_batches} micro-batches"),
        ("memory reserve", percent(w.memory_reserve_fraction)),
    ]
    return {"table": tb.key_values(pairs), "warnings": list(r.warnings)}


BUILDERS = (
    ("headline", headline),
    ("roofline", roofline),
    ("bytes", bytes_per_token),
    ("sweeps", sweeps),
    ("attention", attention),
    ("parallel", parallel),
    ("ops", ops),
    ("environment", environment),
)
