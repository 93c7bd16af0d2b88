"""``llmroof compare BASE NEW``: two profile runs (or folders of repeated runs) metric by metric, with a
verdict per metric and an exit code for CI: 0 no regression, 1 regression, 2 bad input, 3 inconclusive
(only with ``--fail-on inconclusive``). Needs no torch; matplotlib only for ``--format html``."""

from __future__ import annotations

import typer

from llmroof.cli.options import Given


def compare(given: Given) -> None:
    from llmroof.compare.command import compare_command
    from llmroof.compare.comparison import CompareSettings, Comparison
    from llmroof.ranges import parse_threshold
    from llmroof.report.console import compare as view

    settings = given.build(
        CompareSettings,
        threshold=parse_threshold(given.threshold, "--threshold"),
        noise_floor=parse_threshold(given.noise_floor, "--noise-floor"),
        metrics=tuple(given.metrics or ()),
    )
    comparison = compare_command(**given.pick(compare_command, settings=settings))
    if isinstance(comparison, Comparison):
        view.print_comparison(comparison, given.fmt, given.out)
        if given.step_summary:
            view.append_step_summary(comparison)
    else:
        view.print_trace_comparison(comparison, given.fmt, given.out)
    code = comparison.exit_code(given.fail_on)
    if code:
        raise typer.Exit(code)
