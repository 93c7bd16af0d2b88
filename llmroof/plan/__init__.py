"""Capacity planning: which devices, parallel layout and number of concurrent sequences serve a model at a
request rate within latency objectives, at what cost (``llmroof plan``; ``docs/planning.md``).

Built on the analytic model; pure Python (no torch, pandas or matplotlib; :mod:`llmroof.plan.html` imports
jinja2 and matplotlib when it renders).
"""

from llmroof.plan.calibration import Calibration, calibration_from_profile, read_calibration
from llmroof.plan.planner import batch_grid, layout_configs, plan
from llmroof.plan.ranking import pareto_front
from llmroof.plan.records import SCHEMA, Plan, PlanConfig, Ranked
from llmroof.plan.request import PlanRequest, with_gpus_per_node

__all__ = [
    "SCHEMA",
    "Calibration",
    "Plan",
    "PlanConfig",
    "PlanRequest",
    "Ranked",
    "batch_grid",
    "calibration_from_profile",
    "layout_configs",
    "pareto_front",
    "plan",
    "read_calibration",
    "with_gpus_per_node",
]
