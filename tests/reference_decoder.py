"""A plain torch decoder-only transformer built from a :class:`~llmroof.specs.model.ModelSpec`: the oracle that
``test_against_torch.py`` checks the analytic counts against.

Written from the architecture (Llama / Falcon / Qwen2 as published), not from llmroof's formulas. Submodule
names follow llmroof's op names, so FlopCounterMode's per-module counts and ``named_parameters`` map onto
analytic ops: ``layers.0.attn.q`` is ``attn.q`` of layer 0, ``layers.0.attn.scores`` is ``attn.scores``,
``lm_head`` is ``lm_head``.

Build it on the ``meta`` device to count (shapes only, instant at any size), or on the CPU and fill the
weights with :func:`init_weights` to run it (torch's default initialisation is slow and not needed).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from llmroof.specs.model import ModelSpec

ROPE_THETA = 10000.0


class RMSNorm(nn.Module):
    """x / rms(x) * weight; no bias."""

    def __init__(self, width: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.empty(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def make_norm(spec: ModelSpec) -> nn.Module:
    if spec.norm == "layernorm":
        return nn.LayerNorm(spec.hidden_size, bias=True)
    return RMSNorm(spec.hidden_size)


class MatMul(nn.Module):
    """a @ b, as a module so FlopCounterMode attributes the product to a name (attn.scores, attn.context)."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a @ b


class FlashAttention(nn.Module):
    """torch's fused scaled_dot_product_attention; GQA served by the kernel (enable_gqa), K/V not repeated."""

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None,
                causal: bool) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, enable_gqa=True)


