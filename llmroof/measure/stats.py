"""Statistics over raw timing samples: a pure function, separate from the timer (as triton's do_bench)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def quantile(sorted_samples: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default) of already sorted samples."""
    if not sorted_samples:
        raise ValueError("no samples")
    position = q * (len(sorted_samples) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(sorted_samples) - 1)
    weight = position - lower
    return sorted_samples[lower] * (1 - weight) + sorted_samples[upper] * weight


def summarize(samples_s: Sequence[float]) -> dict[str, float | int]:
    """min, median, mean, p10, p90, interquartile range and coefficient of variation (std / mean) of samples
    in seconds."""
    if not samples_s:
        raise ValueError("no samples to summarize")
    ordered = sorted(samples_s)
    mean = statistics.fmean(ordered)
    std = statistics.stdev(ordered) if len(ordered) > 1 else 0.0
    return {
        "n": len(ordered),
        "min_s": ordered[0],
        "median_s": quantile(ordered, 0.5),
        "mean_s": mean,
        "p10_s": quantile(ordered, 0.1),
        "p90_s": quantile(ordered, 0.9),
        "iqr_s": quantile(ordered, 0.75) - quantile(ordered, 0.25),
        "max_s": ordered[-1],
        "cv": std / mean if mean > 0 else 0.0,
    }


def spread(values: Sequence[float]) -> dict[str, float | int]:
    """Run-to-run spread of one value per process: n, median, min, max and coefficient of variation
    (sample standard deviation / mean; 0 for one value)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    mean = statistics.fmean(ordered)
    std = statistics.stdev(ordered) if len(ordered) > 1 else 0.0
    return {
        "n": len(ordered),
        "median": quantile(ordered, 0.5),
        "min": ordered[0],
        "max": ordered[-1],
        "cv": std / mean if mean > 0 else 0.0,
    }
