"""Functions that run inside spawned ranks (importable by name, as multiprocessing's spawn needs)."""

from __future__ import annotations

import dataclasses
import json
import os
import time


def tiny_spec(kv_heads: int = 2):
    from llmroof.specs import get_model

    return dataclasses.replace(get_model("llama-3-8b"), name="tiny", hidden_size=64, num_layers=2, num_heads=8,
                               num_kv_heads=kv_heads, head_dim=16, intermediate_size=128, vocab_size=256,
                               qkv_bias=True, attn_out_bias=True, mlp_bias=True)


def sharded_layer_matches(rank: int, world_size: int, out_dir: str, kv_heads: int) -> None:
    """TP: each rank holds its shard of one layer; the all-reduced output must equal the whole layer's."""
    import torch

    from llmroof.kernels.layers import DecoderLayer, rope_tables
    from llmroof.kernels.parallel import ShardedLayer, shard_spec, shard_weights_from
    from llmroof.measure.distributed import Layout, init_group

    layout = Layout(rank, world_size, world_size, 1, rank)
    dist, group = init_group(layout, "gloo", 30)
    torch.manual_seed(0)
    spec = tiny_spec(kv_heads)
    full = DecoderLayer(spec, torch.float32, "cpu")
    for name in ("wq", "wk", "wv", "wo", "w_gate", "w_up", "w_down", "bq", "bk", "bv", "bo", "b_gate", "b_up", "b_down"):
        tensor = getattr(full, name)
        tensor.copy_(torch.randn_like(tensor) * 0.1)

    def reduce(x):
        dist.all_reduce(x, group=group)
        return x

    shard = shard_weights_from(full, ShardedLayer(shard_spec(spec, world_size), torch.float32, "cpu", reduce),
                               rank, world_size)
    b, s = 2, 5
    x = torch.randn(b, s, spec.hidden_size)
    cos, sin = rope_tables(s, spec.head_dim, torch.float32, "cpu")
    caches = [torch.zeros(b, layer.kv_heads, s, spec.head_dim) for layer in (full, full, shard, shard)]
    expected = full.prefill(x, cos, sin, caches[0], caches[1])
    got = shard.prefill(x, cos, sin, caches[2], caches[3])
    error = (got - expected).abs().max().item()
    with open(os.path.join(out_dir, f"tp{rank}.json"), "w") as handle:
        json.dump({"rank": rank, "max_abs_error": error, "shard_heads": shard.heads,
                   "shard_kv_heads": shard.kv_heads}, handle)
    dist.destroy_process_group()


def pipeline_matches(rank: int, world_size: int, out_dir: str) -> None:
    """PP: stage 0 runs layer 0 and sends; stage 1 receives and runs layer 1; equals both layers in one."""
    import torch

    from llmroof.kernels.layers import DecoderLayer, rope_tables
    from llmroof.measure.distributed import Layout, init_group

    layout = Layout(rank, world_size, 1, world_size, rank)
    dist, _ = init_group(layout, "gloo", 30)
    torch.manual_seed(0)
    spec = tiny_spec()
    layers = [DecoderLayer(spec, torch.float32, "cpu") for _ in range(2)]
    for layer in layers:
        for name in ("wq", "wk", "wv", "wo", "w_gate", "w_up", "w_down"):
            tensor = getattr(layer, name)
            tensor.copy_(torch.randn_like(tensor) * 0.1)
    b, s = 2, 5
    x = torch.randn(b, s, spec.hidden_size)
    cos, sin = rope_tables(s, spec.head_dim, torch.float32, "cpu")

    def cache():
        return torch.zeros(b, spec.num_kv_heads, s, spec.head_dim)

    if rank == 0:
        dist.send(layers[0].prefill(x, cos, sin, cache(), cache()).contiguous(), dst=1)
    else:
        received = torch.empty(b, s, spec.hidden_size)
        dist.recv(received, src=0)
        got = layers[1].prefill(received, cos, sin, cache(), cache())
        expected = layers[1].prefill(layers[0].prefill(x, cos, sin, cache(), cache()), cos, sin, cache(), cache())
        with open(os.path.join(out_dir, "pp.json"), "w") as handle:
            json.dump({"max_abs_error": (got - expected).abs().max().item()}, handle)
    dist.destroy_process_group()


def one_rank_dies(rank: int, world_size: int) -> None:
    """Rank 1 fails at once; rank 0 waits in a collective until the group's timeout."""
    import torch

    from llmroof.measure.distributed import Layout, init_group

    layout = Layout(rank, world_size, world_size, 1, rank)
    dist, _ = init_group(layout, "gloo", 10)
    if rank == 1:
        raise RuntimeError("rank 1 lost its GPU")
    time.sleep(0.5)
    dist.all_reduce(torch.ones(4))


def never_joins(rank: int, world_size: int) -> None:
    """A rank stuck before it joins the group (as on a machine with far more ranks than cores)."""
    time.sleep(120)
