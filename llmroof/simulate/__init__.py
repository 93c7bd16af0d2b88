"""Discrete-event simulation of serving (``llmroof simulate``; ``docs/simulate.md``): one replica
stepped as vLLM V1 schedules, or a fleet behind a router, with step times from the analytic model.

Pure Python on top of specs, analytic and the plan's step model (no torch)."""

from llmroof.simulate.calibrate import Efficiency
from llmroof.simulate.engine import Replica, SchedulerConfig, run_fleet
from llmroof.simulate.run import Simulation, simulate
from llmroof.simulate.steps import StepModel, StepShape

__all__ = [
    "Efficiency",
    "Replica",
    "SchedulerConfig",
    "Simulation",
    "StepModel",
    "StepShape",
    "run_fleet",
    "simulate",
]
