"""``llmroof report``: one self-contained HTML page from a results file (``llmroof analyze --format json``
or ``llmroof profile``'s results.json)."""

from __future__ import annotations

import typer

from llmroof.cli.options import Given


def report(given: Given) -> None:
    from llmroof.report import report_file
    from llmroof.report.render import report_target
    from llmroof.writers import check_output_folder

    results, out = given.results, given.out
    if out is None or out.is_dir():  # a name llmroof chooses: a file of the user's there is kept
        target = report_target(results, out)
        check_output_folder(target.parent, [target.name], force=given.force)
    typer.echo(f"Report: {report_file(results, out)}")
