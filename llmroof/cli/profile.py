"""``llmroof profile``: time real prefill and decode kernels on this machine and place them on the roofline."""

from __future__ import annotations

import sys

import typer

from llmroof.cli.options import Given
from llmroof.errors import interrupt_exit_code
from llmroof.labels import plain_text


def _ints(option: str, text: str | None) -> tuple[int, ...] | None:
    from llmroof.ranges import number_list

    return number_list(option, text, int) if text else None


def profile(given: Given) -> None:
    from llmroof.report.console.profile import print_interrupted, print_result, progress_view
    from llmroof.runs.profile import prepare_profile, results_folder, run_profile

    batches, contexts = _ints("--batch", given.batch), _ints("--context", given.context)
    job = prepare_profile(**given.pick(prepare_profile, batches=batches, contexts=contexts))
    path = results_folder(given.out, given.force) / "results.json"  # checked before measuring
    try:
        with progress_view(job.mode, job.steps, quiet=given.fmt == "json") as progress:
            record = run_profile(
                job,
                path,
                argv=["llmroof", *sys.argv[1:]],
                progress=progress,
                announce=lambda line: print(f"llmroof: {plain_text(line)}", file=sys.stderr),
                warn=lambda line: print(f"llmroof: warning: {line}", file=sys.stderr),
            )
    except KeyboardInterrupt as exc:  # the record says "interrupted"
        print_interrupted(job.mode, path)
        raise typer.Exit(130 if job.mode == "repeat" else interrupt_exit_code(exc)) from None
    if record is None:  # a torchrun rank other than 0
        raise typer.Exit(0)
    print_result(record, path, given.fmt)
