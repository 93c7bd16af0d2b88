"""``llmroof comm``: measure all-reduce, all-gather and send/recv across message sizes."""

from __future__ import annotations

import sys

from llmroof.cli.options import Given


def comm(given: Given) -> None:
    from llmroof.report.console.comm import print_result
    from llmroof.runs.comm import run_comm

    progress = lambda line: print(f"llmroof: {line}", file=sys.stderr)  # noqa: E731
    record = run_comm(**given.pick(run_comm), progress=progress)
    if record is not None:  # None: a torchrun rank other than 0
        print_result(record, given.fmt)
