"""The report of a measured run (``llmroof.profile/1``): measured figures beside the analytic ones.

The headline follows the first configuration measured of each phase (the smallest batch, the first
context); the tables and figures hold every configuration. A CPU run has no datasheet and no NVML, so
those parts are left out; nothing here is parallel, so neither is that section.

Every section reads the run's :class:`~llmroof.results.records.profile.ProfileRecord` by attribute; only
its free-form ``Mapping`` fields (``nvml``, the ``--repeat``
spreads, ``calibration``) are read by key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmroof.analytic import Roofline, Workload, analyze
from llmroof.errors import LlmroofError
from llmroof.report import answer, rebuild
from llmroof.report import figures as fig
from llmroof.report import sections as sec
from llmroof.report import tables as tb
from llmroof.results.records.analysis import Memory, PhaseTotals
from llmroof.results.records.ceilings import CalibrationInfo
from llmroof.results.records.profile import (
    ConfigResult,
    CrossoverRow,
    OpResult,
    ParallelMeasured,
    ParallelRun,
    ProfileRecord,
    RooflineInfo,
)
from llmroof.units import gib, percent, seconds, si


def title(record: ProfileRecord) -> tuple[str, str]:
    device, w = record.device, record.workload
    depth = f"{w.layers_instantiated} of {w.layers_total} layers instantiated" + (
        " (full depth extrapolated)" if w.extrapolated else ""
    )
    par = record.parallel
    where_run = (
        f"{par.world_size} ranks (tp {par.tp} x pp {par.pp}, {par.backend}) of " if par else ""
    )
    subtitle = f"Measured on {where_run}{device.name} ({device.kind}), {w.dtype}, {depth}"
    return f"{record.model.name} on {device.name}", subtitle


def problems(record: ProfileRecord) -> list[str]:
    """What did not finish: the run's status and every configuration that was skipped or failed."""
    lines = []
    if record.status != "complete":
        lines.append(
            f"This run is {record.status}"
            + (f": {record.error}" if record.error else "")
            + ". The report shows what it finished."
        )
    for c in record.configs:
        if not c.ok:
            lines.append(f"{tag(c)}: {c.status}: {c.reason or ''}")
    return lines + [f"Note: {note}" for note in record.notes or ()]


# --- helpers --------------------------------------------------------------------------------------


def ok(record: ProfileRecord, phase: str) -> list[ConfigResult]:
    return [c for c in record.configs if c.phase == phase and c.ok]


def tag(c: ConfigResult) -> str:
    """``decode b=8 c=2048``, ``prefill b=1 s=512``: the names the NVTX ranges use."""
    return c.label


def _totals(c: ConfigResult) -> PhaseTotals:
    """A configuration's analytic phase totals; a configuration without them (a file edited by hand) is a
    KeyError, which leaves the section out with a note naming the key."""
    if c.analytic is None:
        raise KeyError("analytic")
    return c.analytic


def _roofline(measured: RooflineInfo) -> Roofline:
    return Roofline(measured.peak_flops_per_s, measured.bandwidth_bytes_per_s)


def _ceilings(record: ProfileRecord) -> tuple[RooflineInfo | None, RooflineInfo | None]:
    """(the measured roofline, the datasheet's); either None where the file has none."""
    roof = record.roofline
    return (roof.measured, roof.datasheet) if roof else (None, None)


def _measured(record: ProfileRecord) -> RooflineInfo:
    """The measured roofline, which a verdict needs (a KeyError, as above, where the file has none)."""
    measured = _ceilings(record)[0]
    if measured is None:
        raise KeyError("roofline")
    return measured


def where(c: ConfigResult) -> str:
    """``b=8 c=2048``: the configuration without its phase."""
    return tag(c).split(" ", 1)[1]


def ranks(record: ProfileRecord) -> int:
    """Ranks of a parallel run (1 otherwise): its achieved rates are all ranks' analytic totals over the
    measured time, so per-rank figures divide them by this before they meet one rank's ceilings."""
    return record.parallel.world_size if record.parallel else 1


def achieved(c: ConfigResult, record: ProfileRecord) -> tuple[float, float]:
    """(bytes/s, FLOP/s) achieved per rank."""
    n = ranks(record)
    return _number(c.achieved_bytes_per_s) / n, _number(c.achieved_flops_per_s) / n


def _number(value: float | None) -> float:
    """A figure every finished configuration (or timed op) has; a TypeError in a file without it."""
    if value is None:
        raise TypeError("a figure every finished configuration has is null or missing")
    return value


def bound_measured(c: ConfigResult, record: ProfileRecord) -> str:
    """The run's own verdict; a parallel run records none, so the same rule applies here: the ceiling whose
    share the achieved rate is the larger."""
    if c.bound_measured:
        return c.bound_measured
    bw, flops = achieved(c, record)
    # achieved rates in: the larger share of its ceiling wins
    return _roofline(_measured(record)).bound(flops, bw)


def _tokens(c: ConfigResult) -> int:
    return c.batch * (_length(c) if c.phase == "prefill" else 1)


def _length(c: ConfigResult) -> int:
    """The prompt (prefill) or context (decode) length, which every configuration of a run has."""
    if c.length is None:
        raise KeyError("prompt_len" if c.phase == "prefill" else "context_len")
    return c.length


