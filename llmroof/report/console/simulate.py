"""What ``llmroof simulate`` prints: the levels table (or JSON without the per-request rows, or CSV
of one row per request), the predicted-against-measured table of ``--against``; and its files."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from llmroof.report.console.render import console, print_csv, print_json
from llmroof.results.records.bench import Distribution
from llmroof.results.records.simulate import AgainstRow, SimulateResult
from llmroof.units import seconds

LEVEL_COLUMNS = (
    "level",
    "req/s",
    "tok/s",
    "TTFT",
    "TPOT",
    "ITL p99",
    "E2E",
    "in system",
    "preempted",
)


def print_result(result: SimulateResult, fmt: str = "table") -> None:
    """``fmt``: table (the summary, then the ``--against`` rows), json (no per-request rows) or csv
    (one row per request), on stdout."""
    if fmt == "json":
        levels = [
            {k: v for k, v in level.to_dict().items() if k != "records"} for level in result.levels
        ]
        print_json(result.to_dict() | {"levels": levels})
    elif fmt == "csv":
        print_csv(request_rows(result))
    else:
        out = console()
        print_summary(result, out)
        if result.against:
            print_against(result.against, out)


def write_files(result: SimulateResult, *, html: Path | None, out: Path | None) -> None:
    """``--html``: the report page (latency CDFs, queue over time); ``--out``: the JSON with every
    request."""
    if html is not None:
        from llmroof.report.answer import simulate_answer
        from llmroof.simulate.html import render_simulate_html
        from llmroof.writers import write_text_atomic

        write_text_atomic(html, render_simulate_html(result, simulate_answer(result)))
    if out is not None:
        from llmroof.writers import write_json_atomic

        write_json_atomic(out, result.to_dict())


def request_rows(result: SimulateResult) -> Iterator[dict[str, Any]]:
    from llmroof.results.records.simulate import REQUEST_COLUMNS

    for level in result.levels:
        for r in level.records:
            yield {"level": level.label, **dict(zip(REQUEST_COLUMNS, r))}


def print_summary(result: SimulateResult, out: Any) -> None:
    """The replica and its unloaded request, each level's percentiles, the largest rate meeting
    the SLOs and the notes, on ``out``, a rich console."""
    from rich.table import Table

    s, m = result.settings, result.step_model
    out.print(
        f"[bold]{s.model}[/] on {s.replicas} x {s.hardware} tp {s.tp} pp {s.pp}: "
        f"{s.prompt_tokens} prompt / {s.output_tokens} output tokens; unloaded request "
        f"{seconds(m.unloaded_request_s)} (prefill {seconds(m.prefill_s)}, decode step "
        f"{seconds(m.decode_step_s)}; efficiencies from {m.efficiency_source})"
    )
    table = Table(
        title="Simulated levels (p50 / p90; TPOT excludes the first token)", title_justify="left"
    )
    for column in LEVEL_COLUMNS:
        table.add_column(column, justify="right")
    for level in result.levels:
        table.add_row(
            level.label,
            f"{level.request_throughput_per_s:.2f}",
            f"{level.output_tokens_per_s:.0f}",
            _pair(level.ttft_s),
            _pair(level.tpot_s),
            "-" if level.itl_s.p99 is None else seconds(level.itl_s.p99),
            _pair(level.e2e_s),
            f"{level.mean_in_system:.1f}",
            str(level.preemptions),
        )
    out.print(table)
    if result.max_rate_meeting_slo is not None or result.slo_percentile is not None:
        best = result.max_rate_meeting_slo
        out.print(
            f"Largest rate meeting the SLOs at p{result.slo_percentile:g}: "
            + (
                "none (not even a tenth of the unloaded capacity)"
                if best is None
                else f"{best:.3g} requests/s"
            )
        )
    for note in result.notes:
        out.print(f"[yellow]note:[/] {note}")


def print_against(rows: Sequence[AgainstRow], out: Any) -> None:
    """``--against``: rate, metric, predicted, measured and error, on ``out``, a rich console."""
    from rich.table import Table

    table = Table(title=f"Predicted against measured ({rows[0].source})", title_justify="left")
    for column in ("rate", "metric", "predicted", "measured", "error"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for row in rows:
        error = "-" if row.error is None else f"{row.error:+.0%}"
        table.add_row(
            f"{row.rate:g}/s",
            row.metric,
            _number(row.predicted),
            _number(row.measured),
            error,
        )
    out.print(table)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _pair(dist: Distribution) -> str:
    return "-" if dist.p50 is None else f"{seconds(dist.p50)} / {seconds(dist.p90)}"
