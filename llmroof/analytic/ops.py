"""FLOPs and bytes of every op of a decoder forward pass, one tensor-parallel rank at a time.

Conventions (``docs/analytic-model.md`` has the full derivation):

- a multiply-add is 2 FLOPs; elementwise ops use fixed per-element counts (:data:`ELEMENTWISE_FLOPS`);
- every op reads its inputs from and writes its outputs to device memory (no fusion across ops, except the
  one ``attn.flash`` op, which reads Q, K, V and writes the output once);
- the KV cache is written by ``attn.rope`` (rotated K) and ``attn.v`` (V), and read by the attention ops;
- with GQA each K/V head is read once for the ``H/kv`` query heads it serves.

The formulas are array-polymorphic: called with numpy arrays for the batch, queries, keys and logits tokens of
:class:`PassShape`, every shape-dependent field is an array of the same values the scalar call gives, bit for bit
(no ``float``/``min``/``max``/``if`` on a shape-dependent value: :mod:`llmroof.analytic.arith` instead).

Shapes below use b (sequences), t (tokens this pass: b*s in prefill, b in decode), s_q (queries per
sequence), s_k (keys per sequence), h, d, and the per-rank widths of :class:`~llmroof.analytic.sharding.Shard`.
"""

from __future__ import annotations

from typing import NamedTuple

