"""``llmroof sample``: watch a GPU's HBM bandwidth through NVML for S seconds, or while a command runs."""

from __future__ import annotations

import sys

import typer

from llmroof.cli.options import Given


def sample(given: Given) -> None:
    from llmroof.report.console.sample import LiveView, print_result, write_file
    from llmroof.runs.sample import run_sample

    # before sampling: a folder that cannot be written would lose the samples
    if given.out is not None:
        from llmroof.results.io import check_writable

        check_writable(given.out)
    live = given.fmt == "table" and sys.stdout.isatty()
    record = run_sample(
        gpu=given.gpu,
        interval_s=given.interval_ms / 1e3,
        seconds=given.seconds,
        command=given.ctx.args,
        view=LiveView if live else None,
    )
    if given.out is not None:
        write_file(given.out, record)
    print_result(record, given.fmt)
    if record.exit_code:
        raise typer.Exit(record.exit_code)
