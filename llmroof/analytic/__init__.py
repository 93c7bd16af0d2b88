"""The analytic roofline model: exact FLOPs and bytes per op, roofline times, parallelism and memory.

Pure Python (no torch, no I/O): frozen specs in, plain records out.
"""

from llmroof.analytic.analysis import Analysis, Phase, Roofline, analyze, checked_analyze
from llmroof.analytic.ops import OpCost
from llmroof.analytic.workload import Workload

__all__ = [
    "Analysis",
    "OpCost",
    "Phase",
    "Roofline",
    "Workload",
    "analyze",
    "checked_analyze",
]
