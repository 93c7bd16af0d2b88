"""Decode-step and prefill times per pipeline stage, split into kernel time and communication, fast enough
to evaluate at every number of concurrent sequences a plan tries.

Every quantity of a decode step is affine in the batch b: an op's FLOPs and bytes are a + b*x (weights are
read once, activations and KV once per sequence), and so are the messages of every collective and send.
An op's roofline time max(F/peak, B/bandwidth) is then the larger of two affine functions of b. Two
:func:`~llmroof.analytic.analyze` calls, at b = 1 and b = 2, give both functions of every op and the
affine communication of every stage, and :meth:`DecodeModel.stage_times_s` reproduces ``analyze`` at any
b (the tests check that). The sum over ops of those maxima is a convex piecewise-linear function of b,
tabulated once (:class:`PiecewiseLinear`), so a step costs three table look-ups instead of an analysis.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from llmroof.analytic.analysis import Analysis, Phase
from llmroof.analytic.ops import OpCost


class LinearOp(NamedTuple):
    """One op's roofline time at batch b: max(compute0_s + compute1_s*b, memory0_s + memory1_s*b)."""

    compute0_s: float
    compute1_s: float
    """Compute time per sequence."""
    memory0_s: float
    memory1_s: float
    """Memory time per sequence."""

    def time_s(self, batch: float) -> float:
        return max(
            self.compute0_s + self.compute1_s * batch, self.memory0_s + self.memory1_s * batch
        )


@dataclass(frozen=True, slots=True)
class PiecewiseLinear:
    """sum_i max(p_i(b), q_i(b)) over affine p_i, q_i: on the segment k between consecutive breakpoints
    (where an op turns from one piece to the other), intercepts[k] + slopes[k] * b."""

    breakpoints: tuple[float, ...]
    intercepts: tuple[float, ...]
    slopes: tuple[float, ...]

    @classmethod
    def of(cls, ops: Sequence[LinearOp], start: float = 1.0) -> PiecewiseLinear:
        """The sum of ``ops`` for b >= ``start`` (turns below ``start`` are folded into the first segment)."""
        turns = [_turn(op) for op in ops]
        breakpoints = sorted({t for t in turns if t is not None and t > start})
        intercepts, slopes = [], []
        for left in (start, *breakpoints):  # each segment summed afresh: no drift from running sums
            intercept = slope = 0.0
            for op, turn in zip(ops, turns):
                steeper = op.compute1_s > op.memory1_s  # True: compute grows faster with b
                if turn is None:
                    compute = (
                        op.compute0_s > op.memory0_s
                    )  # parallel pieces: the higher one throughout
                else:
                    compute = (
                        steeper if turn <= left else not steeper
                    )  # past its turn, the steeper piece
                if compute:
                    intercept, slope = intercept + op.compute0_s, slope + op.compute1_s
                else:
                    intercept, slope = intercept + op.memory0_s, slope + op.memory1_s
            intercepts.append(intercept)
            slopes.append(slope)
        return cls(tuple(breakpoints), tuple(intercepts), tuple(slopes))

    def __call__(self, batch: float) -> float:
        k = bisect.bisect_right(self.breakpoints, batch)
        return self.intercepts[k] + self.slopes[k] * batch


def _turn(op: LinearOp) -> float | None:
    """The batch where the op's compute and memory times are equal (None: they never cross)."""
    if op.compute1_s == op.memory1_s:
        return None
    return (op.memory0_s - op.compute0_s) / (op.compute1_s - op.memory1_s)


def _linear_op(one: OpCost, two: OpCost, inverse_peak: float, inverse_bandwidth: float) -> LinearOp:
    """The affine op through its costs at b = 1 (``one``) and b = 2 (``two``)."""
    flops, bytes_ = two.flops - one.flops, two.bytes - one.bytes
    return LinearOp(
        (one.flops - flops) * inverse_peak,
        flops * inverse_peak,
        (one.bytes - bytes_) * inverse_bandwidth,
        bytes_ * inverse_bandwidth,
    )


def split_ops(phase: Phase) -> tuple[OpCost, tuple[OpCost, ...], tuple[OpCost, ...]]:
    """(embed, the decoder layer's ops, the head's ops: final_norm and lm_head)."""
    ops = phase.ops
    if ops[0].name != "embed" or [op.name for op in ops[-2:]] != ["final_norm", "lm_head"]:
        raise AssertionError(f"unexpected op order in {phase.name}: {[op.name for op in ops]}")
    return ops[0], ops[1:-2], ops[-2:]


def layer_shares(phase: Phase, stage_layers: tuple[int, ...]) -> list[float]:
    """Each layer op's share of an average layer: 1 for ops every layer runs, n/L for those only n of the L
    layers run (windowed attention, the dense MLP beside MoE layers), as ``analyze`` averages them."""
    embed, layer, _ = split_ops(phase)
    instances = embed.count * sum(stage_layers)
    return [op.count / instances for op in layer]


