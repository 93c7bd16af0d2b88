"""``llmroof plan``: which device, tensor- and pipeline-parallel layout and number of concurrent sequences
serve a model within latency objectives, how many replicas a request rate needs, and at what cost."""

from __future__ import annotations

from typing import Any

from llmroof.cli.options import Given
from llmroof.cli.options import register as add_commands


def plan(given: Given) -> None:
    from llmroof.plan.command import plan_command
    from llmroof.report.console.plan import print_result

    print_result(plan_command(**given.pick(plan_command)), given.fmt)


def register(app: Any) -> None:
    add_commands(app, "plan", plan=plan)
