"""``llmroof analyze``: the analytic roofline of one workload, per op and per phase, or a sweep."""

from __future__ import annotations

import sys

from llmroof.cli.options import Given
from llmroof.errors import LlmroofError


def analyze(given: Given) -> None:
    from llmroof.report.console.analysis import print_result, write_html
    from llmroof.runs.analyze import AnalyzeOptions, analyze

    layers = _stage_layers(given.pp_layers)
    options = given.build(AnalyzeOptions, pp_layers=layers, mla_absorbed=not given.mla_naive)
    sweep, out, fmt = given.sweep, given.out, given.fmt
    if out is not None and not sweep:
        raise LlmroofError("--out applies to --sweep", "add e.g. --sweep batch=1..1024")
    if sweep:
        from llmroof.report.console.sweep import print_grid, print_sweep
        from llmroof.runs.analyze import GridSweep, chunk_writer, is_grid
        from llmroof.runs.analyze import sweep as run_sweep

        streamed = fmt == "csv" and out is None and is_grid(sweep, out)
        sink = chunk_writer(sys.stdout, "csv") if streamed else None
        result = run_sweep(options, sweep, out=out, sink=sink, force=given.force)
        if isinstance(result, GridSweep):
            print_grid(result.record, fmt, result.layouts, result.summary, streamed=bool(sink))
        else:
            print_sweep(result, fmt)
        if given.html is None:
            return
    record = analyze(options)
    if given.html is not None:
        write_html(record, given.html, ["llmroof", *sys.argv[1:]])
    if not sweep:
        print_result(record, fmt)


def _stage_layers(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise LlmroofError(
            f"--pp-layers {text!r}: expected integers separated by commas, e.g. 20,20,21,19"
        ) from None