# --- sections -------------------------------------------------------------------------------------


def headline(record: ProfileRecord) -> dict[str, Any] | None:
    decode, prefill = ok(record, "decode"), ok(record, "prefill")
    if not decode and not prefill:
        return None
    measured, sheet = _ceilings(record)
    ceiling = measured.bandwidth_bytes_per_s if measured else None
    cards = []
    if decode:
        d = decode[0]
        sheet_note = (
            f"; {percent(d.datasheet_roofline_fraction)} of the datasheet bound "
            f"{seconds(d.datasheet_roofline_time_s)}"
            if d.datasheet_roofline_time_s
            else ""
        )
        cards.append(
            {
                "label": f"Decode TPOT ({where(d)})",
                "value": seconds(d.tpot_s),
                "detail": f"{percent(d.roofline_fraction)} of roofline: the minimum-traffic bound on the "
                f"measured ceilings is {seconds(d.roofline_time_s)}{_eager_note(d)}{sheet_note}; "
                f"{si(d.tokens_per_s)} tokens/s",
            }
        )
        bw = achieved(d, record)[0]
        sheet_bw = (
            f"; {sec.percent_of(bw, sheet.bandwidth_bytes_per_s)} of the datasheet "
            f"{si(sheet.bandwidth_bytes_per_s, 'B/s')}"
            if sheet
            else ""
        )
        per_rank = ", per rank" if ranks(record) > 1 else ""
        cards.append(
            {
                "label": f"Achieved bandwidth (decode{per_rank})",
                "value": si(bw, "B/s"),
                "detail": f"{sec.percent_of(bw, ceiling)} of the measured read "
                f"ceiling {si(ceiling, 'B/s')}{sheet_bw}",
            }
        )
        nv = d.nvml.measured_bytes_per_token if d.nvml else None
        parts = sec.byte_parts(_totals(d), d.batch)
        cards.append(
            {
                "label": "Bytes per generated token",
                "value": si(d.bytes_per_token, "B"),
                "detail": "analytic: "
                + ", ".join(f"{n} {si(v, 'B')}" for n, v in parts)
                + (f"; NVML measured {si(nv, 'B')} for the instantiated layers" if nv else ""),
            }
        )
    if prefill:
        p = prefill[0]
        cards.append(
            {
                "label": f"Prefill TTFT ({where(p)})",
                "value": seconds(p.ttft_s),
                "detail": f"{percent(p.roofline_fraction)} of roofline "
                f"(bound {seconds(p.roofline_time_s)}{_eager_note(p)}); "
                f"{si(achieved(p, record)[1], 'FLOP/s')} achieved"
                + (" per rank" if ranks(record) > 1 else ""),
            }
        )
    lead = decode[0] if decode else prefill[0]
    notes = [verdict(p, record) for p in prefill[:1]] if decode else []
    simulated = lead.simulated  # the simulated degree and its communication
    if simulated:
        notes.append(
            f"--tp-simulate {simulated.tp}: one rank's shard was timed; TPOT and TTFT add the analytic "
            f"communication of {simulated.tp} ranks ({seconds(simulated.comm_time_s)} here), while "
            "% of roofline compares the shard's own work."
        )
    return {
        "cards": cards,
        "verdict": verdict(lead, record),
        "bound": bound_measured(lead, record),
        "notes": notes,
        "table": config_table(record),
    }


def _eager_note(c: ConfigResult) -> str:
    """', eager ops X': the bound of the one-kernel-per-op set the kernels ran (absent in older files)."""
    eager = c.eager_roofline_time_s
    return "" if eager is None else f", {seconds(eager)} for the eager ops timed"


def verdict(c: ConfigResult, record: ProfileRecord) -> str:
    measured = _measured(record)
    bw, flops = achieved(c, record)
    ridge = _roofline(measured).ridge_point
    each = " per rank" if ranks(record) > 1 else ""
    return (
        f"{c.phase.capitalize()} at {where(c)} is {bound_measured(c, record)}-bound as measured: achieved "
        f"bandwidth{each} is {percent(bw / measured.bandwidth_bytes_per_s)} of the measured ceiling and "
        f"achieved compute{each} {percent(flops / _number(measured.peak_flops_per_s))} of the measured "
        f"compute ceiling. Its arithmetic intensity is "
        f"{sec.intensity_verdict(_totals(c).intensity, ridge, 'the measured ceilings')}."
    )


def config_table(record: ProfileRecord) -> dict[str, Any]:
    sheet = _ceilings(record)[1]
    rows = []
    for c in ok(record, "decode") + ok(record, "prefill"):
        row = [
            tb.cell(tag(c)),
            tb.time_cell(c.time_s),
            tb.time_cell(c.roofline_time_s),
            tb.time_cell(c.eager_roofline_time_s),
            tb.percent_cell(c.roofline_fraction),
        ]
        if sheet:
            row.append(tb.percent_cell(c.datasheet_roofline_fraction))
        bw, flops = achieved(c, record)
        row += [
            tb.number(c.tokens_per_s),
            tb.number(bw, "B/s"),
            tb.number(flops, "FLOP/s"),
            tb.number(c.bytes_per_token, "B"),
            tb.cell(bound_measured(c, record)),
        ]
        rows.append(row)
    columns = [
        ("configuration", False),
        ("measured (TPOT / TTFT)", True),
        ("roofline bound (fused)", True),
        ("bound of the eager ops timed", True),
        ("% of roofline", True),
    ]
    columns += [("% of datasheet", True)] if sheet else []
    each = " per rank" if ranks(record) > 1 else ""
    columns += [
        ("tokens/s", True),
        (f"achieved B/s{each}", True),
        (f"achieved FLOP/s{each}", True),
        ("bytes/token", True),
        ("bound (measured)", False),
    ]
    return tb.table(columns, rows)


