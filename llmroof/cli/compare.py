"""``llmroof compare BASE NEW``: two profile runs (or folders of repeated runs) metric by metric, with a
verdict per metric and an exit code for CI: 0 no regression, 1 regression, 2 bad input, 3 inconclusive
(only with ``--fail-on inconclusive``). Needs no torch; matplotlib only for ``--format html``."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

import typer

from llmroof.compare.metrics import METRICS, NOISE_FLOOR
from llmroof.errors import LlmroofError


class CompareFormat(str, Enum):
    table = "table"
    markdown = "markdown"
    json = "json"
    html = "html"
    bmf = "bmf"


class FailOn(str, Enum):
    regression = "regression"
    inconclusive = "inconclusive"
    never = "never"


def compare(
    base: Path = typer.Argument(
        ...,
        show_default=False,
        help="BASE: a results.json, or a folder of repeated runs (every results.json below).",
    ),
    new: Path | None = typer.Argument(
        None, show_default=False, help="NEW: the same, for the run under test."
    ),
    threshold: str = typer.Option(
        "5%", "--threshold", "-t", help="Smallest change that counts: 5% or 0.05."
    ),
    metric: list[str] | None = typer.Option(
        None,
        "--metric",
        "-M",
        show_default=False,
        help=f"Metric to compare, repeatable; default all: {', '.join(METRICS)}.",
    ),
    fmt: CompareFormat = typer.Option(
        CompareFormat.table,
        "--format",
        "-f",
        help="table; markdown (GitHub); json; html (a report with both rooflines); "
        "bmf (Bencher Metric Format: NEW's metrics).",
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", dir_okay=False, help="Write the output to this file."
    ),
    fail_on: FailOn = typer.Option(
        FailOn.regression,
        "--fail-on",
        help="regression: exit 1 on a regression; inconclusive: also exit 3 on an "
        "inconclusive metric; never: exit 0.",
    ),
    allow_mismatch: bool = typer.Option(
        False, "--allow-mismatch", help="Compare runs of different models, devices or workloads."
    ),
    min_samples: int = typer.Option(
        3, "--min-samples", min=2, help="Fewer samples on a side: inconclusive."
    ),
    max_cv: float = typer.Option(
        0.25,
        "--max-cv",
        min=0.0,
        help="A coefficient of variation above this on a side: inconclusive.",
    ),
    noise_floor: str = typer.Option(
        f"{NOISE_FLOOR:.0%}",
        "--noise-floor",
        help="With one process a side: run-to-run change its samples cannot rule "
        "out; a change must lie beyond it (5% or 0.05; 0 trusts the "
        "within-process intervals).",
    ),
    gate_ops: bool = typer.Option(
        False,
        "--gate-ops",
        help="Per-op times decide the exit code too (by default "
        "they are reported; -M names what gates).",
    ),
    step_summary: bool = typer.Option(
        True,
        "--step-summary/--no-step-summary",
        help="Append markdown to $GITHUB_STEP_SUMMARY when that is set.",
    ),
    history: str | None = typer.Option(
        None,
        "--history",
        show_default=False,
        help="BASE is this history database's last runs of the base branch on "
        "NEW's machine (llmroof history add); pass only NEW.",
    ),
    history_runs: int = typer.Option(
        10, "--history-runs", min=2, help="With --history: how many base runs."
    ),
    base_branch: str | None = typer.Option(
        None,
        "--base-branch",
        show_default=False,
        help="With --history: the base branch (default: the CI's, else main).",
    ),
) -> None:
    """Compare two profile runs metric by metric, with confidence intervals: regression, improvement,
    unchanged or inconclusive. In GitHub Actions, also appends markdown to the job's summary page."""
    from llmroof.compare.comparison import CompareSettings, compare_paths
    from llmroof.ranges import parse_threshold
    from llmroof.report.console.compare import append_step_summary, print_comparison

    settings = CompareSettings(
        threshold=parse_threshold(threshold, "--threshold"),
        min_samples=min_samples,
        max_cv=max_cv,
        metrics=tuple(metric or ()),
        allow_mismatch=allow_mismatch,
        noise_floor=parse_threshold(noise_floor, "--noise-floor"),
        gate_ops=gate_ops,
    )
    if history is not None:
        if new is not None:
            raise LlmroofError("with --history, pass only NEW", "llmroof compare --history DB NEW")
        from llmroof.history.gate import HistoryBase, compare_with_history
        from llmroof.history.store import open_store

        with open_store(history, readonly=True) as store:
            comparison = compare_with_history(
                store, base, settings, HistoryBase(runs=history_runs, branch=base_branch)
            )
    elif new is None:
        raise LlmroofError(
            "compare needs BASE and NEW", "llmroof compare BASE NEW, or --history DB NEW"
        )
    else:
        from llmroof.compare.trace_ops import trace_pair

        traces = trace_pair(base, new)
        if traces is not None:
            _compare_traces(*traces, settings, fmt, out, fail_on, names=(str(base), str(new)))
            return
        comparison = compare_paths(base, new, settings)
    print_comparison(comparison, fmt.value, out)
    if step_summary:
        append_step_summary(comparison)
    code = comparison.exit_code(fail_on.value)
    if code:
        raise typer.Exit(code)


def _compare_traces(
    base: Any,
    new: Any,
    settings: Any,
    fmt: CompareFormat,
    out: Path | None,
    fail_on: FailOn,
    *,
    names: tuple[str, str],
) -> None:
    """Two ``llmroof.trace/1`` results: phase by phase and op by op (llmroof/compare/trace_ops.py)."""
    from llmroof.compare.trace_ops import compare_traces
    from llmroof.report.console.compare import print_trace_comparison

    comparison = compare_traces(base, new, settings, base_name=names[0], new_name=names[1])
    print_trace_comparison(comparison, fmt.value, out)
    code = comparison.exit_code(fail_on.value)
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)
