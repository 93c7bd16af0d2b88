"""``llmroof ceilings``: the machine's calibrated roofs (memory levels and compute), cached per machine."""

from __future__ import annotations

import sys

from llmroof.cli.options import Given


def ceilings(given: Given) -> None:
    from llmroof.report.console.ceilings import print_result
    from llmroof.runs.ceilings import run_ceilings

    quiet = given.fmt == "json"
    record = run_ceilings(
        given.device,
        threads=given.threads,
        refresh=given.refresh,
        progress=(lambda _: None) if quiet else lambda m: print(f"llmroof: {m}", file=sys.stderr),
        note=lambda note: print(f"llmroof: note: {note}", file=sys.stderr),
    )
    print_result(record, given.fmt)
