"""Parameters, weight bytes and KV-cache bytes, whole-model and per GPU."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from llmroof.analytic.arith import largest, maximum, minimum, smallest, to_int
from llmroof.analytic.sharding import Shard
from llmroof.specs.dtypes import Precision
from llmroof.specs.model import ModelSpec


def attention_param_count(model: ModelSpec) -> int:
    """Parameters of one layer's attention: projections, their biases, q/k norms and sinks (MLA: the
    compressions, their norms and the up-projections)."""
    h = model.hidden_size
    if model.is_mla:
        return mla_param_count(model)
    attention = h * model.q_dim + 2 * h * model.kv_dim + model.q_dim * h
    if model.qkv_bias:
        attention += model.q_dim + 2 * model.kv_dim
    if model.attn_out_bias:
        attention += h
    if model.qk_norm:
        attention += 2 * model.head_dim
    if model.attention_sinks:
        attention += model.num_heads
    return attention


def mla_param_count(model: ModelSpec) -> int:
    """Multi-head latent attention (DeepSeek-V2/V3): q = W_qb norm(W_qa x) (or W_q x without q_lora_rank),
    [c_kv, k_rope] = W_kva x, [k_nope, v] = W_kvb norm(c_kv), out = W_o attn."""
    h, heads = model.hidden_size, model.num_heads
    r_q, (r_kv, d_r, d_n, d_v) = model.q_lora_rank, model.mla_dims
    q_out = heads * model.qk_head_dim
    q = h * q_out if r_q is None else h * r_q + (r_q if model.qkv_bias else 0) + r_q + r_q * q_out
    kv_a = h * (r_kv + d_r) + ((r_kv + d_r) if model.qkv_bias else 0) + r_kv
    kv_b = r_kv * heads * (d_n + d_v)
    o = heads * d_v * h + (h if model.attn_out_bias else 0)
    return q + kv_a + kv_b + o


def mlp_param_count(model: ModelSpec, width: int) -> int:
    """A dense MLP of hidden width ``width`` (gated: gate, up, down)."""
    projections = 3 if model.gated_mlp else 2
    params = projections * model.hidden_size * width
    if model.mlp_bias:
        params += (projections - 1) * width + model.hidden_size
    return params


def expert_param_count(model: ModelSpec) -> int:
    """One routed expert: a gated MLP of width w, with biases where the family has them (gpt-oss)."""
    h, w = model.hidden_size, model.expert_width
    return 3 * h * w + ((2 * w + h) if model.expert_bias else 0)


def moe_param_count(model: ModelSpec) -> int:
    """One MoE block: router (h -> E), E routed experts, and the shared experts (one MLP of width shared * w)."""
    e = model.num_experts or 0
    router = e * model.hidden_size + (e if model.router_bias else 0)
    shared = (
        mlp_param_count(model, model.num_shared_experts * model.expert_width)
        if model.num_shared_experts
        else 0
    )
    return router + e * expert_param_count(model) + shared


def layer_norm_count(model: ModelSpec) -> int:
    """Norms per decoder layer: 1 with parallel attention, 4 with Gemma 2's sandwich norms, else 2."""
    if model.parallel_attention:
        return 1
    return 4 if model.sandwich_norms else 2


def layer_param_count(model: ModelSpec, layer: int = -1) -> int:
    """Parameters of decoder layer ``layer`` (0-based; default the last, a MoE layer where there are any)."""
    layer %= model.num_layers
    moe = model.is_moe and layer >= model.first_dense_layers
    mlp = moe_param_count(model) if moe else mlp_param_count(model, model.intermediate_size)
    return attention_param_count(model) + mlp + layer_norm_count(model) * norm_param_count(model)


def norm_param_count(model: ModelSpec) -> int:
    """Parameters of one norm: a weight, plus a bias for LayerNorm."""
    return model.hidden_size * (2 if model.norm == "layernorm" else 1)


@functools.lru_cache(maxsize=256)
def param_count(model: ModelSpec) -> int:
    """All parameters: embedding, layers (dense ones and MoE ones, every expert), final norm, and lm_head
    unless tied to the embedding."""
    embedding = model.vocab_size * model.hidden_size
    lm_head = 0 if model.tie_word_embeddings else embedding
    dense = model.num_layers - model.moe_layers
    layers = dense * layer_param_count(model, 0) + model.moe_layers * layer_param_count(model, -1)
    return embedding + layers + norm_param_count(model) + lm_head


def active_param_count(model: ModelSpec) -> int:
    """Parameters one token uses: all of them but the E - k routed experts it skips in each MoE layer
    (the convention of the published 'active' figures: Mixtral-8x7B 12.9B, DeepSeek-V3 37B)."""
    if not model.is_moe:
        return param_count(model)
    num_experts, experts_per_token = model.experts
    skipped = (num_experts - experts_per_token) * expert_param_count(model)
    return param_count(model) - model.moe_layers * skipped


