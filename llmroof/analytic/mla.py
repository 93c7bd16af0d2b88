"""Multi-head latent attention (DeepSeek-V2/V3): the latent KV cache, and the two ways to attend over it.

Shapes (per layer; H heads, H/tp of them per tensor-parallel rank): the query is W_qb norm(W_qa x) (or W_q x
without ``q_lora_rank``), H heads of d_n + d_r; W_kva x gives the latent c_kv (r_kv) and one rotary key k_r (d_r)
shared by every head. The cache keeps norm(c_kv) and RoPE(k_r): r_kv + d_r values per token per layer, on every
tensor-parallel rank (the latent has no head dimension to split). W_kvb maps c_kv to each head's k_nope (d_n)
and v (d_v).

- Decompressed (naive) form, used for prefill and optional at decode: W_kvb expands the cached latents of all
  s_k keys (at decode: every cached token, every step), then ordinary attention over heads of width d_n + d_r.
- Absorbed form, what vLLM and SGLang run at decode: W_UK (the k_nope half of W_kvb) is folded into the query
  (q_nope W_UK: H heads of r_kv), attention runs as multi-query attention over the cache itself
  (keys r_kv + d_r, values r_kv), and W_UV (the v half) is applied to each head's r_kv-wide output before W_o.
  It reads the r_kv + d_r cache once for all heads instead of expanding it.
"""

from __future__ import annotations

from typing import Any

from llmroof.analytic.opcost import ELEMENTWISE_FLOPS, OpCost, fused_gemm


def mla_ops(
    model: Any,
    shard: Any,
    precision: Any,
    shape: Any,
    count: int,
    *,
    attention_kernel: str = "eager",
    absorbed: bool = True,
    fused: bool = False,
    residual: bool = True,
) -> list[OpCost]:
    """The attention of one MLA layer on one rank, projections to output, in execution order. ``absorbed``
    applies to decode; prefill always decompresses (as serving engines do).

    ``fused``: the minimum-traffic kernels of :func:`~llmroof.analytic.ops.fused_layer_ops` (flash attention),
    the same FLOPs and weights: q_a's RMSNorm in its epilogue (q_a is replicated, its rows whole on every rank);
    RoPE on the query's d_r part in the epilogue of the projection that makes the query; kv_a's epilogue
    normalises c_kv, rotates k_r and writes both to the cache; attn.o adds the residual when ``residual``."""
    phase, b, s_q, s_k, t = shape.phase, shape.batch, shape.queries, shape.keys, shape.tokens
    h, hq = shard.hidden, shard.heads
    r_q, r_kv = model.q_lora_rank, model.kv_lora_rank
    d_n, d_r, d_v = model.qk_nope_head_dim, model.qk_rope_head_dim, model.v_head_dim
    w = precision.weight
    a_b, kv_b = precision.activation.bytes_per_element, precision.kv.bytes_per_element
    hi_b = precision.unquantized.bytes_per_element
    rms = ELEMENTWISE_FLOPS["rmsnorm"]

    def linear(
        name: str, rows: Any, k: int, n: int, bias: int = 0, *, kv_in: bool = False
    ) -> OpCost:
        """y[rows, n] = x[rows, k] @ W[k, n] (+ bias); ``kv_in``: x is read from the KV cache."""
        x_bytes = rows * k * (kv_b if kv_in else a_b)
        return OpCost(
            phase,
            name,
            2.0 * rows * k * n + rows * bias,
            w.nbytes(k * n) + bias * hi_b,
            0.0 if kv_in else x_bytes,
            rows * n * a_b,
            x_bytes if kv_in else 0.0,
            0.0,
            count,
        )

    q_width = hq * (d_n + d_r)
    bias = model.qkv_bias
    if fused:
        return _fused_mla_ops(
            model, shard, precision, shape, count, absorbed=absorbed, residual=residual
        )
    ops = []
    if r_q is None:
        ops.append(linear("attn.q", t, h, q_width))
    else:
        # q_a is replicated on every rank (it has no head dimension); q_b is split by heads.
        ops.append(linear("attn.q_a", t, h, r_q, r_q if bias else 0))
        ops.append(
            OpCost(
                phase,
                "attn.q_a_norm",
                (rms * t * r_q) * 1.0,
                r_q * hi_b,
                t * r_q * a_b,
                t * r_q * a_b,
                0.0,
                0.0,
                count,
            )
        )
        ops.append(linear("attn.q_b", t, r_q, q_width))
    ops.append(linear("attn.kv_a", t, h, r_kv + d_r, (r_kv + d_r) if bias else 0))
    # norm(c_kv) goes straight to the cache.
    ops.append(
        OpCost(
            phase,
            "attn.kv_a_norm",
            (rms * t * r_kv) * 1.0,
            r_kv * hi_b,
            t * r_kv * a_b,
            0.0,
            0.0,
            t * r_kv * kv_b,
            count,
        )
    )
    # RoPE on each head's d_r query part and on the shared k_r, which goes to the cache.
    positions = s_q if phase == "prefill" else b
    ops.append(
        OpCost(
            phase,
            "attn.rope",
            (ELEMENTWISE_FLOPS["rope"] * t * (hq + 1) * d_r) * 1.0,
            0.0,
            t * (hq + 1) * d_r * a_b + 2 * positions * d_r * a_b,
            t * hq * d_r * a_b,
            0.0,
            t * d_r * kv_b,
            count,
        )
    )
    if absorbed and phase == "decode":
        ops += _absorbed(
            phase, b, s_q, s_k, t, hq, r_kv, d_n, d_r, d_v, w, a_b, kv_b, count, attention_kernel
        )
    else:
        ops += _decompressed(
            phase, b, s_q, s_k, t, hq, r_kv, d_n, d_r, d_v, w, a_b, kv_b, count, attention_kernel
        )
    ops.append(
        OpCost(
            phase,
            "attn.o",
            2.0 * t * hq * d_v * h + (t * h if model.attn_out_bias else 0),
            w.nbytes(hq * d_v * h) + (h * hi_b if model.attn_out_bias else 0),
            t * hq * d_v * a_b,
            t * h * a_b,
            0.0,
            0.0,
            count,
        )
    )
    return ops


