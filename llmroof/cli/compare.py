"""``llmroof compare BASE NEW``: two profile runs (or folders of repeated runs) metric by metric, with a
verdict per metric and an exit code for CI: 0 no regression, 1 regression, 2 bad input, 3 inconclusive
(only with ``--fail-on inconclusive``). Needs no torch; matplotlib only for ``--format html``."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from llmroof.cli.options import OutFile, StepSummary, settings
from llmroof.compare.metrics import METRICS, NOISE_FLOOR


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
    ctx: typer.Context,
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
    metrics: list[str] | None = typer.Option(
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
    out: OutFile = None,
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
    step_summary: StepSummary = True,
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
    from llmroof.compare.command import compare_command
    from llmroof.compare.comparison import CompareSettings, Comparison
    from llmroof.ranges import parse_threshold
    from llmroof.report.console.compare import (
        append_step_summary,
        print_comparison,
        print_trace_comparison,
    )

    given = settings(
        CompareSettings,
        ctx,
        threshold=parse_threshold(threshold, "--threshold"),
        noise_floor=parse_threshold(noise_floor, "--noise-floor"),
        metrics=tuple(metrics or ()),
    )
    comparison = compare_command(
        base, new, given, history=history, history_runs=history_runs, base_branch=base_branch
    )
    if isinstance(comparison, Comparison):
        print_comparison(comparison, fmt.value, out)
        if step_summary:
            append_step_summary(comparison)
    else:
        print_trace_comparison(comparison, fmt.value, out)
    code = comparison.exit_code(fail_on.value)
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)
