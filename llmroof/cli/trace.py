"""``llmroof trace``: a real engine's profiler trace (PyTorch/Kineto JSON or nsys SQLite) on the roofline."""

from __future__ import annotations

from llmroof.cli.options import Given


def trace(given: Given) -> None:
    from llmroof.report.console.trace import print_result
    from llmroof.trace.run import trace_command

    record = trace_command(given.traces, **given.pick(trace_command))
    if given.html is not None:
        from llmroof.report.render import write_trace_report

        source = ", ".join(str(t) for t in given.traces)
        write_trace_report(record, given.html, source=source)
    print_result(record, given.fmt, given.out)