def stage_kernel_times_s(phase: Phase, stage_layers: tuple[int, ...]) -> list[float]:
    """Kernel (roofline) time of each stage for one pass, communication excluded: as ``analyze`` sums it."""
    op_time = phase.roofline.time_s
    embed, layer, head = split_ops(phase)
    layer_time = sum(
        op_time(op) * share for op, share in zip(layer, layer_shares(phase, stage_layers))
    )
    last = len(stage_layers) - 1
    return [
        n * layer_time
        + (op_time(embed) if j == 0 else 0.0)
        + (sum(map(op_time, head)) if j == last else 0.0)
        for j, n in enumerate(stage_layers)
    ]


@dataclass(frozen=True, slots=True)
class StageTimes:
    """One pass through the pipeline, per stage: kernel time (which calibration scales) and communication."""

    kernel_s: tuple[float, ...]
    comm_s: tuple[float, ...]

    @classmethod
    def of(cls, phase: Phase, stage_layers: tuple[int, ...]) -> StageTimes:
        kernel = stage_kernel_times_s(phase, stage_layers)
        return cls(tuple(kernel), tuple(t - k for t, k in zip(phase.stage_times_s, kernel)))

    def scaled(self, efficiency: float) -> tuple[float, ...]:
        """Stage times with kernels at ``efficiency`` of the roofline; links keep their modelled speed."""
        return tuple(k / efficiency + c for k, c in zip(self.kernel_s, self.comm_s))


@dataclass(frozen=True, slots=True)
class DecodeModel:
    """The decode step of one (model, device, dtypes, tp, pp, context) at any batch b per pipeline stage."""

    layer: PiecewiseLinear
    """Kernel time of one decoder layer on one rank."""
    embed: PiecewiseLinear
    head: PiecewiseLinear
    """final_norm and lm_head."""
    stage_layers: tuple[int, ...]
    comm0_s: tuple[float, ...]
    """Communication of each stage at b = 0 (latencies)."""
    comm1_s: tuple[float, ...]
    """Communication of each stage per sequence."""

    @classmethod
    def fit(cls, one: Analysis, two: Analysis) -> DecodeModel:
        """From analyses of the same configuration at decode batch 1 (``one``) and 2 (``two``)."""
        if (one.workload.batch, two.workload.batch) != (1, 2):
            raise ValueError("DecodeModel.fit needs analyses at batch 1 and batch 2")
        roof = one.decode.roofline
        inverse_peak = 1 / roof.peak_flops_per_s if roof.peak_flops_per_s else 0.0
        inverse_bandwidth = 1 / roof.bandwidth_bytes_per_s
        (embed1, layer1, head1), (embed2, layer2, head2) = (
            split_ops(one.decode),
            split_ops(two.decode),
        )

        def fit_ops(
            a: Sequence[OpCost], b: Sequence[OpCost], shares: Sequence[float] | None = None
        ) -> PiecewiseLinear:
            linear = [_linear_op(x, y, inverse_peak, inverse_bandwidth) for x, y in zip(a, b)]
            if shares is not None:
                linear = [LinearOp(*(v * share for v in op)) for op, share in zip(linear, shares)]
            return PiecewiseLinear.of(linear)

        layers = one.stage_layers
        comm1 = StageTimes.of(one.decode, layers).comm_s
        comm2 = StageTimes.of(two.decode, layers).comm_s
        slope = tuple(c2 - c1 for c1, c2 in zip(comm1, comm2))
        return cls(
            fit_ops(layer1, layer2, layer_shares(one.decode, layers)),
            fit_ops((embed1,), (embed2,)),
            fit_ops(head1, head2),
            layers,
            tuple(c1 - s for c1, s in zip(comm1, slope)),
            slope,
        )

    def stage_times_s(self, batch: int, efficiency: float = 1.0) -> list[float]:
        """Time each stage spends on one decode step of ``batch`` sequences; kernels at ``efficiency`` of the
        roofline (1: the roofline itself), communication as modelled."""
        layer, first, last = self.layer(batch), self.embed(batch), self.head(batch)
        final = len(self.stage_layers) - 1
        return [
            (n * layer + (first if j == 0 else 0.0) + (last if j == final else 0.0)) / efficiency
            + self.comm0_s[j]
            + self.comm1_s[j] * batch
            for j, n in enumerate(self.stage_layers)
        ]


@dataclass(slots=True)
class ExactDecode:
    """The decode step of a mixture-of-experts model at any batch, by one :func:`~llmroof.analytic.analyze` per
    batch (cached): its expert weight reads grow as E * (1 - (1 - k/E)^b), not affinely, so the two-point fit of
    :class:`DecodeModel` does not hold. Same interface as :meth:`DecodeModel.stage_times_s`."""

    one: Analysis
    """The configuration at some batch; the others differ only in the batch."""
    cache: dict[int, StageTimes]

    @classmethod
    def of(cls, one: Analysis) -> ExactDecode:
        return cls(one, {})

    def stage_times_s(self, batch: int, efficiency: float = 1.0) -> list[float]:
        import dataclasses

        from llmroof.analytic.analysis import analyze

        if batch not in self.cache:
            a = self.one
            workload = dataclasses.replace(a.workload, batch=batch, micro_batches=1)
            self.cache[batch] = StageTimes.of(
                analyze(a.model, a.hardware, workload).decode, a.stage_layers
            )
        return list(self.cache[batch].scaled(efficiency))
