"""The metrics ``llmroof compare`` compares, which way each is better, and how each is computed from a
profile configuration: one value per repetition (from the raw timing samples) or one per run (from the
configuration's median time)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llmroof.compare.load import RunConfig, TimedOp
from llmroof.measure.stats import quantile

NOISE_FLOOR = 1.05
"""Default run-to-run noise floor for one process a side: the largest change of a user-level metric (TPOT,
TTFT) that ``benchmarks/bench_noise.py`` measured between two processes of the same code on the shared 2-core
development VM (103%, i.e. a factor 2.03, under load; see docs/performance.md), rounded up to 5%. One run a
side is not a gate on such a machine; a quiet, dedicated runner can measure and pass a smaller one."""


@dataclass(frozen=True, kw_only=True)
class Metric:
    name: str
    """Key in the results file and in compare's JSON; the unit is in the name."""
    label: str
    better: str
    """"lower" or "higher"."""
    unit: str
    """"s", "tokens/s", "B/s" or "fraction"."""
    phases: tuple[str, ...]
    per_op: bool = False
    """One row per op of one layer, rather than one per configuration."""
    user_level: bool = False
    """What a user of the model sees (latency, throughput, bandwidth): these gate by default."""

    def __post_init__(self) -> None:
        if self.better not in ("lower", "higher"):
            raise ValueError(
                f"{self.name}: better must be 'lower' or 'higher', not {self.better!r}"
            )


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            name="tpot_s",
            label="TPOT",
            better="lower",
            unit="s",
            phases=("decode",),
            user_level=True,
        ),
        Metric(
            name="ttft_s",
            label="TTFT",
            better="lower",
            unit="s",
            phases=("prefill",),
            user_level=True,
        ),
        Metric(
            name="tokens_per_s",
            label="tokens/s",
            better="higher",
            unit="tokens/s",
            phases=("prefill", "decode"),
            user_level=True,
        ),
        Metric(
            name="achieved_bytes_per_s",
            label="achieved bandwidth",
            better="higher",
            unit="B/s",
            phases=("decode",),
            user_level=True,
        ),
        Metric(
            name="roofline_fraction",
            label="% of roofline",
            better="higher",
            unit="fraction",
            phases=("prefill", "decode"),
        ),
        Metric(
            name="op_time_s",
            label="op time",
            better="lower",
            unit="s",
            phases=("prefill", "decode"),
            per_op=True,
        ),
    )
}


def from_time(metric: Metric, config: RunConfig, time_s: float) -> float:
    """The metric's value had the configuration's full-depth time been ``time_s``: the rates and the
    roofline fraction are a constant of the configuration divided by the time."""
    if metric.name in ("tpot_s", "ttft_s"):
        return time_s
    if metric.name == "tokens_per_s":
        tokens = config.batch * (config.length if config.phase == "prefill" else 1)
        return tokens / time_s
    if metric.name == "achieved_bytes_per_s":
        return config.bytes / time_s
    if metric.name == "roofline_fraction":
        return config.roofline_time_s / time_s
    raise ValueError(f"{metric.name} is not a configuration metric")


def full_depth_samples(config: RunConfig, extra_layers: int) -> list[float]:
    """Per-repetition full-depth times, t_stack + (L - N) t_layer, from the stack's and one layer's samples.

    The two were timed separately, so there is no natural pairing: the i-th fastest stack repetition is
    paired with the i-th fastest layer repetition (both read at the same quantile, n = the shorter list).
    The median then equals the results file's ``time_s`` (odd n), and the spread is the sum of the two
    spreads: conservative, as if their noise moved together.
    """
    stack = sorted(config.stack_samples_s)
    if extra_layers == 0:
        return stack
    layer = sorted(config.layer_samples_s)
    n = min(len(stack), len(layer))
    if n == 1:
        return [stack[0] + extra_layers * layer[0]]
    positions = [i / (n - 1) for i in range(n)]
    return [quantile(stack, q) + extra_layers * quantile(layer, q) for q in positions]


def repetition_values(
    metric: Metric, config: RunConfig, extra_layers: int, op: TimedOp | None = None
) -> list[float]:
    """One value per timed repetition."""
    if metric.per_op:
        assert op is not None
        return list(op.samples_s)
    return [from_time(metric, config, t) for t in full_depth_samples(config, extra_layers)]


def run_value(metric: Metric, config: RunConfig, op: TimedOp | None = None) -> float:
    """The run's one value: from the median time, as the results file reports it."""
    if metric.per_op:
        assert op is not None
        return op.median_s
    return from_time(metric, config, config.time_s)


def select(names: Sequence[str] | None) -> tuple[Metric, ...]:
    """The metrics named (all when none are), in the canonical order."""
    from llmroof.errors import unknown_name_error

    if not names:
        return tuple(METRICS.values())
    for name in names:
        if name not in METRICS:
            raise unknown_name_error("metric", name, METRICS, "llmroof compare --help")
    return tuple(m for m in METRICS.values() if m.name in names)
