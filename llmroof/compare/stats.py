"""Statistics for comparing two sets of timing samples: pure functions over plain lists of floats.

- ``ratio_interval``: the NEW/BASE ratio with a confidence interval from Welch's t on log values (timings
  are positive and right-skewed; on a log scale a slowdown is a shift, and the interval of the shift
  becomes an interval of the ratio of geometric means).
- ``median_interval``: a distribution-free interval of one side's median from its order statistics.
- ``t_quantile``: Student's t quantile for a fractional number of degrees of freedom (Welch's), from the
  regularized incomplete beta function, as no stdlib module has it.

No numpy: ``math`` and ``statistics`` suffice, and the compare path must import fast.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from llmroof.measure.stats import quantile


@dataclass(frozen=True)
class RatioInterval:
    """NEW/BASE, as the ratio of geometric means, with its confidence interval."""

    ratio: float
    low: float
    high: float
    confidence: float
    df: float
    """Welch-Satterthwaite degrees of freedom."""

    def excludes_one(self) -> bool:
        """Whether the interval rules out "no change"."""
        return self.low > 1.0 or self.high < 1.0


@dataclass(frozen=True)
class SideStats:
    """One side's samples: count, median with its interval, and spread."""

    n: int
    median: float
    low: float
    high: float
    coverage: float
    """The median interval's actual confidence (order statistics give discrete levels; small n gives less
    than asked for: [min, max] of 5 samples covers the median with probability 1 - 2/2^5 = 94%)."""
    cv: float
    """Coefficient of variation (log-normal; see ``cv``)."""


def cv(samples: Sequence[float]) -> float:
    """The coefficient of variation of positive samples, as a log-normal's: sqrt(exp(s^2) - 1) with s the
    standard deviation of the logs. Close to std / mean for spreads of a few percent, and the same for a time
    and for the rate that is its reciprocal (tokens/s), so both give the same verdict. 0 for one sample;
    std / mean where a sample is not positive."""
    if len(samples) < 2:
        return 0.0
    if min(samples) <= 0:  # no logs: the plain std / mean
        mean = statistics.fmean(samples)
        return statistics.stdev(samples) / mean if mean > 0 else math.inf
    variance = statistics.variance([math.log(x) for x in samples])
    return math.sqrt(math.expm1(variance))


def median_interval(
    samples: Sequence[float], confidence: float = 0.95
) -> tuple[float, float, float]:
    """(low, high, coverage): the order statistics x_(k) and x_(n+1-k) (1-based) with the largest k whose
    coverage 1 - 2 P(Binomial(n, 1/2) <= k-1) is at least ``confidence``; [min, max] and its (lower) coverage
    when n is too small for that."""
    ordered = sorted(samples)
    n = len(ordered)
    if n == 0:
        raise ValueError("no samples")
    if n == 1:
        return ordered[0], ordered[0], 0.0
    if n > 200:  # normal approximation to the binomial; exact sums of huge binomials are slow
        z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
        k = max(1, math.floor(n / 2 - z * math.sqrt(n) / 2))
        return ordered[k - 1], ordered[n - k], confidence
    best_k, best_coverage = 1, 1 - 2 * 0.5**n
    tail = 0.0  # P(Binomial(n, 1/2) <= k - 1)
    for k in range(1, n // 2 + 1):
        tail += math.comb(n, k - 1) * 0.5**n
        coverage = 1 - 2 * tail
        if coverage < confidence:
            break
        best_k, best_coverage = k, coverage
    return ordered[best_k - 1], ordered[n - best_k], best_coverage


def describe(samples: Sequence[float], confidence: float = 0.95) -> SideStats:
    ordered = sorted(samples)
    low, high, coverage = median_interval(ordered, confidence)
    return SideStats(
        n=len(ordered),
        median=quantile(ordered, 0.5),
        low=low,
        high=high,
        coverage=coverage,
        cv=cv(ordered),
    )


def ratio_interval(
    base: Sequence[float], new: Sequence[float], confidence: float = 0.95
) -> RatioInterval:
    """NEW/BASE with a ``confidence`` interval: Welch's t on the logs of positive samples (at least two a
    side), exponentiated. The ratio is exp(mean log new - mean log base), the ratio of geometric means."""
    if len(base) < 2 or len(new) < 2:
        raise ValueError("Welch's t needs at least two samples a side")
    if min(base) <= 0 or min(new) <= 0:
        raise ValueError("ratios need positive samples")
    log_base = [math.log(x) for x in base]
    log_new = [math.log(x) for x in new]
    shift = statistics.fmean(log_new) - statistics.fmean(log_base)
    var_base = statistics.variance(log_base) / len(base)  # squared standard error of each mean
    var_new = statistics.variance(log_new) / len(new)
    se = math.sqrt(var_base + var_new)
    if se == 0:
        df = float(len(base) + len(new) - 2)
        return RatioInterval(math.exp(shift), math.exp(shift), math.exp(shift), confidence, df)
    df = (var_base + var_new) ** 2 / (var_base**2 / (len(base) - 1) + var_new**2 / (len(new) - 1))
    half = t_quantile(0.5 + confidence / 2, df) * se
    return RatioInterval(
        math.exp(shift), math.exp(shift - half), math.exp(shift + half), confidence, df
    )


# --- Student's t ----------------------------------------------------------------------------------


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function, by the modified Lentz method (Numerical
    Recipes, 3rd ed., section 6.4)."""
    tiny, eps = 1e-300, 1e-15
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def regularized_beta(x: float, a: float, b: float) -> float:
    """I_x(a, b), the regularized incomplete beta function."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` (> 0, may be fractional) degrees of freedom."""
    tail = 0.5 * regularized_beta(df / (df + t * t), df / 2, 0.5)
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t: Newton's method on ``t_cdf`` from the normal quantile, guarded by
    bisection."""
    if not 0.0 < p < 1.0 or df <= 0:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df > 0, got p={p}, df={df}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    if p == 0.5:
        return 0.0
    if df > 1e7:
        return statistics.NormalDist().inv_cdf(p)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:  # bracket the root
        low, high = high, high * 2
    t = min(max(statistics.NormalDist().inv_cdf(p), low), high)
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    for _ in range(100):
        error = t_cdf(t, df) - p
        if abs(error) < 1e-13:
            break
        if error > 0:
            high = t
        else:
            low = t
        density = math.exp(log_norm - (df + 1) / 2 * math.log1p(t * t / df))
        step = t - error / density
        t = step if low < step < high else (low + high) / 2
    return t