from llmroof.analytic.arith import to_float
from llmroof.analytic.sharding import Shard
from llmroof.specs.dtypes import Precision
from llmroof.specs.model import ModelSpec

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
    count: int

    @property
    def bytes(self) -> float:
        return (
            self.weight_bytes + self.act_read_bytes + self.act_write_bytes + self.kv_read_bytes + self.kv_write_bytes
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


def layer_ops(model: ModelSpec, shard: Shard, precision: Precision, shape: PassShape, count: int,
              *, attention_kernel: str = "eager", fused_qkv: bool = False) -> list[OpCost]:
    """The ops of one decoder layer on one rank, in execution order."""
    phase, b, s_q, s_k = shape.phase, shape.batch, shape.queries, shape.keys
    t = shape.tokens
    h, d, hq, i = shard.hidden, shard.head_dim, shard.heads, shard.intermediate
    q_dim, kv_dim = shard.q_dim, shard.kv_dim
    w = precision.weight
    a_b = precision.activation.bytes_per_element
    kv_b = precision.kv.bytes_per_element
    hi_b = precision.unquantized.bytes_per_element
    norm_weights = h * (2 if model.norm == "layernorm" else 1)
    norm_flops = ELEMENTWISE_FLOPS[model.norm]

    def norm(name: str) -> OpCost:
        return OpCost(phase, name, to_float(norm_flops * t * h), norm_weights * hi_b, t * h * a_b, t * h * a_b,
                      0.0, 0.0, count)

    def linear(name: str, k: int, n: int, bias: bool, *, out_bias: int = 0, kv_out: int = 0) -> OpCost:
        """y[t, n] = x[t, k] @ W[k, n] (+ bias[n]); ``out_bias``: a replicated row-parallel bias of that width;
        the output goes to activations, or (``kv_out`` columns of it) to the KV cache."""
        bias_elems = (n if bias else 0) + out_bias
        return OpCost(phase, name, 2.0 * t * k * n + t * bias_elems, w.nbytes(k * n) + bias_elems * hi_b,
                      t * k * a_b, t * (n - kv_out) * a_b, 0.0, t * kv_out * kv_b, count)

    def residual(name: str) -> OpCost:
        return OpCost(phase, name, to_float(t * h), 0.0, 2.0 * t * h * a_b, t * h * a_b, 0.0, 0.0, count)

    ops = [norm("attn.norm")]
    # Projections. K leaves attn.k as an activation (RoPE rotates it into the cache); V goes straight to the cache.
    if fused_qkv:
        ops.append(linear("attn.qkv", h, q_dim + 2 * kv_dim, model.qkv_bias, kv_out=kv_dim))
    else:
        ops.append(linear("attn.q", h, q_dim, model.qkv_bias))
        ops.append(linear("attn.k", h, kv_dim, model.qkv_bias))
        ops.append(linear("attn.v", h, kv_dim, model.qkv_bias, kv_out=kv_dim))
    # RoPE on q and k; cos/sin tables: one row of d per position (s positions in prefill, one per sequence in decode).
    positions = s_q if phase == "prefill" else b
    ops.append(OpCost(phase, "attn.rope", to_float(ELEMENTWISE_FLOPS["rope"] * t * (q_dim + kv_dim)), 0.0,
                      t * (q_dim + kv_dim) * a_b + 2 * positions * d * a_b, t * q_dim * a_b, 0.0,
                      t * kv_dim * kv_b, count))
    q_bytes = t * q_dim * a_b  # Q: [b, H/tp, s_q, d]
    k_bytes = b * s_k * kv_dim * kv_b  # K (and V) cache: [b, kv/tp, s_k, d], each KV head read once
    if attention_kernel == "flash":
        # Causal prefill visits s(s+1)/2 query-key pairs; a decode token visits all c keys.
        pairs = b * hq * (s_q * (s_q + 1) // 2 if phase == "prefill" else s_q * s_k)
        ops.append(OpCost(phase, "attn.flash", to_float((4 * d + ELEMENTWISE_FLOPS["softmax"]) * pairs), 0.0,
                          q_bytes, q_bytes, 2 * k_bytes, 0.0, count))
    else:
        scores = b * hq * s_q * s_k  # [b, H/tp, s_q, s_k], computed in full then masked
        ops.append(OpCost(phase, "attn.scores", 2.0 * scores * d, 0.0, q_bytes, scores * a_b, k_bytes, 0.0, count))
        ops.append(OpCost(phase, "attn.softmax", to_float(ELEMENTWISE_FLOPS["softmax"] * scores), 0.0, scores * a_b,
                          scores * a_b, 0.0, 0.0, count))
        ops.append(OpCost(phase, "attn.context", 2.0 * scores * d, 0.0, scores * a_b, q_bytes, k_bytes, 0.0, count))
    # Row-parallel biases (o, down) are whole on every rank, added once after the all-reduce.
    ops.append(linear("attn.o", q_dim, h, False, out_bias=h if model.attn_out_bias else 0))
    ops.append(residual("attn.residual"))
    if not model.parallel_attention:
        ops.append(norm("mlp.norm"))
    if model.gated_mlp:
        ops.append(linear("mlp.gate", h, i, model.mlp_bias))
    ops.append(linear("mlp.up", h, i, model.mlp_bias))
    act_flops = ELEMENTWISE_FLOPS[model.activation] + (ELEMENTWISE_FLOPS["mul"] if model.gated_mlp else 0)
    inputs = 2 if model.gated_mlp else 1
    ops.append(OpCost(phase, "mlp.act", to_float(act_flops * t * i), 0.0, inputs * t * i * a_b, t * i * a_b,
                      0.0, 0.0, count))
    ops.append(linear("mlp.down", i, h, False, out_bias=h if model.mlp_bias else 0))
    ops.append(residual("mlp.residual"))
    return ops


def embed_op(shard: Shard, precision: Precision, shape: PassShape, count: int) -> OpCost:
    """Embedding lookup: reads only the looked-up rows (on average 1/tp of them per rank, vocab-parallel)."""
    t, h = shape.tokens, shard.hidden
    return OpCost(shape.phase, "embed", 0.0, t * h * precision.unquantized.bytes_per_element / shard.tp,
                  0.0, t * h * precision.activation.bytes_per_element, 0.0, 0.0, count)


def head_ops(model: ModelSpec, shard: Shard, precision: Precision, shape: PassShape, count: int) -> list[OpCost]:
    """Final norm over every token, then lm_head (vocab-parallel) for the positions whose logits are wanted."""
    t, h, v = shape.tokens, shard.hidden, shard.vocab
    a_b, hi_b = precision.activation.bytes_per_element, precision.unquantized.bytes_per_element
    norm_weights = h * (2 if model.norm == "layernorm" else 1)
    final_norm = OpCost(shape.phase, "final_norm", to_float(ELEMENTWISE_FLOPS[model.norm] * t * h), norm_weights * hi_b,
                        t * h * a_b, t * h * a_b, 0.0, 0.0, count)
    n = shape.logits_tokens
    lm_head = OpCost(shape.phase, "lm_head", 2.0 * n * h * v, v * h * hi_b, n * h * a_b, n * v * a_b, 0.0, 0.0, count)
    return [final_norm, lm_head]
