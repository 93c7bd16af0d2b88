"""Multi-head latent attention (DeepSeek-V2/V3) in plain PyTorch: the decompressed prefill and the absorbed decode
that vLLM and SGLang run, under the analytic op names (``llmroof/analytic/mla.py`` has the formulas).

Shapes: b sequences, s prompt tokens, c cached tokens, h hidden, H heads, r_q / r_kv the query / KV latent ranks,
d_n / d_r / d_v the no-rope, rope and value head widths. The cache of a layer is the normed latent [b, 1, c, r_kv]
and the rotated shared key [b, 1, c, d_r] (the pair of tensors a dense layer uses for K and V).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from llmroof.kernels import weights
from llmroof.specs.model import ModelSpec


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return x * cos + torch.cat([-x[..., half:], x[..., :half]], dim=-1) * sin


def _rms(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    x32 = x.float()
    return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype) * weight


class MlaAttention:
    """The projections of one MLA layer and the two ways to attend over its latent cache."""

    def __init__(self, spec: ModelSpec, dtype: torch.dtype, device: torch.device | str) -> None:
        h, heads = spec.hidden_size, spec.num_heads
        self.heads, self.r_q = heads, spec.q_lora_rank
        self.r_kv, self.d_r, self.d_n, self.d_v = spec.mla_dims
        q_out = heads * (self.d_n + self.d_r)
        if self.r_q is None:
            self.w_q = weights.random((q_out, h), dtype, device)  # [H*(d_n+d_r), h]
        else:
            self.w_qa = weights.random((self.r_q, h), dtype, device)
            self.qa_norm = weights.ones((self.r_q,), dtype, device)
            self.w_qb = weights.random((q_out, self.r_q), dtype, device)
        self.w_kva = weights.random((self.r_kv + self.d_r, h), dtype, device)
        self.kva_norm = weights.ones((self.r_kv,), dtype, device)
        self.w_kvb = weights.random((heads * (self.d_n + self.d_v), self.r_kv), dtype, device)
        self.w_o = weights.random((h, heads * self.d_v), dtype, device)
        # The absorbed halves of W_kvb: W_UK [H, d_n, r_kv] and W_UV [H, r_kv, d_v] (views, no copy of the weights).
        kvb = self.w_kvb.view(heads, self.d_n + self.d_v, self.r_kv)
        self.w_uk = kvb[:, : self.d_n]
        self.w_uv = kvb[:, self.d_n :].transpose(1, 2)
        self.scale = 1.0 / math.sqrt(self.d_n + self.d_r)

    # --- pieces ---------------------------------------------------------------------------------------------
    def query(self, x: torch.Tensor) -> torch.Tensor:
        """x [b, s, h] -> q [b, H, s, d_n + d_r]."""
        b, s, _ = x.shape
        q = (
            F.linear(x, self.w_q)
            if self.r_q is None
            else F.linear(_rms(F.linear(x, self.w_qa), self.qa_norm), self.w_qb)
        )
        return q.view(b, s, self.heads, self.d_n + self.d_r).transpose(1, 2)

    def latent(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [b, s, h] -> normed c_kv [b, 1, s, r_kv] and the unrotated k_r [b, 1, s, d_r]."""
        kv = F.linear(x, self.w_kva).unsqueeze(1)
        return _rms(kv[..., : self.r_kv], self.kva_norm), kv[..., self.r_kv :]

    def out(self, attn: torch.Tensor) -> torch.Tensor:
        """attn [b, H, s, d_v] -> [b, s, h]."""
        b, _, s, _ = attn.shape
        return F.linear(attn.transpose(1, 2).reshape(b, s, self.heads * self.d_v), self.w_o)

    def _project(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        q = self.query(x)
        q_nope, q_rope = q[..., : self.d_n], _rope(q[..., self.d_n :], cos, sin)
        c_kv, k_rope = self.latent(x)
        return q_nope, q_rope, c_kv, _rope(k_rope, cos, sin)

    # --- the two forms ---------------------------------------------------------------------------------------
    def prefill(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        latent_cache: torch.Tensor,
        rope_cache: torch.Tensor,
    ) -> torch.Tensor:
        """Decompressed: W_kvb expands the latent of the s prompt tokens, then causal SDPA. x [b, s, h]."""
        s = x.shape[1]
        q_nope, q_rope, c_kv, k_rope = self._project(x, cos, sin)
        latent_cache[:, :, :s].copy_(c_kv)
        rope_cache[:, :, :s].copy_(k_rope)
        return self.out(self.decompressed_attention(torch.cat([q_nope, q_rope], -1), c_kv, k_rope))

    def decompressed_attention(
        self, q: torch.Tensor, c_kv: torch.Tensor, k_rope: torch.Tensor
    ) -> torch.Tensor:
        """q [b, H, s, d_n + d_r]; c_kv [b, 1, s, r_kv]; k_rope [b, 1, s, d_r] -> [b, H, s, d_v]."""
        b, _, s, _ = c_kv.shape
        kv = (
            F.linear(c_kv.squeeze(1), self.w_kvb)
            .view(b, s, self.heads, self.d_n + self.d_v)
            .transpose(1, 2)
        )
        k = torch.cat([kv[..., : self.d_n], k_rope.expand(b, self.heads, s, self.d_r)], dim=-1)
        return F.scaled_dot_product_attention(
            q, k, kv[..., self.d_n :], is_causal=q.shape[2] > 1, scale=self.scale
        )

    def decode(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        latent_cache: torch.Tensor,
        rope_cache: torch.Tensor,
    ) -> torch.Tensor:
        """Absorbed: multi-query attention over the latent cache [b, 1, c, r_kv] and [b, 1, c, d_r]. x [b, 1, h]."""
        q_nope, q_rope, c_kv, k_rope = self._project(x, cos, sin)
        latent_cache[:, :, -1:].copy_(c_kv)
        rope_cache[:, :, -1:].copy_(k_rope)
        q_latent = self.absorb_query(q_nope)
        probs = torch.softmax(self.scores(q_latent, q_rope, latent_cache, rope_cache), dim=-1)
        return self.out(self.absorb_value(torch.matmul(probs, latent_cache)))

    def absorb_query(self, q_nope: torch.Tensor) -> torch.Tensor:
        """``attn.q_absorb``: q_nope [b, H, 1, d_n] @ W_UK [H, d_n, r_kv] -> [b, H, 1, r_kv]."""
        return torch.matmul(q_nope, self.w_uk)

    def scores(
        self,
        q_latent: torch.Tensor,
        q_rope: torch.Tensor,
        latent_cache: torch.Tensor,
        rope_cache: torch.Tensor,
    ) -> torch.Tensor:
        """``attn.scores``: one key head of width r_kv + d_r for every query head -> [b, H, 1, c]."""
        return (
            torch.matmul(q_latent, latent_cache.transpose(-1, -2))
            + torch.matmul(q_rope, rope_cache.transpose(-1, -2))
        ) * self.scale

    def absorb_value(self, context: torch.Tensor) -> torch.Tensor:
        """``attn.v_absorb``: context [b, H, 1, r_kv] @ W_UV [H, r_kv, d_v] -> [b, H, 1, d_v]."""
        return torch.matmul(context, self.w_uv)

    # --- per-op kernels ------------------------------------------------------------------------------------
    def op_kernels(
        self, phase: str, batch: int, length: int, dtype: torch.dtype, device: torch.device | str
    ) -> dict[str, Callable[[], torch.Tensor]]:
        """One callable per analytic MLA op (prefill: decompressed, flash; decode: absorbed, eager)."""
        s = length if phase == "prefill" else 1
        heads, r_q, r_kv, d_n, d_r, d_v = (
            self.heads,
            self.r_q,
            self.r_kv,
            self.d_n,
            self.d_r,
            self.d_v,
        )
        x = weights.random((batch, s, self.w_kva.shape[1]), dtype, device)
        q = weights.random((batch, heads, s, d_n + d_r), dtype, device)
        cos = torch.ones(d_r, dtype=dtype, device=device)
        sin = torch.zeros(d_r, dtype=dtype, device=device)
        kernels: dict[str, Callable[[], torch.Tensor]] = {}
        if r_q is None:
            kernels["attn.q"] = lambda: F.linear(x, self.w_q)
        else:
            q_a = F.linear(x, self.w_qa)
            kernels["attn.q_a"] = lambda: F.linear(x, self.w_qa)
            kernels["attn.q_a_norm"] = lambda: _rms(q_a, self.qa_norm)
            kernels["attn.q_b"] = lambda: F.linear(q_a, self.w_qb)
        kv_a = F.linear(x, self.w_kva)
        k_rope = weights.random((batch, 1, s, d_r), dtype, device)
        kernels["attn.kv_a"] = lambda: F.linear(x, self.w_kva)
        kernels["attn.kv_a_norm"] = lambda: _rms(kv_a[..., :r_kv], self.kva_norm)
        kernels["attn.rope"] = lambda: torch.cat(
            [_rope(q[..., d_n:], cos, sin).flatten(), _rope(k_rope, cos, sin).flatten()]
        )
        if phase == "prefill":
            c_kv = weights.random((batch, 1, s, r_kv), dtype, device)
            kv = (
                F.linear(c_kv.squeeze(1), self.w_kvb)
                .view(batch, s, heads, d_n + d_v)
                .transpose(1, 2)
            )
            k = torch.cat([kv[..., :d_n], k_rope.expand(batch, heads, s, d_r)], dim=-1)
            kernels["attn.kv_b"] = lambda: F.linear(c_kv.squeeze(1), self.w_kvb)
            kernels["attn.flash"] = lambda: F.scaled_dot_product_attention(
                q, k, kv[..., d_n:], is_causal=True, scale=self.scale
            )
            attn = weights.random((batch, heads, s, d_v), dtype, device)
        else:
            latent_cache = weights.random((batch, 1, length, r_kv), dtype, device)
            rope_cache = weights.random((batch, 1, length, d_r), dtype, device)
            q_latent = self.absorb_query(q[..., :d_n])
            scores = self.scores(q_latent, q[..., d_n:], latent_cache, rope_cache)
            probs = torch.softmax(scores, dim=-1)
            context = torch.matmul(probs, latent_cache)
            kernels["attn.q_absorb"] = lambda: self.absorb_query(q[..., :d_n])
            kernels["attn.scores"] = lambda: self.scores(
                q_latent, q[..., d_n:], latent_cache, rope_cache
            )
            kernels["attn.softmax"] = lambda: torch.softmax(scores, dim=-1)
            kernels["attn.context"] = lambda: torch.matmul(probs, latent_cache)
            kernels["attn.v_absorb"] = lambda: self.absorb_value(context)
            attn = weights.random((batch, heads, s, d_v), dtype, device)
        kernels["attn.o"] = lambda: self.out(attn)
        return kernels