def roofline(record: ProfileRecord) -> dict[str, Any] | None:
    measured, sheet = _ceilings(record)
    if measured is None or not measured.bandwidth_bytes_per_s:
        return None
    dtype = record.workload.dtype
    ceilings = [
        fig.Ceiling(
            f"measured ceilings ({dtype})",
            measured.bandwidth_bytes_per_s,
            measured.peak_flops_per_s,
        )
    ]
    if sheet:
        ceilings.append(
            fig.Ceiling(
                sheet.label,
                sheet.bandwidth_bytes_per_s,
                sheet.peak_flops_per_s,
                dashed=True,
            )
        )
    cache_roofs = record.ceilings.cache_bandwidth_bytes_per_s if record.ceilings else None
    for level, bandwidth in (cache_roofs or {}).items():
        ceilings.append(
            fig.Ceiling(
                f"{level} roof (calibrated)",
                bandwidth,
                measured.peak_flops_per_s,
                dashed=True,
            )
        )
    points = []
    shown = [cs[0] for cs in (ok(record, "prefill"), ok(record, "decode")) if cs]
    for c in shown:
        points += [
            fig.Point(
                op.name,
                c.phase,
                op.intensity or 0.0,
                op.achieved_flops_per_s,
                lost_s=answer.op_lost_s(op),
            )
            for op in c.ops or ()
            if op.achieved_flops_per_s is not None
        ]
    for c in ok(record, "prefill") + ok(record, "decode"):
        points.append(
            fig.Point(
                where(c),
                c.phase,
                _totals(c).intensity or 0.0,
                achieved(c, record)[1],
                total=True,
            )
        )
    alt = (
        f"Roofline with measured ceilings {si(measured.bandwidth_bytes_per_s, 'B/s')} and "
        f"{si(measured.peak_flops_per_s, 'FLOP/s')}"
        + (f" and the datasheet's {si(sheet.bandwidth_bytes_per_s, 'B/s')}" if sheet else "")
        + "; "
        + "; ".join(
            f"{tag(c)} achieves {si(achieved(c, record)[1], 'FLOP/s')} at "
            f"{_totals(c).intensity or 0:.3g} FLOP/byte"
            for c in ok(record, "prefill") + ok(record, "decode")
        )
    )
    svg = fig.roofline(
        ceilings,
        points,
        alt=alt,
        title=f"Roofline: {record.model.name} on {record.device.name}",
    )
    if svg is None:
        return None
    ops_of = ", ".join(tag(c) for c in shown if c.ops)
    notes = [
        "Stars: each whole configuration at its analytic arithmetic intensity and its achieved FLOP/s "
        "(analytic FLOPs / measured median time"
        + (", per rank" if ranks(record) > 1 else "")
        + ")."
        + (f" Dots: each op of one layer for {ops_of}, timed alone." if ops_of else ""),
        "Ops with no FLOPs (the embedding lookup) have no place on a log axis and are left out.",
    ]
    return {
        "figure": sec.figure(svg, "Measured roofline: ceilings, configurations and ops."),
        "notes": notes,
    }


