"""A decoder layer and a stack of layers in plain PyTorch, at a model's real shapes.

Shapes: b sequences, s prompt tokens, c KV-cache tokens (the new one included), h hidden, H query heads,
kv KV heads, g = H / kv, d head dim, i MLP width, V vocabulary.
The KV cache of a layer is a pair of tensors [b, kv, c, d]; prefill writes positions [0, s), a decode step
writes position c - 1 and attends over all c (a windowed layer over the last min(c, W); its cache is still
allocated at c). A mixture-of-experts layer's MLP is a :class:`~llmroof.kernels.moe.MoeBlock`. Latent-attention
layers use :class:`~llmroof.kernels.mla.MlaAttention` (decompressed prefill, absorbed decode) and cache the latent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from llmroof.kernels import weights
from llmroof.specs.model import ModelSpec


def rope_tables(
    positions: int,
    head_dim: int,
    dtype: torch.dtype,
    device: torch.device | str,
    theta: float = 10_000.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables [positions, d] for rotate-half rotary embeddings."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    angles = torch.outer(torch.arange(positions, dtype=torch.float32), inv_freq)  # [positions, d/2]
    angles = torch.cat([angles, angles], dim=-1)  # [positions, d]
    return angles.cos().to(dtype=dtype, device=device), angles.sin().to(dtype=dtype, device=device)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x: [b, heads, s, d]; cos, sin: [s, d] (prefill) or [b, 1, 1, d] (decode)."""
    return x * cos + rotate_half(x) * sin


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """RMSNorm in fp32 (as Llama does), cast back to the input dtype."""
    x32 = x.float()
    normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)
    return normed.to(x.dtype) * weight


@dataclass
class Norm:
    """RMSNorm (weight) or LayerNorm (weight and bias)."""

    weight: torch.Tensor
    bias: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.bias is None:
            return rms_norm(x, self.weight)
        return F.layer_norm(x, (x.shape[-1],), self.weight, self.bias)


def make_norm(spec: ModelSpec, dtype: torch.dtype, device: torch.device | str) -> Norm:
    weight = weights.ones((spec.hidden_size,), dtype, device)
    bias = (
        torch.zeros(spec.hidden_size, dtype=dtype, device=device)
        if spec.norm == "layernorm"
        else None
    )
    return Norm(weight, bias)


def decode_attention(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor) -> torch.Tensor:
    """One new token per sequence over its whole KV cache, GQA without repeating K/V.

    q: [b, H, 1, d]; k_cache, v_cache: [b, kv, c, d] -> [b, H, 1, d].
    Each KV head is read once for the g query heads it serves: Q is viewed as [b, kv, g, d].
    """
    b, heads, _, d = q.shape
    kv = k_cache.shape[1]
    qg = q.reshape(b, kv, heads // kv, d)
    scores = torch.matmul(qg, k_cache.transpose(-1, -2)) * (1.0 / math.sqrt(d))  # [b, kv, g, c]
    probs = torch.softmax(scores, dim=-1)
    return torch.matmul(probs, v_cache).reshape(b, heads, 1, d)


def prefill_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int | None = None
) -> torch.Tensor:
    """Causal attention over the prompt with SDPA; K/V keep their kv heads (enable_gqa, no repeat).

    q: [b, H, s, d]; k, v: [b, kv, s, d] -> [b, H, s, d]. With a ``window`` shorter than the prompt, query i
    sees keys (i - W, i] through a band mask (SDPA then computes every score and masks them).
    """
    s = q.shape[2]
    gqa = k.shape[1] != q.shape[1]
    if window is None or s <= window:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
    position = torch.arange(s, device=q.device)
    offset = position.view(-1, 1) - position.view(1, -1)  # query - key
    band = (offset >= 0) & (offset < window)  # [s, s]
    return F.scaled_dot_product_attention(q, k, v, attn_mask=band, enable_gqa=gqa)


def window_cache(cache: torch.Tensor, window: int | None) -> torch.Tensor:
    """The last ``window`` positions of a [b, kv, c, d] cache (all of it without a window): what a windowed
    layer's decode step attends over."""
    return cache if window is None or cache.shape[2] <= window else cache[:, :, -window:]


