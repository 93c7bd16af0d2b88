"""The terminal tables of one ``llmroof analyze``: the workload, the roofline, every op of both phases, the
phase totals, the bounds, memory, experts and parallelism."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmroof.report.console.render import user
from llmroof.units import gib, percent, seconds, si

if TYPE_CHECKING:
    from llmroof.results.records.analysis import AnalysisRecord, OpRow, PhaseTotals

NOTE = "per instance: one layer on one rank; x = instances per pass"


def print_result(record: AnalysisRecord, fmt: str = "table") -> None:
    """An analysis as ``fmt``: json, csv (the headline ops, then the eager ones; the implementation
    column tells them apart) or table, on stdout."""
    from llmroof.report.console.render import console, print_csv, print_json

    if fmt == "json":
        print_json(record.to_dict())
    elif fmt == "csv":
        eager = record.eager_ops or () if record.workload.implementation != "eager" else ()
        print_csv([op.to_dict() for op in (*record.ops, *eager)])
    else:
        print_analysis(record, console())


def write_html(record: AnalysisRecord, path: Path, argv: Sequence[str]) -> None:
    """``--html``: the analysis's report page, its source the command line ``argv``; the page's path
    on stderr, so that --format json stays clean."""
    import shlex
    import sys

    from llmroof.report import write_report

    write_report(record.to_dict(), path, source=shlex.join(argv), filename="analysis.json")
    print(f"Report: {path}", file=sys.stderr)


def print_analysis(record: AnalysisRecord, out: Any) -> None:
    """Every table and line of an analysis on ``out``, a rich console."""
    hw, wl, par, model = record.hardware, record.workload, record.parallel, record.model
    out.print(
        f"[bold]{user(model.name)}[/] ({model.attention.upper()}, {si(model.params)} params) on "
        f"[bold]{user(hw['display_name'])}[/]: batch {wl.batch}, prompt {wl.prompt_len}, context "
        f"{wl.context_len}, weights {wl.weight_dtype}, activations {wl.act_dtype}, KV {wl.kv_dtype}, "
        f"tp {par.tp}, pp {par.pp}"
    )
    ridge = hw["ridge_point_flops_per_byte"]
    out.print(
        f"Roofline: {si(hw['roofline_peak_flops_per_s'], 'FLOP/s')} ({hw['compute_dtype']}, dense), "
        f"{si(hw['memory_bandwidth_bytes_per_s'], 'B/s')}; ridge point "
        f"{'-' if ridge is None else f'{ridge:.0f}'} FLOP/byte"
    )
    for phase in ("prefill", "decode"):
        rows = [op for op in record.ops if op.phase == phase]
        out.print(op_table(f"{phase} ops, {wl.implementation} ({NOTE})", rows))
    out.print(_totals_table(record))
    _print_bounds(record, out)
    _print_memory_and_parallelism(record, out)
    for warning in record.warnings:
        out.print(f"[yellow]warning:[/] {user(warning)}")


def op_table(title: str, ops: Sequence[OpRow]) -> Any:
    """One row per op instance: its FLOPs, bytes by kind, intensity, time and bound."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in ("op", "x", "FLOPs", "weights", "act r+w", "KV r+w", "FLOP/B", "time", "bound"):
        table.add_column(column, justify="left" if column == "op" else "right")
    for op in ops:
        table.add_row(
            op.name,
            str(op.count),
            si(op.flops),
            si(op.weight_bytes, "B"),
            si(op.act_read_bytes + op.act_write_bytes, "B"),
            si(op.kv_read_bytes + op.kv_write_bytes, "B"),
            f"{op.intensity:.1f}",
            seconds(op.time_s),
            op.bound,
        )
    return table