def bytes_per_token(record: ProfileRecord) -> dict[str, Any] | None:
    decode, prefill = ok(record, "decode"), ok(record, "prefill")
    if not decode and not prefill:
        return None
    decode_bars = tuple(fig.Bar(where(c), sec.byte_parts(_totals(c), c.batch)) for c in decode)
    prefill_bars = tuple(fig.Bar(where(c), sec.byte_parts(_totals(c), _tokens(c))) for c in prefill)
    panels = [
        fig.BarPanel(
            "Decode: per generated token, full depth (analytic)",
            "bytes per token",
            "B",
            decode_bars,
        ),
        fig.BarPanel(
            "Prefill: per prompt token, full depth (analytic)", "bytes per token", "B", prefill_bars
        ),
    ]
    sampled = [c for c in decode + prefill if c.nvml and c.nvml.measured_bytes_per_token]
    layers = record.workload.layers_instantiated
    if sampled:
        bars = []
        for c in sampled:
            assert c.nvml is not None and c.nvml.measured_bytes_per_token is not None  # sampled
            bars.append(fig.Bar(f"{tag(c)}: analytic", stack_parts(c, layers)))
            bars.append(
                fig.Bar(f"{tag(c)}: NVML", (("measured (NVML)", c.nvml.measured_bytes_per_token),))
            )
        panels.append(
            fig.BarPanel(
                f"{layers}-layer stack: NVML measured vs analytic",
                "bytes per token",
                "B",
                tuple(bars),
            )
        )
    alt = "Analytic bytes per token by kind for " + "; ".join(
        f"{tag(c)}: "
        + ", ".join(f"{n} {si(v, 'B')}" for n, v in sec.byte_parts(_totals(c), _tokens(c)))
        for c in decode + prefill
    )
    svg = fig.stacked_bars(panels, title="Memory traffic per token", alt=alt, name="bytes")
    rows = []
    for c in decode + prefill:
        nv = c.nvml
        row = sec.byte_row(tag(c), sec.byte_parts(_totals(c), _tokens(c)))
        if sampled:
            row += [
                tb.number(nv.measured_bytes_per_token if nv else None, "B"),
                tb.number(nv.analytic_bytes_per_token if nv else None, "B"),
                tb.ratio_cell(nv.measured_to_analytic_bytes_ratio if nv else None),
            ]
        rows.append(row)
    columns = list(sec.BYTE_COLUMNS)
    if sampled:
        columns += [
            (f"NVML measured ({layers} layers)", True),
            (f"analytic ({layers} layers)", True),
            ("measured / analytic", True),
        ]
    notes = [
        "Analytic bytes of the whole model per token (decode: per generated token; prefill: per prompt token)."
    ]
    if sampled:
        notes.append(
            f"NVML measures DRAM traffic while the {layers}-layer stack (embedding, layers, final norm, "
            "lm_head) replays; a ratio above 1 means more traffic than the unfused analytic model counts."
        )
    else:
        notes.append(
            "Nothing measured the bytes: NVML samples GPUs only"
            + (" and this run is on the CPU" if record.device.kind == "cpu" else "")
            + ". Achieved bandwidth elsewhere in this report is the analytic bytes over the measured time."
        )
    caption = "Bytes per token by kind" + (", and NVML's measurement." if sampled else ".")
    return {"figure": sec.figure(svg, caption), "table": tb.table(columns, rows), "notes": notes}


def stack_parts(c: ConfigResult, layers: int | None) -> tuple[tuple[str, float], ...]:
    """Analytic bytes per token of the instantiated stack, by kind (the ops hold one instance each)."""
    ops = c.ops or ()
    if not ops or not layers:
        return (("weights", (c.nvml.analytic_bytes_per_token if c.nvml else None) or 0.0),)
    weights = kv = act = 0.0
    for op in ops:
        times = layers if op.name.startswith(("attn.", "mlp.")) else 1
        weights += _number(op.weight_bytes) * times
        kv += (_number(op.kv_read_bytes) + _number(op.kv_write_bytes)) * times
        act += (_number(op.act_read_bytes) + _number(op.act_write_bytes)) * times
    tokens = _tokens(c)
    return (
        ("weights", weights / tokens),
        ("KV cache", kv / tokens),
        ("activations", act / tokens),
    )


def sweeps(record: ProfileRecord) -> dict[str, Any] | None:
    decode = ok(record, "decode")
    contexts = sorted({_length(c) for c in decode})
    batches = sorted({c.batch for c in decode})
    measured, _ = _ceilings(record)
    figures = []
    if len(batches) >= 2:
        figures.append(_batch_sweep(record, decode, contexts, measured))
    if len(contexts) >= 2:
        figures.append(_context_sweep(decode, batches))
    figures.append(_moe_experts(record, decode))
    figures = [f for f in figures if f is not None]
    if not figures:
        return None
    crossover = record.crossover  # per context, the batch decode turns compute-bound
    rows = [
        [
            tb.integer(r.context_len),
            tb.cell(
                "not reached (up to b=" + str(max(r.batches_measured, default=0)) + ")"
                if r.measured_batch is None
                else r.measured_batch,
                r.measured_batch or "",
            ),
            tb.cell(
                "never" if r.analytic_batch is None else r.analytic_batch,
                r.analytic_batch or "",
            ),
            tb.cell(", ".join(map(str, r.batches_measured))),
        ]
        for r in _crossover_rows(record)
    ]
    table = tb.table(
        [
            ("context", True),
            ("compute-bound from batch (measured)", False),
            ("compute-bound from batch (roofline)", False),
            ("batches measured", False),
        ],
        rows,
    )
    method = crossover.method if crossover else None
    return {
        "figures": figures,
        "table": table if rows else None,
        "notes": [method] if method else [],
    }


def _crossover_rows(record: ProfileRecord) -> tuple[CrossoverRow, ...]:
    """The decode crossover per context (none in parallel or incomplete runs)."""
    return (record.crossover.decode or ()) if record.crossover else ()


