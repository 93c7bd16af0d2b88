"""Tensor-parallel shards of a decoder layer (Megatron-LM layout) and pipeline stages of a stack.

A shard is the decoder layer of a smaller :class:`ModelSpec` (H/tp heads, kv/tp KV heads or one replicated,
i/tp MLP columns, V/tp vocabulary rows), plus an all-reduce after each row-parallel projection (``attn.o``,
``mlp.down``). Row-parallel biases live on rank 0 only, so the all-reduce adds them once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
import torch.nn.functional as F

from llmroof.analytic.sharding import Shard, shard_model
from llmroof.kernels.layers import DecoderLayer
from llmroof.specs.model import ModelSpec

Reduce = Callable[[torch.Tensor], torch.Tensor]


def shard_spec(model: ModelSpec, tp: int) -> ModelSpec:
    """The model one tensor-parallel rank holds, as a ModelSpec of its own widths."""
    shard: Shard = shard_model(model, tp)
    return dataclasses.replace(
        model,
        name=f"{model.name} (tp shard 1/{tp})",
        num_heads=shard.heads,
        num_kv_heads=shard.kv_heads,
        intermediate_size=shard.intermediate,
        vocab_size=shard.vocab,
    )


class ShardedLayer(DecoderLayer):
    """A decoder layer of a shard spec whose row-parallel outputs are summed across the tensor group."""

    def __init__(
        self, spec: ModelSpec, dtype: torch.dtype, device: torch.device | str, reduce: Reduce
    ) -> None:
        super().__init__(spec, dtype, device)
        self.reduce = reduce

    def out(self, attn: torch.Tensor, b: int, s: int) -> torch.Tensor:
        return self.reduce(super().out(attn, b, s))

    def mlp(self, x: torch.Tensor) -> torch.Tensor:
        return self.reduce(F.linear(self.act(x), self.w_down, self.b_down))


def shard_weights_from(full: DecoderLayer, shard: ShardedLayer, rank: int, tp: int) -> ShardedLayer:
    """Copy rank ``rank``'s slices of ``full``'s weights into ``shard`` (for checking a shard against the
    unsharded layer): q/k/v/gate/up by output rows, o/down by input columns, KV heads replicated on
    tp/kv ranks when kv < tp."""
    spec = full.spec
    d = spec.head_dim
    q_rows = shard.spec.num_heads * d
    kv_heads = shard.spec.num_kv_heads
    if spec.num_kv_heads >= tp:
        kv_start = rank * kv_heads * d
    else:  # each KV head serves tp/kv consecutive ranks
        kv_start = (rank // (tp // spec.num_kv_heads)) * d
    kv_rows = kv_heads * d
    i_rows = shard.spec.intermediate_size
    with torch.no_grad():
        shard.wq.copy_(full.wq[rank * q_rows : (rank + 1) * q_rows])
        shard.wk.copy_(full.wk[kv_start : kv_start + kv_rows])
        shard.wv.copy_(full.wv[kv_start : kv_start + kv_rows])
        shard.wo.copy_(full.wo[:, rank * q_rows : (rank + 1) * q_rows])
        if full.w_gate is not None:
            shard.w_gate.copy_(full.w_gate[rank * i_rows : (rank + 1) * i_rows])
        shard.w_up.copy_(full.w_up[rank * i_rows : (rank + 1) * i_rows])
        shard.w_down.copy_(full.w_down[:, rank * i_rows : (rank + 1) * i_rows])
        for name in ("bq",):
            if getattr(full, name) is not None:
                getattr(shard, name).copy_(getattr(full, name)[rank * q_rows : (rank + 1) * q_rows])
        for name in ("bk", "bv"):
            if getattr(full, name) is not None:
                getattr(shard, name).copy_(getattr(full, name)[kv_start : kv_start + kv_rows])
        for name in ("b_gate", "b_up"):
            if getattr(full, name) is not None:
                getattr(shard, name).copy_(getattr(full, name)[rank * i_rows : (rank + 1) * i_rows])
        for name in ("bo", "b_down"):  # row-parallel: the whole bias on rank 0, none elsewhere
            if getattr(full, name) is not None:
                setattr(shard, name, getattr(full, name).clone() if rank == 0 else None)
        for norm_name in ("attn_norm", "mlp_norm"):
            full_norm, shard_norm = getattr(full, norm_name), getattr(shard, norm_name)
            if full_norm is not None:
                shard_norm.weight.copy_(full_norm.weight)
                if full_norm.bias is not None:
                    shard_norm.bias.copy_(full_norm.bias)
    return shard


def drop_replicated_row_biases(layer: ShardedLayer, rank: int) -> ShardedLayer:
    """Random shards: keep row-parallel biases on rank 0 only, so the all-reduce adds them once."""
    if rank != 0:
        layer.bo = None
        layer.b_down = None
    return layer