def _totals_table(record: AnalysisRecord) -> Any:
    """Both phases' totals, and beside a fused headline the eager op set's."""
    from rich.table import Table

    implementation = record.workload.implementation
    pre, dec = record.phases.prefill, record.phases.decode
    table = Table(title="Phase totals (all layers, all GPUs)", title_justify="left")
    for column in (
        "phase",
        "FLOPs",
        "bytes",
        "weights",
        "KV read",
        "FLOP/B",
        "comm",
        "time",
        "bound",
    ):
        table.add_column(column, justify="left" if column == "phase" else "right")
    rows = [(f"prefill ({implementation})", pre), (f"decode step ({implementation})", dec)]
    if implementation != "eager":
        rows += [("prefill, eager ops", _eager(pre)), ("decode step, eager ops", _eager(dec))]
    for name, p in rows:
        table.add_row(
            name,
            si(p.flops),
            si(p.bytes, "B"),
            si(p.weight_bytes, "B"),
            si(p.kv_read_bytes, "B"),
            f"{p.intensity:.1f}",
            seconds(p.comm_time_s),
            seconds(p.time_s),
            p.bound,
        )
    return table


def _eager(totals: PhaseTotals) -> PhaseTotals:
    """The eager op set's totals written beside a fused headline's (the same keys)."""
    from llmroof.results.records.analysis import PhaseTotals

    return PhaseTotals.from_dict(totals.eager, "eager")


def _print_bounds(record: AnalysisRecord, out: Any) -> None:
    """TTFT, TPOT and where decode turns compute-bound."""
    pre, dec = record.phases.prefill, record.phases.decode
    cb = dec.compute_bound_batch
    if record.hardware["roofline_peak_flops_per_s"] is None:
        turn = "unknown (no published compute peak)"
    elif cb is None:
        turn = "never (each sequence's KV traffic keeps its intensity below the ridge point)"
    else:
        turn = str(cb)
    fused = record.workload.implementation != "eager"
    eager_ttft = f" (eager ops: {seconds(_eager(pre).ttft_s)})" if fused else ""
    eager_tpot = f" (eager ops: {seconds(_eager(dec).tpot_s)})" if fused else ""
    out.print(
        f"Prefill: TTFT >= {seconds(pre.ttft_s)}{eager_ttft} ({si(pre.tokens_per_s)} tokens/s)"
    )
    out.print(
        f"Decode: TPOT >= {seconds(dec.tpot_s)}{eager_tpot}, "
        f"<= {si(dec.tokens_per_s)} tokens/s, "
        f"{si(dec.bytes_per_token, 'B')} per generated token (weights {si(dec.weight_bytes_per_token, 'B')}, "
        f"KV {si(dec.kv_traffic_bytes_per_token, 'B')}); turns compute-bound at batch {turn}"
    )


def _print_memory_and_parallelism(record: AnalysisRecord, out: Any) -> None:
    mem, wl, model, par = record.memory, record.workload, record.model, record.parallel
    pre, dec = record.phases.prefill, record.phases.decode
    out.print(
        f"Memory per GPU: weights {gib(mem.weight_bytes_per_gpu)} + KV {gib(mem.kv_bytes_per_gpu)} of "
        f"{gib(mem.usable_bytes_per_gpu)} usable; max batch at {mem.kv_tokens_per_sequence} tokens "
        f"(max of prompt and context): {mem.max_batch}; "
        f"max context at batch {wl.batch}: {mem.max_context}; fits: {'yes' if mem.fits else 'NO'}"
    )
    if dec.expected_experts_per_layer is not None:
        out.print(
            f"Experts: {model.experts_per_token} of {model.experts} per token; a decode step of "
            f"{wl.batch} tokens reads {dec.expected_experts_per_layer:.1f} experts per MoE layer "
            f"({wl.routing} routing), a prefill micro-batch {pre.expected_experts_per_layer:.1f}; "
            f"{si(model.active_params)} of {si(model.params)} params active per token"
        )
    if par.tp > 1 or par.pp > 1 or (par.ep or 1) > 1:
        out.print(
            f"Parallel: stages {list(par.stage_layers)} layers, comm {seconds(par.prefill_comm_time_s)} "
            f"prefill / {seconds(par.decode_comm_time_s)} per decode step, prefill bubble "
            f"{percent(par.bubble_fraction)} (GPipe {percent(par.gpipe_bubble_fraction)})"
        )