def _batch_sweep(
    record: ProfileRecord,
    decode: list[ConfigResult],
    contexts: list[int],
    measured: RooflineInfo | None,
) -> dict[str, Any] | None:
    tokens, bandwidth = [], []
    for i, context in enumerate(contexts):
        rows = sorted((c for c in decode if c.context_len == context), key=lambda c: c.batch)
        xs = tuple(float(c.batch) for c in rows)
        tokens.append(
            fig.Series(f"measured, c={context}", xs, tuple(c.tokens_per_s for c in rows), color=i)
        )
        tokens.append(
            fig.Series(
                f"roofline bound, c={context}",
                xs,
                tuple(c.batch / _number(c.roofline_time_s) for c in rows),
                dashed=True,
                color=i,
            )
        )
        bandwidth.append(
            fig.Series(
                f"measured, c={context}", xs, tuple(achieved(c, record)[0] for c in rows), color=i
            )
        )
    marks = []
    for row in _crossover_rows(record):
        if row.measured_batch is not None:
            marks.append(
                (
                    float(row.measured_batch),
                    f"measured compute-bound from b={row.measured_batch}, c={row.context_len}",
                )
            )
        if row.analytic_batch is not None:
            marks.append(
                (
                    float(row.analytic_batch),
                    f"roofline: compute-bound from b={row.analytic_batch}, c={row.context_len}",
                )
            )
    ceiling = measured.bandwidth_bytes_per_s if measured else None
    panels = [
        fig.LinePanel("Decode throughput", "tokens/s (all sequences)", "", tuple(tokens)),
        fig.LinePanel(
            "Achieved bandwidth" + (" per rank" if ranks(record) > 1 else ""),
            "bandwidth (B/s)",
            "B/s",
            tuple(bandwidth),
            hline=(ceiling, f"measured ceiling {si(ceiling, 'B/s')}") if ceiling else None,
            log_y=False,
        ),
    ]
    alt = "Decode tokens/s and achieved bandwidth against batch: " + "; ".join(
        f"c={c.context_len} b={c.batch}: {si(c.tokens_per_s)} tokens/s, "
        f"{si(achieved(c, record)[0], 'B/s')}"
        for c in decode
    )
    svg = fig.sweep(
        panels,
        xlabel="batch (sequences)",
        marks=marks,
        alt=alt,
        name="sweep-batch",
        title="Batch sweep (measured, and the roofline bound dashed)",
    )
    return sec.figure(
        svg,
        "Decode tokens/s and achieved bandwidth against batch, one colour per context; green "
        "lines mark where decode turns compute-bound.",
    )


def _moe_experts(record: ProfileRecord, decode: list[ConfigResult]) -> dict[str, Any] | None:
    """Experts touched against batch for a MoE model: the analytic curve and the profile's measured points."""
    from llmroof.analytic.sweep import sweep
    from llmroof.specs.dtypes import Precision

    spec = rebuild.spec_of(record.model.spec)
    points = [(c.batch, c.experts_touched) for c in decode if c.experts_touched is not None]
    hardware, _ = rebuild.profile_roofline_hardware(record)
    if spec is None or not spec.is_moe or not decode or hardware is None:
        return None
    context = _length(decode[0])
    workload = Workload(
        batch=1,
        context_len=context,
        precision=rebuild.profile_precision(record) or Precision.uniform(),
    )
    try:
        rows = sweep(spec, hardware, workload, "batch", list(sec.BATCHES))
    except (LlmroofError, ValueError):
        return None
    return sec.moe_figure(spec, rows, workload, points)


def _context_sweep(decode: list[ConfigResult], batches: list[int]) -> dict[str, Any] | None:
    series = []
    for i, batch in enumerate(batches):
        rows = sorted((c for c in decode if c.batch == batch), key=_length)
        xs = tuple(float(_length(c)) for c in rows)
        series.append(
            fig.Series(f"measured, b={batch}", xs, tuple(c.tpot_s for c in rows), color=i)
        )
        series.append(
            fig.Series(
                f"roofline bound, b={batch}",
                xs,
                tuple(c.roofline_time_s for c in rows),
                dashed=True,
                color=i,
            )
        )
    alt = "Decode TPOT against context: " + "; ".join(
        f"b={c.batch} c={c.context_len}: {seconds(c.tpot_s)} (bound {seconds(c.roofline_time_s)})"
        for c in decode
    )
    svg = fig.sweep(
        [fig.LinePanel("Decode TPOT", "time per output token (s)", "s", tuple(series))],
        xlabel="context (tokens)",
        marks=[],
        alt=alt,
        name="sweep-context",
        title="Context sweep (measured, and the roofline bound dashed)",
    )
    return sec.figure(svg, "Decode time per output token against context, one colour per batch.")


def attention(record: ProfileRecord) -> dict[str, Any] | None:
    spec = rebuild.spec_of(record.model.spec)
    hardware, roof = rebuild.profile_roofline_hardware(record)
    precision = rebuild.profile_precision(record)
    decode = ok(record, "decode")
    w = record.workload
    if spec is None or hardware is None or precision is None:
        return None
    batch = max((c.batch for c in decode), default=max(w.batches or [1]))
    context = max((_length(c) for c in decode), default=max(w.contexts or [1]))
    par = record.parallel
    workload = Workload(
        batch=batch,
        prompt_len=1,
        context_len=context,
        precision=precision,
        attention_kernel="eager",
        tp=par.tp if par else 1,
        pp=par.pp if par else 1,
    )
    return sec.attention_variants(
        spec, hardware, workload, roof=roof, memory_known=roof != "the measured ceilings"
    )


