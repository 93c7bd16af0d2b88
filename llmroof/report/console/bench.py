"""The terminal summary of ``llmroof bench``: one row per load level, beside its roofline placement."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmroof.report.console.render import console, print_csv, print_json, user
from llmroof.results.records.bench import BenchResult
from llmroof.units import seconds, si


def print_result(result: BenchResult, path: Path, fmt: str = "table") -> None:
    """The HTML report beside the results at ``path``, then ``fmt``: table (the summary), json
    (levels, no per-request records) or csv (one row per level) on stdout; the report's path on
    stderr, so that --format json stays clean."""
    import sys

    from llmroof.labels import plain_text

    report = write_report(path)
    if fmt == "json":
        data = result.to_dict()
        for level in data["levels"]:
            level.pop("records")
        print_json(data)
    elif fmt == "csv":
        from llmroof.results.records.bench import level_row

        print_csv(level_row(level) for level in result.levels)
    else:
        print_summary(result, path, console())
    if report is not None:
        print(f"Report: {plain_text(report)}", file=sys.stderr)


def write_report(path: Path) -> Path | None:
    """The HTML report beside the results; a failure to draw it is a warning, the results stand."""
    import sys

    from llmroof.labels import plain_text
    from llmroof.report import report_file

    try:
        return report_file(path)
    except Exception as exc:
        print(
            f"llmroof: warning: no report: {type(exc).__name__}: {plain_text(exc)}", file=sys.stderr
        )
        return None


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
