"""``llmroof report``: one self-contained HTML page from a results file (``llmroof analyze --format json``
or ``llmroof profile``'s results.json)."""

from __future__ import annotations

from pathlib import Path

import typer


def report(
    results: Path = typer.Argument(
        ...,
        help="A results file: llmroof.profile/1 (profile), llmroof.analysis/1 "
        "(analyze --format json) or llmroof.trace/1 (trace --format json).",
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="HTML file to write, or a folder for report.html (default: beside the "
        "results: report.html for results.json, else NAME.html).",
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Replace a file llmroof did not write under the report's "
        "default name (a file named with --out is always replaced).",
    ),
) -> None:
    """Write an HTML report (inline figures, no network) of a profile or analysis results file."""
    from llmroof.report import report_file
    from llmroof.report.render import report_target
    from llmroof.writers import check_output_folder

    if out is None or out.is_dir():  # a name llmroof chooses: a file of the user's there is kept
        target = report_target(results, out)
        check_output_folder(target.parent, [target.name], force=force)
    path = report_file(results, out)
    typer.echo(f"Report: {path}")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