def parallel(record: ProfileRecord) -> dict[str, Any] | None:
    """A parallel run's measured communication share, pipeline bubble and stage times beside the analytic
    ones, and the analytic memory per GPU of its layout."""
    par = record.parallel
    configs = [c for c in record.configs if c.ok and c.measured]
    if not par or not configs:
        return None
    labels = [f"{c.phase[:3]}\n{where(c)}" for c in configs]
    comm = [
        [100 * (_parallel_measured(c).comm_share or 0.0) for c in configs],
        [100 * _totals(c).comm_time_s / _totals(c).time_s for c in configs],
    ]
    bubble = [
        [100 * _parallel_measured(c).bubble_fraction for c in configs],
        [100 * _number(_totals(c).pass_bubble_fraction) for c in configs],
    ]
    alt = "Measured against analytic, per configuration: " + "; ".join(
        f"{tag(c)}: communication {percent(comm[0][i] / 100)} (analytic {percent(comm[1][i] / 100)}), bubble "
        f"{percent(bubble[0][i] / 100)} (analytic {percent(bubble[1][i] / 100)})"
        for i, c in enumerate(configs)
    )
    svg = fig.grouped_bars(
        labels,
        ("measured", "analytic"),
        [
            ("Communication share", "percent of the pass", "%", comm),
            ("Pipeline bubble", "percent of the pass", "%", bubble),
        ],
        title=f"Parallelism: tp {par.tp} x pp {par.pp} on {par.world_size} ranks ({par.backend})",
        alt=alt,
        name="parallel",
    )
    figures = [
        sec.figure(
            svg,
            "Communication share and pipeline bubble of each pass, measured on the ranks and "
            "from the analytic model on the measured ceilings and link.",
        )
    ]
    tables = [{"title": "Measured vs analytic", "table": parallel_table(configs)}]
    memory = _stage_memory(record, par)
    if memory is not None:
        panel, table = memory
        figures.append(
            sec.figure(
                fig.stacked_bars(
                    [panel],
                    title="Memory per GPU (analytic)",
                    name="parallel-memory",
                    alt="Analytic weights and KV cache on one GPU of each stage: "
                    + ", ".join(
                        f"{b.label}: {gib(sum(v for _, v in b.parts))}" for b in panel.bars
                    ),
                ),
                "Analytic weights and KV cache per GPU of each stage at the largest batch and "
                "context measured; the run does not record memory per rank.",
            )
        )
        tables.append({"title": "Memory per GPU (analytic)", "table": table})
    link = par.link
    notes = [
        f"Measured link: {si(link.bandwidth_bytes_per_s, 'B/s')}, {seconds(link.latency_s)} "
        f"per step ({link.method}); the analytic figures use it."
        if link
        else "One rank: no link.",
        "Communication: the all-reduces and pipeline sends on the critical path, from each's measured time; "
        "bubble: 1 - m x the sum of stage times / (pp x the pass time).",
    ]
    return {"figures": [f for f in figures if f], "tables": tables, "notes": notes}


def _parallel_measured(c: ConfigResult) -> ParallelMeasured:
    """What the ranks measured for a configuration of a parallel run (a KeyError where it has none)."""
    if c.measured is None:
        raise KeyError("measured")
    return c.measured


def parallel_table(configs: Sequence[ConfigResult]) -> dict[str, Any]:
    rows = []
    for c in configs:
        m, a = _parallel_measured(c), _totals(c)
        rows.append(
            [
                tb.cell(tag(c)),
                tb.integer(c.micro_batches),
                tb.time_cell(c.time_s),
                tb.time_cell(a.time_s),
                tb.percent_cell(m.comm_share),
                tb.percent_cell(a.comm_time_s / a.time_s),
                tb.percent_cell(m.bubble_fraction),
                tb.percent_cell(a.pass_bubble_fraction),
                tb.cell(" / ".join(seconds(t) for t in m.stage_times_s)),
                tb.cell(" / ".join(seconds(t) for t in a.stage_times_s)),
                tb.time_cell(m.allreduce_time_s),
                tb.time_cell(m.p2p_time_s),
            ]
        )
    columns = [
        ("configuration", False),
        ("m", True),
        ("pass", True),
        ("analytic", True),
        ("comm share", True),
        ("analytic", True),
        ("bubble", True),
        ("analytic", True),
        ("stage times", False),
        ("analytic", False),
        ("all-reduce", True),
        ("p2p send", True),
    ]
    return tb.table(columns, rows)


def _stage_memory(record: ProfileRecord, par: ParallelRun) -> tuple[Any, dict[str, Any]] | None:
    """The analytic memory per GPU of the run's layout, at its largest batch and context."""
    spec, precision = rebuild.spec_of(record.model.spec), rebuild.profile_precision(record)
    hardware, _ = rebuild.profile_roofline_hardware(record)
    w = record.workload
    if spec is None or precision is None or hardware is None or not w.batches or not w.contexts:
        return None
    batch, micro_batches = max(w.batches), par.micro_batches or 1
    try:
        workload = Workload(
            batch=batch,
            prompt_len=w.prompt_len,
            context_len=max(w.contexts),
            precision=precision,
            tp=par.tp,
            pp=par.pp,
            micro_batches=micro_batches if batch % micro_batches == 0 else 1,
        )
        memory = Memory.of(analyze(spec, hardware, workload))
    except (ValueError, LlmroofError):
        return None
    return sec.stage_memory(memory, list(par.stage_layers), par.tp, usable_known=False)