class DecoderLayer:
    """One pre-norm decoder layer (Llama, Mistral, Qwen2, or Falcon with parallel attention)."""

    def __init__(
        self,
        spec: ModelSpec,
        dtype: torch.dtype,
        device: torch.device | str,
        window: int | None = None,
        moe: bool = False,
    ) -> None:
        h, d, i = spec.hidden_size, spec.head_dim, spec.intermediate_size
        self.spec = spec
        self.window = window
        """Sliding window of this layer (None: full attention)."""
        self.moe = None
        """The layer's mixture of experts, replacing the dense MLP (None: a dense layer)."""
        if moe:
            from llmroof.kernels.moe import MoeBlock

            self.moe = MoeBlock(spec, dtype, device)
        self.mla = None
        """Multi-head latent attention, replacing q/k/v/o (None: GQA/MQA/MHA)."""
        if spec.is_mla:
            from llmroof.kernels.mla import MlaAttention

            self.mla = MlaAttention(spec, dtype, device)
        self.attn_norm = make_norm(spec, dtype, device)
        self.mlp_norm = None if spec.parallel_attention else make_norm(spec, dtype, device)

        # (weight [out, in], bias [out] or None). Typed Any: a projection the layer lacks (MLA's q/k/v/o,
        # a MoE layer's MLP) is (None, None), and the forward paths read each only where it exists.
        def linear(out_features: int, in_features: int, bias: bool) -> tuple[Any, Any]:
            w = weights.random(
                (out_features, in_features), dtype, device
            )  # [out, in], as nn.Linear
            return w, (weights.random((out_features,), dtype, device) if bias else None)

        none: tuple[Any, Any] = (None, None)
        self.wq, self.bq = linear(spec.q_dim, h, spec.qkv_bias) if self.mla is None else none
        self.wk, self.bk = linear(spec.kv_dim, h, spec.qkv_bias) if self.mla is None else none
        self.wv, self.bv = linear(spec.kv_dim, h, spec.qkv_bias) if self.mla is None else none
        self.wo, self.bo = linear(h, spec.q_dim, spec.attn_out_bias) if self.mla is None else none
        dense = not moe
        self.w_gate, self.b_gate = linear(i, h, spec.mlp_bias) if spec.gated_mlp and dense else none
        self.w_up, self.b_up = linear(i, h, spec.mlp_bias) if dense else none
        self.w_down, self.b_down = linear(h, i, spec.mlp_bias) if dense else none
        self.heads, self.kv_heads, self.head_dim = spec.num_heads, spec.num_kv_heads, d

    # --- pieces, at the analytic model's op names -------------------------------------------------
    def qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x: [b, s, h] -> q [b, H, s, d], k and v [b, kv, s, d]."""
        b, s, _ = x.shape
        q = F.linear(x, self.wq, self.bq).view(b, s, self.heads, self.head_dim).transpose(1, 2)
        k = F.linear(x, self.wk, self.bk).view(b, s, self.kv_heads, self.head_dim).transpose(1, 2)
        v = F.linear(x, self.wv, self.bv).view(b, s, self.kv_heads, self.head_dim).transpose(1, 2)
        return q, k, v

    def act(self, x: torch.Tensor) -> torch.Tensor:
        """The MLP's hidden activation: SiLU(gate) * up, or GELU(up)."""
        up = F.linear(x, self.w_up, self.b_up)
        if self.w_gate is None:
            return F.gelu(up)
        return F.silu(F.linear(x, self.w_gate, self.b_gate)) * up

    def mlp(self, x: torch.Tensor) -> torch.Tensor:
        if self.moe is not None:
            return self.moe(x)
        return F.linear(self.act(x), self.w_down, self.b_down)

    def out(self, attn: torch.Tensor, b: int, s: int) -> torch.Tensor:
        """attn: [b, H, s, d] -> [b, s, h] through the output projection."""
        return F.linear(
            attn.transpose(1, 2).reshape(b, s, self.heads * self.head_dim), self.wo, self.bo
        )

    def _finish(
        self, x: torch.Tensor, normed: torch.Tensor, attn_out: torch.Tensor
    ) -> torch.Tensor:
        if self.mlp_norm is None:  # parallel attention: both branches read the same normed input
            return x + attn_out + self.mlp(normed)
        x = x + attn_out
        return x + self.mlp(self.mlp_norm(x))

    # --- whole layer --------------------------------------------------------------------------------
    def prefill(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        k_cache: torch.Tensor,
        v_cache: torch.Tensor,
    ) -> torch.Tensor:
        """x: [b, s, h]; cos, sin: [s, d]; writes K and V of positions [0, s) into the cache."""
        b, s, _ = x.shape
        normed = self.attn_norm(x)
        if self.mla is not None:  # k_cache, v_cache: the latent and the rotary key
            return self._finish(x, normed, self.mla.prefill(normed, cos, sin, k_cache, v_cache))
        q, k, v = self.qkv(normed)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        k_cache[:, :, :s].copy_(k)
        v_cache[:, :, :s].copy_(v)
        attn = prefill_attention(q, k_cache[:, :, :s], v_cache[:, :, :s], self.window)
        return self._finish(x, normed, self.out(attn, b, s))

    def decode(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        k_cache: torch.Tensor,
        v_cache: torch.Tensor,
    ) -> torch.Tensor:
        """x: [b, 1, h]; cos, sin: [b, 1, 1, d] at position c - 1; the cache is [b, kv, c, d]."""
        b = x.shape[0]
        normed = self.attn_norm(x)
        if self.mla is not None:
            return self._finish(x, normed, self.mla.decode(normed, cos, sin, k_cache, v_cache))
        q, k, v = self.qkv(normed)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        k_cache[:, :, -1:].copy_(k)
        v_cache[:, :, -1:].copy_(v)
        attn = decode_attention(
            q, window_cache(k_cache, self.window), window_cache(v_cache, self.window)
        )
        return self._finish(x, normed, self.out(attn, b, 1))


