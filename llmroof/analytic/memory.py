"""Parameters, weight bytes and KV-cache bytes, whole-model and per GPU."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from llmroof.analytic.arith import largest, maximum, smallest, to_int
from llmroof.analytic.sharding import Shard
from llmroof.specs.dtypes import Precision
from llmroof.specs.model import ModelSpec


def layer_param_count(model: ModelSpec) -> int:
    """Parameters of one decoder layer."""
    h, i = model.hidden_size, model.intermediate_size
    attention = h * model.q_dim + 2 * h * model.kv_dim + model.q_dim * h
    if model.qkv_bias:
        attention += model.q_dim + 2 * model.kv_dim
    if model.attn_out_bias:
        attention += h
    projections = 3 if model.gated_mlp else 2
    mlp = projections * h * i
    if model.mlp_bias:
        mlp += (projections - 1) * i + h
    norms = (1 if model.parallel_attention else 2) * norm_param_count(model)
    return attention + mlp + norms


def norm_param_count(model: ModelSpec) -> int:
    """Parameters of one norm: a weight, plus a bias for LayerNorm."""
    return model.hidden_size * (2 if model.norm == "layernorm" else 1)


@functools.lru_cache(maxsize=256)
def param_count(model: ModelSpec) -> int:
    """All parameters: embedding, layers, final norm, and lm_head unless tied to the embedding."""
    embedding = model.vocab_size * model.hidden_size
    lm_head = 0 if model.tie_word_embeddings else embedding
    return embedding + model.num_layers * layer_param_count(model) + norm_param_count(model) + lm_head


def kv_bytes_per_token(model: ModelSpec, precision: Precision) -> float:
    """KV cache of one token across all layers: 2 (K and V) * L * kv * d * bytes."""
    return 2 * model.num_layers * model.kv_dim * precision.kv.bytes_per_element


def layer_kv_bytes_per_token(shard: Shard, precision: Precision) -> float:
    """KV cache of one token in one layer on one rank (replicated KV heads counted on each rank)."""
    return 2 * shard.kv_dim * precision.kv.bytes_per_element


def embedding_bytes(shard: Shard, precision: Precision) -> float:
    """The (vocab-parallel) embedding table on one rank; lm_head has the same size."""
    return shard.vocab * shard.hidden * precision.unquantized.bytes_per_element


def stage_weight_bytes(model: ModelSpec, shard: Shard, precision: Precision, layer_weight_bytes: float,
                       stage_layers: tuple[int, ...]) -> list[float]:
    """Weight bytes on one rank of each pipeline stage.

    The first stage holds the embedding, the last the final norm and lm_head; a tied lm_head shares the
    embedding's memory only when both sit on the same stage.
    """
    table = embedding_bytes(shard, precision)
    final_norm = norm_param_count(model) * precision.unquantized.bytes_per_element
    last = len(stage_layers) - 1
    result = []
    for stage, layers in enumerate(stage_layers):
        total = layers * layer_weight_bytes
        if stage == 0:
            total += table
        if stage == last:
            total += final_norm
            if not model.tie_word_embeddings or last > 0:
                total += table
        result.append(total)
    return result


def total_bytes_per_gpu(stage_weight_bytes: Sequence[float], stage_kv_bytes_per_token: Sequence[float], batch: Any,
                        kv_tokens: Any) -> Any:
    """Weights plus the KV cache of ``batch`` sequences of ``kv_tokens`` tokens on the fullest GPU (pp batches
    in flight); numbers, or arrays over a grid."""
    pp = len(stage_weight_bytes)
    return largest([wb + kv * batch * kv_tokens * pp for wb, kv in zip(stage_weight_bytes, stage_kv_bytes_per_token)])


def max_batch(usable_bytes: float, stage_weight_bytes: Sequence[float], stage_kv_bytes_per_token: Sequence[float],
              context: Any) -> Any:
    """Largest batch whose KV cache at ``context`` tokens fits beside the weights on every GPU (0: none)."""
    pp = len(stage_weight_bytes)
    free = [usable_bytes - w for w in stage_weight_bytes]
    return maximum(0, smallest([to_int(f // (kv * context * pp)) for f, kv in zip(free, stage_kv_bytes_per_token)]))