def nvml(record: ProfileRecord) -> dict[str, Any] | None:
    """The NVML samples over time, with each configuration's replay region (its NVTX range) as a band."""
    info = record.nvml
    samples = info.samples or ()
    gpm = [(s, s.dram_bandwidth_bytes_per_s) for s in samples]
    busy = [(s, s.mem_busy_percent) for s in samples]
    chosen = [(s, v) for s, v in gpm if v is not None] or [(s, v) for s, v in busy if v is not None]
    if not chosen:
        return None
    measures_bytes = chosen[0][0].dram_bandwidth_bytes_per_s is not None
    start = min(s.start_s for s, _ in chosen)
    times = [(s.start_s + s.end_s) / 2 - start for s, _ in chosen]
    values = [v for _, v in chosen if v is not None]
    layers = record.workload.layers_instantiated
    bands = [
        fig.Band(
            c.nvml.start_s - start, c.nvml.end_s - start, f"{tag(c)} stack x{layers} nvml replay"
        )
        for c in record.configs
        if c.nvml is not None
    ]
    peak = info.peak_dram_bandwidth_bytes_per_s
    if measures_bytes:
        ylabel, unit = "DRAM bandwidth (B/s)", "B/s"
        peak_line = (peak, f"peak {si(peak, 'B/s')} (NVML)") if peak else None
    else:
        ylabel, unit, peak_line = "memory controller busy (%)", "%", (100.0, "100% busy")
    alt = (
        f"{len(values)} NVML samples from source {info.source}: {ylabel} between {si(min(values))} and "
        f"{si(max(values))}, with {len(bands)} replay regions shaded"
    )
    svg = fig.timeline(
        times,
        values,
        bands,
        ylabel=ylabel,
        unit=unit,
        peak=peak_line,
        alt=alt,
        title="NVML memory traffic over the run",
    )
    notes = [
        f"Source: {info.source} ({info.status}). Each point covers its sampling window "
        f"(plotted at the window's middle); shaded bands are the NVTX ranges of the steady replays that NVML "
        "figures are taken from."
    ]
    if not measures_bytes:
        notes.append(
            "This source measures the share of time the memory controller was busy, not bytes: 100% "
            "busy at a trickle of traffic reads the same as at full bandwidth."
        )
    if info.error:
        notes.append(f"NVML stopped during the run: {info.error}")
    return {
        "figure": sec.figure(svg, "NVML samples over the run, with the replay regions as bands."),
        "notes": notes,
    }


def _calibration_text(calibration: CalibrationInfo | None) -> str | None:
    """Where the ceilings came from, and the drift checks at the start and end of the run."""
    if calibration is None:
        return None
    drift = [
        f"{when} {d.drift_fraction:+.0%}"
        + (" (beyond the calibration's spread)" if d.beyond_spread else "")
        for when, d in calibration.drift_checks()
        if d.drift_fraction is not None
    ]
    return (
        f"{calibration.status}, measured {calibration.measured_at} ({calibration.cache_path})"
        + (f"; drift {', '.join(drift)}" if drift else "")
    )


def ops(record: ProfileRecord) -> dict[str, Any] | None:
    configs = [c for c in ok(record, "prefill") + ok(record, "decode") if c.ops]
    if not configs:
        return None
    firsts = {id(cs[0]) for cs in (ok(record, "prefill"), ok(record, "decode")) if cs}
    tables = [
        {"title": f"{tag(c)}: ops of one layer", "table": op_table(c), "open": id(c) in firsts}
        for c in configs
    ]
    return {
        "tables": tables,
        "notes": [
            "Each op timed alone (median of its samples) against its roofline time on "
            "the measured ceilings; achieved rates are analytic FLOPs and bytes over "
            "the measured time.",
            "Hierarchical roofline: an op whose working set (its bytes moved) fits a "
            "cache level is set against that level's calibrated roof (column roof), "
            "a larger one against DRAM.",
        ],
    }


def op_table(c: ConfigResult) -> dict[str, Any]:
    rows = []
    for op in c.ops or ():
        rows.append(
            [
                tb.cell(op.name),
                tb.time_cell(op.median_s),
                tb.time_cell(_roof_time_s(op)),
                tb.percent_cell(op.roofline_fraction),
                tb.cell(op.roof_level or "DRAM"),
                tb.number(op.achieved_bytes_per_s, "B/s"),
                tb.number(op.achieved_flops_per_s, "FLOP/s"),
                tb.ratio_cell(op.intensity, 1),
                tb.number(op.bytes, "B"),
                tb.cell(op.bound),
                tb.ratio_cell(op.cv),
            ]
        )
    columns = [
        ("op", False),
        ("measured", True),
        ("roofline", True),
        ("% of roofline", True),
        ("roof", False),
        ("achieved B/s", True),
        ("achieved FLOP/s", True),
        ("FLOP/B", True),
        ("bytes", True),
        ("bound", False),
        ("CV", True),
    ]
    return tb.table(columns, rows)


def _roof_time_s(op: OpResult) -> float:
    """The op's roofline time on the roof of its level; files from before the hierarchical roofline have
    only ``time_s``, on DRAM's."""
    return op.time_s if op.roof_time_s is None else op.roof_time_s


SPREAD_METRICS = (
    ("tpot_s", "TPOT", tb.time_cell),
    ("ttft_s", "TTFT", tb.time_cell),
    ("tokens_per_s", "tokens/s", tb.number),
    ("achieved_bytes_per_s", "achieved bandwidth", lambda x: tb.number(x, "B/s")),
    ("roofline_fraction", "% of roofline", tb.percent_cell),
)


