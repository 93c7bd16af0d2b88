"""One callable per analytic op name, on a layer's real weights and inputs of the phase's shape.

The profiler times each callable and sets it beside the analytic op of the same name. Prefill attention is
one causal SDPA call (the analytic ``attn.flash`` op); decode attention is three kernels (``attn.scores``,
``attn.softmax``, ``attn.context``) over the KV cache. Windowed layers (Mistral 7B v0.1, Gemma 2, ...) have their
own ``attn.window.*`` kernels: decode over the last min(c, W) cached tokens, prefill with a band mask.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from llmroof.kernels import weights
from llmroof.kernels.layers import (
    DecoderStack,
    apply_rope,
    prefill_attention,
    rope_tables,
    window_cache,
)


def moe_input(
    batch: int, tokens: int, hidden: int, dtype: torch.dtype, device: torch.device | str
) -> torch.Tensor:
    """Normal inputs [b, s, h], each token distinct (the tiled weight pool repeats rows beyond 2^20 values, which
    would route repeated tokens alike and touch fewer experts)."""
    generator = torch.Generator().manual_seed(0)
    return torch.randn((batch, tokens, hidden), generator=generator).to(dtype=dtype, device=device)


def _scaled_scores(qg: torch.Tensor, k_cache: torch.Tensor, scale: float) -> torch.Tensor:
    """qg [b, kv, g, d] @ k_cache^T [b, kv, d, c] -> scaled scores [b, kv, g, c]."""
    return torch.matmul(qg, k_cache.transpose(-1, -2)) * scale


def op_kernels(
    stack: DecoderStack, phase: str, batch: int, length: int
) -> dict[str, Callable[[], torch.Tensor]]:
    """Kernels of one layer's ops plus embed, final_norm and lm_head.

    ``length`` is the prompt s in prefill and the KV-cache length c in decode.
    """
    spec, dtype, device = stack.spec, stack.dtype, stack.device
    layer = stack.layers[0]
    h, d, hq, hk = spec.hidden_size, spec.head_dim, spec.num_heads, spec.num_kv_heads
    s = length if phase == "prefill" else 1
    x = weights.random((batch, s, h), dtype, device)  # [b, s, h]
    other = weights.random((batch, s, h), dtype, device)
    tokens = torch.randint(0, spec.vocab_size, (batch, s), device=device)
    q = weights.random((batch, hq, s, d), dtype, device)  # [b, H, s, d]
    k_new = weights.random((batch, hk, s, d), dtype, device)  # [b, kv, s, d]
    attn = weights.random((batch, hq, s, d), dtype, device)
    hidden = weights.random((batch, s, spec.intermediate_size), dtype, device)
    if phase == "prefill":
        cos, sin = rope_tables(s, d, dtype, device)
    else:
        cos, sin = (t[-1].view(1, 1, 1, -1) for t in rope_tables(length, d, dtype, device))

    def rope() -> torch.Tensor:
        return torch.cat([apply_rope(q, cos, sin).flatten(), apply_rope(k_new, cos, sin).flatten()])

    kernels: dict[str, Callable[[], torch.Tensor]] = {
        "embed": lambda: F.embedding(tokens, stack.embedding),
        "attn.norm": lambda: layer.attn_norm(x),
        "attn.q": lambda: F.linear(x, layer.wq, layer.bq),
        "attn.k": lambda: F.linear(x, layer.wk, layer.bk),
        "attn.v": lambda: F.linear(x, layer.wv, layer.bv),
        "attn.rope": rope,
    }
    # Windowed layers' attention ops are their own analytic ops (attn.window.*), over the last W keys.
    windows: list[int | None] = (
        [None] if spec.window_layers < spec.num_layers and layer.mla is None else []
    )
    if spec.window_layers:
        windows.append(spec.sliding_window)
    for window in windows:
        prefix = "attn" if window is None else "attn.window"
        if phase == "prefill":
            k = weights.random((batch, hk, s, d), dtype, device)
            v = weights.random((batch, hk, s, d), dtype, device)
            kernels[f"{prefix}.flash"] = functools.partial(prefill_attention, q, k, v, window)
        else:
            k_cache = window_cache(
                weights.random((batch, hk, length, d), dtype, device), window
            )  # [b, kv, c, d]
            v_cache = window_cache(weights.random((batch, hk, length, d), dtype, device), window)
            qg = q.reshape(
                batch, hk, hq // hk, d
            )  # GQA: each KV head read once for its g query heads
            scores = torch.matmul(qg, k_cache.transpose(-1, -2))  # [b, kv, g, c]
            probs = torch.softmax(scores, dim=-1)
            scale = 1.0 / math.sqrt(d)
            kernels[f"{prefix}.scores"] = functools.partial(_scaled_scores, qg, k_cache, scale)
            kernels[f"{prefix}.softmax"] = functools.partial(torch.softmax, scores, dim=-1)
            kernels[f"{prefix}.context"] = functools.partial(torch.matmul, probs, v_cache)
    kernels["attn.o"] = lambda: layer.out(attn, batch, s)
    if layer.mla is not None:  # latent attention: its own projections, cache and attention
        for name in ("attn.q", "attn.k", "attn.v", "attn.rope", "attn.o"):
            del kernels[name]
        kernels.update(layer.mla.op_kernels(phase, batch, length, dtype, device))
    kernels["attn.residual"] = lambda: x + other
    mlp_norm = layer.mlp_norm
    if mlp_norm is not None:
        kernels["mlp.norm"] = lambda: mlp_norm(x)
    # The MLP ops' weights: the first layer's, or in a MoE model its first dense layer's. A name of its own,
    # as the attention kernels above close over ``layer`` (the first layer).
    mlp_layer = layer
    moe = next((each.moe for each in stack.layers if each.moe is not None), None)
    if moe is not None:  # the first MoE layer's router and experts, on this pass's tokens
        kernels.update(moe.op_kernels(moe_input(batch, s, h, dtype, device)))
        kernels["mlp.residual"] = lambda: x + other
        dense = next((each for each in stack.layers if each.moe is None), None)
        if dense is None:  # no dense layer instantiated (or in the model): no mlp.gate/up/act/down
            kernels["final_norm"] = lambda: stack.final_norm(x)
            kernels["lm_head"] = lambda: F.linear(x[:, -1], stack.lm_head)
            return kernels
        mlp_layer = dense
    if mlp_layer.w_gate is not None:
        kernels["mlp.gate"] = lambda: F.linear(x, mlp_layer.w_gate, mlp_layer.b_gate)
        gate = weights.random((batch, s, spec.intermediate_size), dtype, device)
        kernels["mlp.up"] = lambda: F.linear(x, mlp_layer.w_up, mlp_layer.b_up)
        kernels["mlp.act"] = lambda: F.silu(gate) * hidden
    else:
        kernels["mlp.up"] = lambda: F.linear(x, mlp_layer.w_up, mlp_layer.b_up)
        kernels["mlp.act"] = lambda: F.gelu(hidden)
    kernels["mlp.down"] = lambda: F.linear(hidden, mlp_layer.w_down, mlp_layer.b_down)
    kernels["mlp.residual"] = lambda: x + other
    kernels["final_norm"] = lambda: stack.final_norm(x)
    kernels["lm_head"] = lambda: F.linear(
        x[:, -1], stack.lm_head
    )  # last position only, as serving engines
    return kernels