def rotate(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding (rotate-half form). x: [b, heads, s, d], positions: [s]."""
    d = x.shape[-1]
    inv_freq = ROPE_THETA ** -(torch.arange(0, d, 2, device=x.device, dtype=torch.float32) / d)  # [d/2]
    angles = positions.to(torch.float32)[:, None] * inv_freq  # [s, d/2]
    cos = torch.cat([angles.cos(), angles.cos()], -1).to(x.dtype)  # [s, d]
    sin = torch.cat([angles.sin(), angles.sin()], -1).to(x.dtype)
    x1, x2 = x[..., : d // 2], x[..., d // 2 :]
    return x * cos + torch.cat([-x2, x1], -1) * sin


class KVCache:
    """Keys and values of every layer: [L, b, kv, max_len, d] each, filled from position 0."""

    def __init__(self, spec: ModelSpec, batch: int, max_len: int, *, dtype: torch.dtype = torch.bfloat16,
                 device: torch.device | str = "cpu") -> None:
        shape = (spec.num_layers, batch, spec.num_kv_heads, max_len, spec.head_dim)
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)
        self.batch, self.max_len = batch, max_len

    @property
    def nbytes(self) -> int:
        return self.k.numel() * self.k.element_size() + self.v.numel() * self.v.element_size()

    @property
    def bytes_per_token(self) -> float:
        """Cache bytes (K and V, all layers) that one token of one sequence takes."""
        return self.nbytes / (self.batch * self.max_len)

    def update(self, layer: int, start: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write k, v ([b, kv, s, d]) at positions start..start+s-1; return the keys and values 0..start+s-1."""
        end = start + k.shape[2]
        self.k[layer, :, :, start:end] = k
        self.v[layer, :, :, start:end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]


class Attention(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        h, q_dim, kv_dim = spec.hidden_size, spec.num_heads * spec.head_dim, spec.num_kv_heads * spec.head_dim
        self.heads, self.kv_heads, self.head_dim = spec.num_heads, spec.num_kv_heads, spec.head_dim
        self.norm = make_norm(spec)  # applied by Block (parallel attention feeds it to the MLP too)
        self.q = nn.Linear(h, q_dim, bias=spec.qkv_bias)
        self.k = nn.Linear(h, kv_dim, bias=spec.qkv_bias)
        self.v = nn.Linear(h, kv_dim, bias=spec.qkv_bias)
        self.scores = MatMul()
        self.context = MatMul()
        self.flash = FlashAttention()
        self.o = nn.Linear(q_dim, h, bias=spec.attn_out_bias)

    def forward(self, x: torch.Tensor, start: int, layer: int, cache: KVCache | None, kernel: str) -> torch.Tensor:
        b, s, _ = x.shape
        q = self.q(x).view(b, s, self.heads, self.head_dim).transpose(1, 2)  # [b, H, s, d]
        k = self.k(x).view(b, s, self.kv_heads, self.head_dim).transpose(1, 2)  # [b, kv, s, d]
        v = self.v(x).view(b, s, self.kv_heads, self.head_dim).transpose(1, 2)
        positions = torch.arange(start, start + s, device=x.device)  # [s]
        q, k = rotate(q, positions), rotate(k, positions)
        if cache is not None:
            k, v = cache.update(layer, start, k.to(cache.k.dtype), v.to(cache.v.dtype))
            k, v = k.to(q.dtype), v.to(q.dtype)
        # Query at position p sees keys 0..p: mask [s, s_k].
        mask = torch.arange(k.shape[2], device=x.device)[None, :] <= positions[:, None]
        if kernel == "flash":
            if s == 1:
                out = self.flash(q, k, v, None, False)  # a decode token sees every cached key
            elif start == 0:
                out = self.flash(q, k, v, None, True)
            else:
                out = self.flash(q, k, v, mask, False)
        else:
            out = self.eager(q, k, v, mask)
        return self.o(out.transpose(1, 2).reshape(b, s, self.heads * self.head_dim))

    def eager(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """softmax(Q K^T / sqrt(d)) V with explicit products; GQA without repeating K/V.

        q: [b, H, s_q, d]; k, v: [b, kv, s_k, d]. Query head j*g + r uses KV head j (g = H/kv), so the g query
        heads of a group stack along the rows of one product: [b, kv, g*s_q, d] @ [b, kv, d, s_k].
        """
        b, heads, s_q, d = q.shape
        kv, s_k, g = k.shape[1], k.shape[2], heads // k.shape[1]
        q = q.reshape(b, kv, g * s_q, d)
        scores = self.scores(q, k.transpose(-2, -1)) / math.sqrt(d)  # [b, kv, g*s_q, s_k]: the full square
        scores = scores.view(b, kv, g, s_q, s_k).masked_fill(~mask, float("-inf"))
        probs = torch.softmax(scores.float(), dim=-1).to(q.dtype).view(b, kv, g * s_q, s_k)
        return self.context(probs, v).view(b, heads, s_q, d)  # [b, kv, g*s_q, d] -> [b, H, s_q, d]


class MLP(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        h, i = spec.hidden_size, spec.intermediate_size
        if not spec.parallel_attention:
            self.norm = make_norm(spec)
        self.gated = spec.gated_mlp
        if spec.gated_mlp:
            self.gate = nn.Linear(h, i, bias=spec.mlp_bias)
        self.up = nn.Linear(h, i, bias=spec.mlp_bias)
        self.down = nn.Linear(i, h, bias=spec.mlp_bias)
        self.act = nn.SiLU() if spec.activation == "silu" else nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.act(self.gate(x)) * self.up(x) if self.gated else self.act(self.up(x))  # [b, s, i]
        return self.down(hidden)


class Block(nn.Module):
    def __init__(self, spec: ModelSpec, index: int) -> None:
        super().__init__()
        self.index = index
        self.parallel = spec.parallel_attention
        self.attn = Attention(spec)
        self.mlp = MLP(spec)

    def forward(self, x: torch.Tensor, start: int, cache: KVCache | None, kernel: str) -> torch.Tensor:
        normed = self.attn.norm(x)
        attn = self.attn(normed, start, self.index, cache, kernel)
        if self.parallel:  # Falcon: x + attn(norm(x)) + mlp(norm(x))
            return x + attn + self.mlp(normed)
        x = x + attn
        return x + self.mlp(self.mlp.norm(x))


class ReferenceDecoder(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        self.embed = nn.Embedding(spec.vocab_size, spec.hidden_size)
        self.layers = nn.ModuleList(Block(spec, n) for n in range(spec.num_layers))
        self.final_norm = make_norm(spec)
        self.lm_head = nn.Linear(spec.hidden_size, spec.vocab_size, bias=False)
        if spec.tie_word_embeddings:
            self.lm_head.weight = self.embed.weight

    def forward(self, tokens: torch.Tensor, *, cache: KVCache | None = None, start: int = 0,
                attention_kernel: str = "eager", all_logits: bool = False) -> torch.Tensor:
        """Logits for tokens [b, s] at positions start..start+s-1, whose predecessors are in ``cache``.

        Prefill: start=0 (an empty cache, or none). Decode: s=1, start=c-1, the cache holding c-1 tokens.
        Returns [b, s, V] with ``all_logits``, else [b, 1, V] for the last position only.
        """
        if cache is None and start:
            raise ValueError("positions after 0 need a cache holding the earlier tokens")
        x = self.embed(tokens)  # [b, s, h]
        for layer in self.layers:
            x = layer(x, start, cache, attention_kernel)
        x = self.final_norm(x)
        if not all_logits:
            x = x[:, -1:]
        return self.lm_head(x)


def build(spec: ModelSpec, device: torch.device | str = "meta", dtype: torch.dtype = torch.float32) -> ReferenceDecoder:
    """The reference module on ``device``; on meta it has shapes only."""
    with torch.device(device):
        return ReferenceDecoder(spec).to(dtype)


def init_weights(module: nn.Module, seed: int = 0) -> nn.Module:
    """Fill a module built on meta with small random values on the CPU (fast, unlike torch's init)."""
    module = module.to_empty(device="cpu")
    if isinstance(module, ReferenceDecoder) and module.spec.tie_word_embeddings:
        module.lm_head.weight = module.embed.weight  # to_empty gives each name its own tensor: tie again
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("norm.weight"):
                p.fill_(1.0)
            else:
                p.copy_(torch.randn(p.shape, generator=generator) * 0.05)
    return module