def spread(record: ProfileRecord) -> dict[str, Any] | None:
    """``profile --repeat N``: how much each metric moved between the processes: a configuration's
    ``metrics`` and ``ops`` (and the run's ``ceilings``), per metric (op) the spread over the
    processes."""
    repeat = record.repeat
    if not repeat:
        return None
    rows, op_tables = [], []
    for c in record.configs:
        block = c.repeat
        for name, label, show in SPREAD_METRICS:
            m = ((block.metrics if block else None) or {}).get(name)
            if m:
                values = ", ".join(
                    f"p{item.process}: {show(item.value)['text']}" for item in m.by_process
                )
                rows.append(
                    [
                        tb.cell(tag(c)),
                        tb.cell(label),
                        show(m.median),
                        show(m.min),
                        show(m.max),
                        tb.percent_cell(m.cv),
                        tb.integer(m.n),
                        tb.cell(values),
                    ]
                )
        if block and block.ops:
            op_rows = [
                [
                    tb.cell(name),
                    tb.time_cell(o.median),
                    tb.time_cell(o.min),
                    tb.time_cell(o.max),
                    tb.percent_cell(o.cv),
                    tb.integer(o.n),
                ]
                for name, o in block.ops.items()
            ]
            op_tables.append(
                {
                    "title": f"{tag(c)}: per-op median time, spread over the processes",
                    "table": tb.table(
                        [
                            ("op", False),
                            ("median", True),
                            ("min", True),
                            ("max", True),
                            ("CV", True),
                            ("processes", True),
                        ],
                        op_rows,
                    ),
                }
            )
    columns = [
        ("configuration", False),
        ("metric", False),
        ("median", True),
        ("min", True),
        ("max", True),
        ("CV", True),
        ("processes", True),
        ("by process", False),
    ]
    done, asked = repeat.processes_finished, repeat.processes_requested
    title = (
        f"{done} fresh processes"
        + (f" of {asked} requested" if done != asked else "")
        + "; the other sections show, per configuration, the process whose time is the median."
    )
    notes = [repeat.method, "CV: standard deviation / mean of the per-process values."]
    ceilings = repeat.ceilings.get("measured_bandwidth_bytes_per_s")
    if ceilings is not None and ceilings.n > 1:
        notes.append(
            f"Measured read ceiling over the processes: {si(ceilings.min, 'B/s')} to "
            f"{si(ceilings.max, 'B/s')} (CV {ceilings.cv:.1%})."
        )
    return {"title": title, "table": tb.table(columns, rows), "ops": op_tables, "notes": notes}


def environment(record: ProfileRecord) -> dict[str, Any]:
    env, device, w = record.environment, record.device, record.workload
    timing, ceilings = record.timing or {}, record.ceilings
    sheet = record.hardware or {}  # the datasheet entry, as the catalog writes it
    cache_roofs = ceilings.cache_bandwidth_bytes_per_s if ceilings else None
    pairs: list[tuple[str, Any]] = [
        (key.replace("_", " "), _text(value)) for key, value in env.items()
    ]
    pairs += [
        ("device", f"{device.name} ({device.kind} {device.index})"),
        ("cache", si(device.cache_bytes, "B")),
        (
            "measured memory bandwidth (DRAM roof)",
            si(ceilings.measured_bandwidth_bytes_per_s if ceilings else None, "B/s"),
        ),
        (
            "calibrated cache roofs",
            ", ".join(f"{level} {si(bw, 'B/s')}" for level, bw in (cache_roofs or {}).items())
            or None,
        ),
        (
            "measured copy bandwidth",
            si(ceilings.measured_copy_bandwidth_bytes_per_s if ceilings else None, "B/s"),
        ),
        ("measured compute", si(ceilings.measured_flops_per_s if ceilings else None, "FLOP/s")),
        ("ceilings method", ceilings.method if ceilings else None),
        ("calibration", _calibration_text(record.calibration)),
        ("datasheet", sheet.get("display_name") or "none (the measured ceilings are the roofline)"),
        *((f"datasheet source: {k}", v) for k, v in sorted((sheet.get("sources") or {}).items())),
        ("batches", _text(w.batches)),
        ("prompt", w.prompt_len),
        ("contexts", _text(w.contexts)),
        ("dtype", w.dtype),
        ("layers", f"{w.layers_instantiated} of {w.layers_total}"),
        ("extrapolation", w.extrapolation if w.extrapolated else None),
        ("CUDA graphs", _text(w.cuda_graphs)),
        *((f"timing: {k.replace('_', ' ')}", _text(v)) for k, v in timing.items()),
        ("NVML", record.nvml.status),
    ]
    return {"table": tb.key_values(pairs), "warnings": []}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k} {v}" for k, v in value.items())
    return str(value)


BUILDERS = (
    ("headline", headline),
    ("roofline", roofline),
    ("bytes", bytes_per_token),
    ("sweeps", sweeps),
    ("attention", attention),
    ("parallel", parallel),
    ("nvml", nvml),
    ("ops", ops),
    ("spread", spread),
    ("environment", environment),
)
