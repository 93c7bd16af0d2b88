"""The terminal summary of ``llmroof bench``: one row per load level, beside its roofline placement."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmroof.report.console.render import user
from llmroof.results.records.bench import BenchResult
from llmroof.units import seconds, si


def print_summary(result: BenchResult, path: Path, out: Any) -> None:
    """Every level on ``out``, a rich console: throughput and latencies beside the roofline bound."""
    from rich.table import Table

    s = result.settings
    out.print(
        f"[bold]{user(s.model)}[/] at {user(s.url)} ({s.endpoint}): {s.input_len} prompt / {s.output_len} output tokens; "
        f"prompts {user(result.prompt_method)}"
    )
    if result.hardware:
        out.print(
            f"Roofline: {user(result.hardware['display_name'])} ({user(result.hardware_method)}), {s.dtype}, tp {s.tp}, pp {s.pp}"
        )
    table = Table(title="Levels (mean / p99; TPOT excludes the first token)", title_justify="left")
    for column in (
        "level",
        "ok/err",
        "req/s",
        "tok/s",
        "TTFT",
        "TPOT",
        "ITL p50",
        "E2E",
        "batch",
        "TPOT bound",
        "% roofline",
        "bound",
    ):
        table.add_column(column, justify="right")
    for level in result.levels:
        roof = level.roofline
        table.add_row(
            level.label,
            f"{level.requests - level.errors}/{level.errors}",
            f"{level.request_throughput_per_s:.2f}",
            si(level.output_tokens_per_s),
            _pair(level.ttft_s, seconds),
            _pair(level.tpot_s, seconds),
            "-" if level.itl_s.p50 is None else seconds(level.itl_s.p50),
            _pair(level.e2e_s, seconds),
            f"{level.mean_decode_batch:.1f}",
            "-" if roof is None else seconds(roof.tpot_bound_s),
            "-" if roof is None or roof.tpot_fraction is None else f"{roof.tpot_fraction:.1%}",
            "-" if roof is None else roof.bound,
        )
    out.print(table)
    for level in result.levels:
        if level.errors:
            kinds = ", ".join(f"{k} {v}" for k, v in sorted(level.error_kinds.items()))
            out.print(f"[yellow]{level.label}: {level.errors} errors[/] ({user(kinds)})")
        if level.goodput_per_s is not None:
            out.print(
                f"{level.label}: goodput {level.goodput_per_s:.2f} requests/s within the SLOs"
            )
        roof = level.roofline
        if (
            roof is not None
            and roof.nvml is not None
            and roof.nvml.measured_bytes_per_output_token is not None
        ):
            out.print(
                f"{level.label}: measured {si(roof.nvml.measured_bytes_per_output_token, 'B')} per output token "
                f"(NVML {roof.nvml.source}) vs analytic {si(roof.bytes_per_output_token, 'B')}"
            )
    if result.levels and result.levels[-1].roofline is not None:
        cb = result.levels[-1].roofline.compute_bound_batch
        out.print(
            f"Decode turns compute-bound at batch {cb if cb is not None else 'never (or no compute peak)'}"
        )
    for note in result.notes:
        out.print(f"[yellow]note:[/] {user(note)}")
    out.print(f"Results: {user(path)}")


def _pair(dist: Any, fmt: Any) -> str:
    return "-" if dist.mean is None else f"{fmt(dist.mean)} / {fmt(dist.p99)}"
