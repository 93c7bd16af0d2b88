"""``llmroof report``: one self-contained HTML page from a results file (``llmroof analyze --format json``
or ``llmroof profile``'s results.json)."""

from __future__ import annotations

from pathlib import Path

import typer


def report(
    results: Path = typer.Argument(..., help="A results file: llmroof.profile/1 (profile) or llmroof.analysis/1 "
                                             "(analyze --format json)."),
    out: Path | None = typer.Option(None, "--out", "-o",
                                    help="HTML file to write, or a folder for report.html (default: beside the "
                                         "results: report.html for results.json, else NAME.html)."),
) -> None:
    """Write an HTML report (inline figures, no network) of a profile or analysis results file."""
    from llmroof.report import report_file

    path = report_file(results, out)
    typer.echo(f"Report: {path}")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
