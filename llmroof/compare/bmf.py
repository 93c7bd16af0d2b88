"""NEW's metrics in Bencher Metric Format (https://bencher.dev/docs/reference/bencher-metric-format):

    {"<benchmark>": {"<measure slug>": {"value": x, "lower_value": lo, "upper_value": hi}}}

One benchmark per configuration (and per op), named ``<model> <phase> b=<batch> c|s=<length>[ <op>]``; one
measure per metric, its slug the metric name in kebab case with the unit in it (``tpot-s``, ``tokens-per-s``,
``achieved-bytes-per-s``, ``roofline-fraction``, ``ttft-s``, ``op-time-s``); value the median, bounds its
interval. Bencher runs its own thresholds over the history, so only NEW is exported (``bencher run
--adapter json --file bmf.json``).
"""

from __future__ import annotations

import math
from typing import Any

from llmroof.compare.comparison import Comparison


def slug(metric_name: str) -> str:
    return metric_name.replace("_", "-")


def to_bmf(comparison: Comparison) -> dict[str, dict[str, dict[str, float]]]:
    result: dict[str, dict[str, dict[str, float]]] = {}
    for row in comparison.rows:
        name = f"{comparison.new.model} {row.key.label()}"
        metric: dict[str, Any] = {"value": row.new.median}
        if row.new.n > 1 and not (math.isnan(row.new.low) or math.isnan(row.new.high)):
            metric.update(lower_value=row.new.low, upper_value=row.new.high)
        result.setdefault(name, {})[slug(row.metric.name)] = metric
    return result
