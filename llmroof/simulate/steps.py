"""The time of one engine step of any shape, from the analytic model: decode tokens at their
contexts and prefill chunks at their offsets, batched into one forward pass (as vLLM V1 and SGLang
run a step).

Every op's FLOPs and bytes are affine in three sums over the step's sequences (:class:`StepShape`):

- tokens T (queries this step): GEMMs, norms, activations, the KV writes;
- attention pairs P (query-key pairs): a decode token at context c attends to c keys; a prefill
  chunk of q tokens after p cached ones to q*p + q(q+1)/2 (causal);
- keys K (KV tokens read): c per decode token, p + q per chunk (flash attention reads each KV once).

Three :func:`~llmroof.analytic.analyze` calls of decode steps ((b, c) = (1, c1), (2, c1), (1, c2))
give every op's three coefficients; the head (final norm, lm_head) runs on one position per
sequence. An op's time is its roofline max(FLOPs/peak, bytes/bandwidth); the step is the sum over
ops and layers plus the communication (affine in T), through every pipeline stage (the latency of
one pass). Kernel time is divided by an efficiency (1: the roofline; a calibration's measured
fraction otherwise).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from llmroof.analytic.analysis import Analysis, analyze
from llmroof.analytic.opcost import OpCost
from llmroof.analytic.workload import Workload
from llmroof.plan.steps import (
    LinearOp,
    PiecewiseLinear,
    StageTimes,
    layer_shares,
    split_ops,
)
from llmroof.specs.hardware import HardwareSpec
from llmroof.specs.model import ModelSpec


class StepShape(NamedTuple):
    """Sums over the sequences of one step."""

    tokens: int
    pairs: float
    keys: float
    sequences: int
    """Positions whose logits are computed: one per sequence in the step."""


def chunk_pairs(cached: int, chunk: int) -> float:
    """Query-key pairs of a causal prefill chunk of ``chunk`` tokens after ``cached`` tokens."""
    return chunk * cached + chunk * (chunk + 1) / 2


class AffineOp(NamedTuple):
    """One op instance: FLOPs = f0 + ft*T + fp*P, bytes = b0 + bt*T + bk*K, scaled by its share of
    the layers."""

    f0: float
    ft: float
    fp: float
    b0: float
    bt: float
    bk: float


def _fit(
    one: tuple[float, float], two: tuple[float, float], long: tuple[float, float], c1: int, c2: int
) -> tuple[float, float, float, float, float, float]:
    """Coefficients through an op's (FLOPs, bytes) at (b, c) = (1, c1) ``one``, (2, c1) ``two``, (1,
    c2) ``long``."""
    out = []
    for i in range(2):
        per_context = (long[i] - one[i]) / (c2 - c1)
        per_sequence = two[i] - one[i]  # one more token and c1 more pairs/keys
        per_token = per_sequence - per_context * c1
        fixed = one[i] - per_token - per_context * c1
        out += [fixed, per_token, per_context]
    return out[0], out[1], out[2], out[3], out[4], out[5]


@dataclass(frozen=True, slots=True)
class StepModel:
    """Step time of one replica (model, device, dtypes, tp, pp) at any :class:`StepShape`."""

    layer_ops: tuple[AffineOp, ...]
    """One average decoder layer's ops, each times its share of the layers."""
    head_ops: tuple[AffineOp, ...]
    """embed (per token) then final_norm and lm_head (per sequence: T stands for the sequences)."""
    layers: int
    """Decoder layers over every pipeline stage."""
    inverse_peak: float
    inverse_bandwidth: float
    comm0_s: float
    comm1_s: float
    """Communication per pass: fixed, and per token, summed over stages."""
    kv_bytes_per_token: float
    """KV cache bytes of one token on the fullest GPU."""
    kv_capacity_tokens: int
    """Tokens of KV cache that fit beside the weights on the fullest GPU (0: the model does not
    fit)."""
    analysis: Analysis
    kernel_time: Callable[[float, float, float, float], float] = field(
        init=False, repr=False, compare=False
    )
    """:meth:`kernel_s` compiled (set in ``__post_init__``)."""

    @classmethod
    def of(cls, model: ModelSpec, hardware: HardwareSpec, workload: Workload) -> StepModel:
        c1, c2 = 64, 128
        base = dataclasses.replace(workload, batch=1, context_len=c1, micro_batches=1)
        analyses = [
            analyze(model, hardware, base),
            analyze(model, hardware, dataclasses.replace(base, batch=2)),
            analyze(model, hardware, dataclasses.replace(base, context_len=c2)),
        ]
        parts = [split_ops(a.decode) for a in analyses]
        shares = layer_shares(analyses[0].decode, analyses[0].stage_layers)

        def cost(op: OpCost) -> tuple[float, float]:
            return op.flops, op.bytes

        layer = []
        for i, share in enumerate(shares):
            coeffs = _fit(cost(parts[0][1][i]), cost(parts[1][1][i]), cost(parts[2][1][i]), c1, c2)
            layer.append(AffineOp(*(v * share for v in coeffs)))
        head = [AffineOp(*_fit(cost(parts[0][0]), cost(parts[1][0]), cost(parts[2][0]), c1, c2))]
        head += [
            AffineOp(
                *_fit(cost(parts[0][2][i]), cost(parts[1][2][i]), cost(parts[2][2][i]), c1, c2)
            )
            for i in range(2)
        ]
        comm = [sum(StageTimes.of(a.decode, a.stage_layers).comm_s) for a in analyses[:2]]
        one = analyses[0]
        roof = one.decode.roofline
        kv = max(one.stage_kv_bytes_per_token)
        free = min(one.usable_memory_bytes - w for w in one.stage_weight_bytes)
        return cls(
            tuple(layer),
            tuple(head),
            sum(one.stage_layers),
            1 / roof.peak_flops_per_s if roof.peak_flops_per_s else 0.0,
            1 / roof.bandwidth_bytes_per_s,
            2 * comm[0] - comm[1],
            comm[1] - comm[0],
            kv,
            max(0, int(free // kv)) if kv else 0,
            one,
        )

    def kernel_s(self, shape: StepShape) -> float:
        """Kernel time of one pass through every stage at the roofline."""
        t, p, k, n = shape
        return self.kernel_time(t, p, k, n)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kernel_time", self._compile())

    def _compile(self) -> Callable[[float, float, float, float], float]:
        """:meth:`kernel_s` as one closure: the ops that do not attend summed into one
        piecewise-linear function of T (:class:`~llmroof.plan.steps.PiecewiseLinear`) per role
        (layers, embed, head), each attending op kept apart."""
        ip, ib = self.inverse_peak, self.inverse_bandwidth

        def shifted(ops: Sequence[AffineOp], scale: float = 1.0) -> PiecewiseLinear:
            return PiecewiseLinear.of(
                [
                    LinearOp(
                        scale * op.f0 * ip,
                        scale * op.ft * ip,
                        scale * op.b0 * ib,
                        scale * op.bt * ib,
                    )
                    for op in ops
                ],
                start=0.0,
            )

        layers = self.layers
        dense = shifted([op for op in self.layer_ops if not (op.fp or op.bk)], layers)
        attending = [
            tuple(v * c for v, c in zip(op, (ip, ip, ip, ib, ib, ib)))
            for op in self.layer_ops
            if op.fp or op.bk
        ]
        embed, head = shifted(self.head_ops[:1]), shifted(self.head_ops[1:])

        def time_s(t: float, p: float, k: float, n: float) -> float:
            total = dense(t) + embed(t) + head(n)
            for f0, ft, fp, b0, bt, bk in attending:
                compute, memory = f0 + ft * t + fp * p, b0 + bt * t + bk * k
                total += layers * max(compute, memory)
            return total

        return time_s

    def comm_s(self, tokens: int) -> float:
        return self.comm0_s + self.comm1_s * tokens if tokens else 0.0

    def step_s(self, shape: StepShape, efficiency: float = 1.0) -> float:
        """One step: kernels at ``efficiency`` of the roofline, plus communication."""
        return self.kernel_s(shape) / efficiency + self.comm_s(shape.tokens)

    def decode_shape(self, batch: int, context: int) -> StepShape:
        return StepShape(batch, batch * context, batch * context, batch)

    def prefill_shape(self, prompt: int, cached: int = 0) -> StepShape:
        return StepShape(prompt, chunk_pairs(cached, prompt), cached + prompt, 1)
