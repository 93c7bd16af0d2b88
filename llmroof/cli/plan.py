"""``llmroof plan``: which device, tensor- and pipeline-parallel layout and number of concurrent sequences
serve a model within latency objectives, how many replicas a request rate needs, and at what cost."""

from __future__ import annotations

from llmroof.cli.options import Given


def plan(given: Given) -> None:
    from llmroof.plan.command import plan_command
    from llmroof.report.console.plan import print_result

    print_result(plan_command(**given.pick(plan_command)), given.fmt)
