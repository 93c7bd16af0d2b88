"""The record of one op's cost (:class:`OpCost`), the token shape of a pass (:class:`PassShape`), the
per-element FLOP conventions, and the GEMM kernel of the fused set: what :mod:`llmroof.analytic.ops`,
:mod:`llmroof.analytic.moe` and :mod:`llmroof.analytic.mla` share (``ops`` re-exports them)."""

from __future__ import annotations

from typing import Any, NamedTuple

# FLOPs per element for elementwise work (a convention; matrix products dominate every total).
ELEMENTWISE_FLOPS = {
    "rmsnorm": 4,  # square, sum, scale by 1/rms, scale by weight
    "layernorm": 7,  # sum, subtract mean, square, sum, scale, weight, bias
    "rope": 3,  # x*cos + rotate(x)*sin
    "softmax": 5,  # max, subtract, exp, sum, divide
    "silu": 5,  # x * 1/(1 + exp(-x))
    "gelu": 8,  # erf/tanh polynomial
    "mul": 1,
    "add": 1,
}


class OpCost(NamedTuple):
    """One instance of an op (one layer, one rank, one micro-batch); ``count`` instances make up the phase."""

    phase: str
    name: str
    flops: float
    weight_bytes: float
    act_read_bytes: float
    act_write_bytes: float
    kv_read_bytes: float
    kv_write_bytes: float
    count: int  # type: ignore[assignment]  # a field named count shadows tuple.count

    @property
    def bytes(self) -> float:
        return (
            self.weight_bytes
            + self.act_read_bytes
            + self.act_write_bytes
            + self.kv_read_bytes
            + self.kv_write_bytes
        )

    @property
    def intensity(self) -> float:
        """Arithmetic intensity, FLOPs per byte of device-memory traffic."""
        total = self.bytes
        return self.flops / total if total else float("inf")


class PassShape(NamedTuple):
    """The token shape of one forward pass."""

    phase: str
    batch: int
    """Sequences, b."""
    queries: int
    """New tokens per sequence, s_q (s in prefill, 1 in decode)."""
    keys: int
    """Keys each sequence attends over, s_k (s in prefill, c in decode)."""
    logits_tokens: int
    """Positions whose logits are computed."""

    @property
    def tokens(self) -> int:
        return self.batch * self.queries


def fused_gemm(
    phase: str,
    name: str,
    rows: Any,
    k: int,
    widths: tuple[int, ...],
    bias: int,
    epilogue_flops: Any,
    w: Any,
    a_b: float,
    hi_b: float,
    *,
    n_out: int,
    count: int,
    residual_bytes: Any = 0.0,
    kv_out: int = 0,
    kv_b: float = 0.0,
    extra_weight_bytes: float = 0.0,
) -> OpCost:
    """One kernel of the fused set: y = epilogue(x[rows, k] @ [W_1 .. W_j][k, n]); each weight matrix of
    ``widths`` stored (and quantised) on its own; ``bias`` elements added; ``epilogue_flops`` of element-wise
    work; ``residual_bytes`` read and added; ``n_out`` columns written as activations, ``kv_out`` to the KV
    cache; ``extra_weight_bytes``: the epilogue's own weights (norm scales)."""
    n = sum(widths)
    return OpCost(
        phase,
        name,
        2.0 * rows * k * n + rows * bias + epilogue_flops,
        sum(w.nbytes(k * width) for width in widths) + bias * hi_b + extra_weight_bytes,
        rows * k * a_b + residual_bytes,
        rows * n_out * a_b,
        0.0,
        rows * kv_out * kv_b,
        count,
    )