def layer_kv_elements_per_token(model: ModelSpec) -> int:
    """Cached values per token in one layer: K and V, 2 * kv * d; MLA: the latent and the rotary key,
    r_kv + d_r, shared by every head."""
    if model.is_mla:
        r_kv, d_r, _, _ = model.mla_dims
        return r_kv + d_r
    return 2 * model.kv_dim


def kv_bytes_per_token(model: ModelSpec, precision: Precision) -> float:
    """KV cache of one token held by every layer (within the window of windowed layers):
    L * (2 * kv * d, or r_kv + d_r with MLA) * bytes."""
    return model.num_layers * layer_kv_elements_per_token(model) * precision.kv.bytes_per_element


def kv_bytes_per_sequence(model: ModelSpec, precision: Precision, context: int) -> float:
    """KV cache of one sequence of ``context`` tokens: full layers keep every token, windowed layers the
    last min(context, W)."""
    per_layer = layer_kv_elements_per_token(model) * precision.kv.bytes_per_element
    windowed = model.window_layers
    kept = minimum(context, model.sliding_window) if windowed else 0
    return per_layer * ((model.num_layers - windowed) * context + windowed * kept)


def layer_kv_bytes_per_token(model: ModelSpec, shard: Shard, precision: Precision) -> float:
    """KV cache of one token in one layer on one rank: 2 * kv/tp * d (replicated KV heads counted on each rank);
    MLA: the whole latent, r_kv + d_r, on every rank."""
    if model.is_mla:
        return layer_kv_elements_per_token(model) * precision.kv.bytes_per_element
    return 2 * shard.kv_dim * precision.kv.bytes_per_element


def embedding_bytes(shard: Shard, precision: Precision) -> float:
    """The (vocab-parallel) embedding table on one rank; lm_head has the same size."""
    return shard.vocab * shard.hidden * precision.unquantized.bytes_per_element


def stage_weight_bytes(
    model: ModelSpec,
    shard: Shard,
    precision: Precision,
    layer_weight_bytes: float | list[float],
    stage_layers: tuple[int, ...],
) -> list[float]:
    """Weight bytes on one rank of each pipeline stage; ``layer_weight_bytes``: one decoder layer's, or each
    stage's decoder layers' in all.

    The first stage holds the embedding, the last the final norm and lm_head; a tied lm_head shares the
    embedding's memory only when both sit on the same stage.
    """
    table = embedding_bytes(shard, precision)
    final_norm = norm_param_count(model) * precision.unquantized.bytes_per_element
    last = len(stage_layers) - 1
    result = []
    for stage, layers in enumerate(stage_layers):
        total = (
            layer_weight_bytes[stage]
            if isinstance(layer_weight_bytes, list)
            else layers * layer_weight_bytes
        )
        if stage == 0:
            total += table
        if stage == last:
            total += final_norm
            if not model.tie_word_embeddings or last > 0:
                total += table
        result.append(total)
    return result


def stage_kv_bytes_per_sequence(
    stage_kv_bytes_per_token: Sequence[float],
    stage_window_kv_bytes_per_token: Sequence[float],
    window: int | None,
    context: Any,
) -> list[Any]:
    """KV cache of one sequence of ``context`` tokens on one GPU of each stage (numbers, or arrays over a grid):
    full layers keep every token, windowed layers (their share ``stage_window_kv_bytes_per_token``) the last
    min(context, W)."""
    kept = minimum(context, window or 0)
    windows = stage_window_kv_bytes_per_token or (0.0,) * len(stage_kv_bytes_per_token)
    return [(kv - win) * context + win * kept for kv, win in zip(stage_kv_bytes_per_token, windows)]


def total_bytes_per_gpu(
    stage_weight_bytes: Sequence[float], stage_kv_bytes_per_sequence: Sequence[Any], batch: Any
) -> Any:
    """Weights plus the KV cache of ``batch`` sequences (``stage_kv_bytes_per_sequence`` each, at the length
    they keep) on the fullest GPU, pp batches in flight; numbers, or arrays over a grid."""
    pp = len(stage_weight_bytes)
    return largest(
        [wb + kv * batch * pp for wb, kv in zip(stage_weight_bytes, stage_kv_bytes_per_sequence)]
    )


def max_batch(
    usable_bytes: float,
    stage_weight_bytes: Sequence[float],
    stage_kv_bytes_per_sequence: Sequence[Any],
) -> Any:
    """Largest batch whose KV cache (``stage_kv_bytes_per_sequence`` per sequence on each stage) fits beside the
    weights on every GPU (0: none); numbers, or arrays over a grid. :attr:`Analysis.fits
    <llmroof.analytic.analysis.Analysis.fits>` is batch <= this, at max(prompt, context) tokens."""
    pp = len(stage_weight_bytes)
    free = [usable_bytes - w for w in stage_weight_bytes]
    return maximum(
        0, smallest([to_int(f // (kv * pp)) for f, kv in zip(free, stage_kv_bytes_per_sequence)])
    )
