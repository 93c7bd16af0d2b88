"""``llmroof simulate``: a serving replica (or fleet) simulated step by step under Poisson, Gamma or
traced traffic; TTFT, TPOT, ITL and E2E percentiles as ``llmroof bench`` measures them
(docs/simulate.md)."""

from __future__ import annotations

from llmroof.cli.options import Given


def simulate(given: Given) -> None:
    from llmroof.report.console.simulate import print_result, write_files
    from llmroof.simulate.command import simulate_command

    result = simulate_command(**given.pick(simulate_command))
    write_files(result, html=given.html, out=given.out)
    print_result(result, given.fmt)