@dataclass
class KVCache:
    """Per-layer K and V caches [b, kv, c, d] and the rotary tables for their c positions."""

    layers: list[tuple[torch.Tensor, torch.Tensor]]
    cos: torch.Tensor
    sin: torch.Tensor

    @classmethod
    def allocate(
        cls,
        spec: ModelSpec,
        num_layers: int,
        batch: int,
        length: int,
        dtype: torch.dtype,
        device: torch.device | str,
    ) -> KVCache:
        if spec.is_mla:  # the latent [b, 1, c, r_kv] and the shared rotary key [b, 1, c, d_r]
            r_kv, rope_dim, _, _ = spec.mla_dims
            shapes = ((batch, 1, length, r_kv), (batch, 1, length, rope_dim))
        else:
            shapes = ((batch, spec.num_kv_heads, length, spec.head_dim),) * 2
            rope_dim = spec.head_dim
        layers = [
            (
                torch.zeros(shapes[0], dtype=dtype, device=device),
                torch.zeros(shapes[1], dtype=dtype, device=device),
            )
            for _ in range(num_layers)
        ]
        cos, sin = rope_tables(length, rope_dim, dtype, device)
        return cls(layers, cos, sin)

    @property
    def length(self) -> int:
        return self.cos.shape[0]

    def decode_rope(self) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin [1, 1, 1, d] at the last position (the decode step's new token)."""
        return self.cos[-1].view(1, 1, 1, -1), self.sin[-1].view(1, 1, 1, -1)


class DecoderStack:
    """Embedding, ``num_layers`` decoder layers (a prefix of the model when fewer than its depth), final
    norm and lm_head. Weights only: each run brings its :class:`KVCache`."""

    def __init__(
        self, spec: ModelSpec, num_layers: int, dtype: torch.dtype, device: torch.device | str
    ) -> None:
        self.spec, self.dtype, self.device = spec, dtype, device
        self.embedding = weights.random(
            (spec.vocab_size, spec.hidden_size), dtype, device
        )  # [V, h]
        self.layers = [
            DecoderLayer(
                spec,
                dtype,
                device,
                spec.sliding_window if spec.layer_is_windowed(i) else None,
                moe=spec.is_moe and i >= spec.first_dense_layers,
            )
            for i in range(num_layers)
        ]
        self.final_norm = make_norm(spec, dtype, device)
        self.lm_head = (
            self.embedding
            if spec.tie_word_embeddings
            else weights.random((spec.vocab_size, spec.hidden_size), dtype, device)
        )

    def new_cache(self, batch: int, length: int) -> KVCache:
        return KVCache.allocate(self.spec, len(self.layers), batch, length, self.dtype, self.device)

    def prefill(self, tokens: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """tokens: [b, s] -> logits of the last position [b, V] (serving engines compute only those)."""
        s = tokens.shape[1]
        x = F.embedding(tokens, self.embedding)
        cos, sin = cache.cos[:s], cache.sin[:s]
        for layer, (k_cache, v_cache) in zip(self.layers, cache.layers):
            x = layer.prefill(x, cos, sin, k_cache, v_cache)
        x = self.final_norm(x)
        return F.linear(x[:, -1], self.lm_head)

    def decode(self, tokens: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """tokens: [b, 1]: one decode step writing the cache's last position -> logits [b, V]."""
        x = F.embedding(tokens, self.embedding)
        cos, sin = cache.decode_rope()
        for layer, (k_cache, v_cache) in zip(self.layers, cache.layers):
            x = layer.decode(x, cos, sin, k_cache, v_cache)
        x = self.final_norm(x)
        return F.linear(x[:, -1], self.lm_head)