def _fused_mla_ops(
    model: Any,
    shard: Any,
    precision: Any,
    shape: Any,
    count: int,
    *,
    absorbed: bool,
    residual: bool,
) -> list[OpCost]:
    """See :func:`mla_ops` (``fused``)."""
    phase, b, s_q, s_k, t = shape.phase, shape.batch, shape.queries, shape.keys, shape.tokens
    h, hq = shard.hidden, shard.heads
    r_q, r_kv = model.q_lora_rank, model.kv_lora_rank
    d_n, d_r, d_v = model.qk_nope_head_dim, model.qk_rope_head_dim, model.v_head_dim
    w = precision.weight
    a_b, kv_b = precision.activation.bytes_per_element, precision.kv.bytes_per_element
    hi_b = precision.unquantized.bytes_per_element
    rms, rope = ELEMENTWISE_FLOPS["rmsnorm"], ELEMENTWISE_FLOPS["rope"]
    q_width = hq * (d_n + d_r)
    bias = model.qkv_bias
    q_rope = rope * t * hq * d_r
    if r_q is None:
        ops = [
            fused_gemm(
                phase,
                "attn.q",
                t,
                h,
                (q_width,),
                0,
                q_rope,
                w,
                a_b,
                hi_b,
                n_out=q_width,
                count=count,
            )
        ]
    else:
        ops = [
            fused_gemm(
                phase,
                "attn.q_a",
                t,
                h,
                (r_q,),
                r_q if bias else 0,
                rms * t * r_q,
                w,
                a_b,
                hi_b,
                n_out=r_q,
                count=count,
                extra_weight_bytes=r_q * hi_b,
            ),
            fused_gemm(
                phase,
                "attn.q_b",
                t,
                r_q,
                (q_width,),
                0,
                q_rope,
                w,
                a_b,
                hi_b,
                n_out=q_width,
                count=count,
            ),
        ]
    ops.append(
        fused_gemm(
            phase,
            "attn.kv_a",
            t,
            h,
            (r_kv + d_r,),
            (r_kv + d_r) if bias else 0,
            rms * t * r_kv + rope * t * d_r,
            w,
            a_b,
            hi_b,
            n_out=0,
            count=count,
            kv_out=r_kv + d_r,
            kv_b=kv_b,
            extra_weight_bytes=r_kv * hi_b,
        )
    )
    if absorbed and phase == "decode":
        ops += _absorbed(
            phase, b, s_q, s_k, t, hq, r_kv, d_n, d_r, d_v, w, a_b, kv_b, count, "flash"
        )
    else:
        ops += _decompressed(
            phase, b, s_q, s_k, t, hq, r_kv, d_n, d_r, d_v, w, a_b, kv_b, count, "flash"
        )
    x_bytes = t * h * a_b
    ops.append(
        fused_gemm(
            phase,
            "attn.o",
            t,
            hq * d_v,
            (h,),
            h if model.attn_out_bias else 0,
            ELEMENTWISE_FLOPS["add"] * t * h if residual else 0,
            w,
            a_b,
            hi_b,
            residual_bytes=x_bytes if residual else 0.0,
            n_out=h,
            count=count,
        )
    )
    return ops


def _pairs(phase: str, b: Any, hq: int, s_q: Any, s_k: Any) -> Any:
    """Query-key pairs a fused kernel visits: causal s(s+1)/2 per head in prefill, all c keys at decode."""
    return b * hq * (s_q * (s_q + 1) // 2 if phase == "prefill" else s_q * s_k)


def _core(
    phase: str,
    b: Any,
    s_q: Any,
    s_k: Any,
    t: Any,
    hq: int,
    qk: int,
    v: int,
    count: int,
    kernel: str,
    *,
    q_bytes: Any,
    k_act: Any,
    k_cache: Any,
    v_act: Any,
    v_cache: Any,
    out_bytes: Any,
    a_b: float,
) -> list[OpCost]:
    """Scores (width qk), softmax and context (width v): eager as three ops, flash as one."""
    if kernel == "flash":
        pairs = _pairs(phase, b, hq, s_q, s_k)
        return [
            OpCost(
                phase,
                "attn.flash",
                ((2 * qk + 2 * v + ELEMENTWISE_FLOPS["softmax"]) * pairs) * 1.0,
                0.0,
                q_bytes + k_act + v_act,
                out_bytes,
                k_cache + v_cache,
                0.0,
                count,
            )
        ]
    scores = b * hq * s_q * s_k
    return [
        OpCost(
            phase,
            "attn.scores",
            2.0 * scores * qk,
            0.0,
            q_bytes + k_act,
            scores * a_b,
            k_cache,
            0.0,
            count,
        ),
        OpCost(
            phase,
            "attn.softmax",
            (ELEMENTWISE_FLOPS["softmax"] * scores) * 1.0,
            0.0,
            scores * a_b,
            scores * a_b,
            0.0,
            0.0,
            count,
        ),
        OpCost(
            phase,
            "attn.context",
            2.0 * scores * v,
            0.0,
            scores * a_b + v_act,
            out_bytes,
            v_cache,
            0.0,
            count,
        ),
    ]


def _decompressed(
    phase: str,
    b: Any,
    s_q: Any,
    s_k: Any,
    t: Any,
    hq: int,
    r_kv: int,
    d_n: int,
    d_r: int,
    d_v: int,
    w: Any,
    a_b: float,
    kv_b: float,
    count: int,
    kernel: str,
) -> list[OpCost]:
    keys = b * s_k  # every key's latent is expanded (at decode: the whole cache, every step)
    expand = OpCost(
        phase,
        "attn.kv_b",
        2.0 * keys * r_kv * hq * (d_n + d_v),
        w.nbytes(r_kv * hq * (d_n + d_v)),
        0.0,
        keys * hq * (d_n + d_v) * a_b,
        keys * r_kv * kv_b,
        0.0,
        count,
    )
    return [
        expand,
        *_core(
            phase,
            b,
            s_q,
            s_k,
            t,
            hq,
            d_n + d_r,
            d_v,
            count,
            kernel,
            q_bytes=t * hq * (d_n + d_r) * a_b,
            k_act=keys * hq * d_n * a_b,
            k_cache=keys * d_r * kv_b,
            v_act=keys * hq * d_v * a_b,
            v_cache=0.0,
            out_bytes=t * hq * d_v * a_b,
            a_b=a_b,
        ),
    ]


def _absorbed(
    phase: str,
    b: Any,
    s_q: Any,
    s_k: Any,
    t: Any,
    hq: int,
    r_kv: int,
    d_n: int,
    d_r: int,
    d_v: int,
    w: Any,
    a_b: float,
    kv_b: float,
    count: int,
    kernel: str,
) -> list[OpCost]:
    keys = b * s_k
    # q_nope[t, hq, d_n] @ W_UK[hq, d_n, r_kv]: the query in latent space.
    q_absorb = OpCost(
        phase,
        "attn.q_absorb",
        2.0 * t * hq * d_n * r_kv,
        w.nbytes(hq * d_n * r_kv),
        t * hq * d_n * a_b,
        t * hq * r_kv * a_b,
        0.0,
        0.0,
        count,
    )
    # out[t, hq, r_kv] @ W_UV[hq, r_kv, d_v]
    v_absorb = OpCost(
        phase,
        "attn.v_absorb",
        2.0 * t * hq * r_kv * d_v,
        w.nbytes(hq * r_kv * d_v),
        t * hq * r_kv * a_b,
        t * hq * d_v * a_b,
        0.0,
        0.0,
        count,
    )
    # Multi-query attention over the cache: keys [c_kv, k_r] (r_kv + d_r), values c_kv (r_kv), one head for all.
    # Fused: the cache is read once; eager: scores read all of it, the context its c_kv part again.
    flash = kernel == "flash"
    core = _core(
        phase,
        b,
        s_q,
        s_k,
        t,
        hq,
        r_kv + d_r,
        r_kv,
        count,
        kernel,
        q_bytes=t * hq * (r_kv + d_r) * a_b,
        k_act=0.0,
        k_cache=keys * (r_kv + d_r) * kv_b,
        v_act=0.0,
        v_cache=0.0 if flash else keys * r_kv * kv_b,
        out_bytes=t * hq * r_kv * a_b,
        a_b=a_b,
    )
    return [q_absorb, *core, v_absorb]
