"""FLOPs and bytes of every op of a decoder forward pass, one tensor-parallel rank at a time.

Two op sets of the same FLOPs (``docs/analytic-model.md`` has the full derivation):

- :func:`fused_layer_ops`, the headline bound: minimum traffic. Every element-wise op runs inside a
  neighbouring kernel, attention is flash-style, so each weight is read once, the KV cache read once and
  written once, and an activation reaches memory only between fused groups;
- :func:`layer_ops`, the eager set: every op reads its inputs from and writes its outputs to device memory
  (no fusion across ops, except the one ``attn.flash`` op, which reads Q, K, V and writes the output once),
  as llmroof's torch kernels (``kernels/ops.py``, whose op names these are) run them.

Conventions of both:

- a multiply-add is 2 FLOPs; elementwise ops use fixed per-element counts (:data:`ELEMENTWISE_FLOPS`);
- the KV cache is written by ``attn.qkv``'s epilogue (fused set) or by ``attn.rope`` (rotated K) and ``attn.v``
  (V) (eager set), and read by the attention ops;
- with GQA each K/V head is read once for the ``H/kv`` query heads it serves;
- ops that only some layers run (windowed attention, a dense MLP beside MoE layers, the MoE block) get their
  layers' share of the instance count; MoE, MLA and windowed attention have one builder each
  (:mod:`llmroof.analytic.moe`, :mod:`llmroof.analytic.mla`, :func:`_attention_core`) that both sets call, with a
  ``fused`` flag where the op boundaries differ.

The formulas are array-polymorphic: called with numpy arrays for the batch, queries, keys and logits tokens of
:class:`PassShape`, every shape-dependent field is an array of the same values the scalar call gives, bit for bit
(no ``float``/``min``/``max``/``if`` on a shape-dependent value: :mod:`llmroof.analytic.arith` instead).

Shapes below use b (sequences), t (tokens this pass: b*s in prefill, b in decode), s_q (queries per
sequence), s_k (keys per sequence), h, d, and the per-rank widths of :class:`~llmroof.analytic.sharding.Shard`.
"""

from __future__ import annotations

from typing import Any

from llmroof.analytic.arith import minimum, to_float, where
from llmroof.analytic.opcost import ELEMENTWISE_FLOPS, OpCost, PassShape, fused_gemm
from llmroof.analytic.sharding import Shard
from llmroof.specs.dtypes import Precision
from llmroof.specs.model import ModelSpec


def layer_ops(
    model: ModelSpec,
    shard: Shard,
    precision: Precision,
    shape: PassShape,
    count: int,
    *,
    attention_kernel: str = "eager",
    fused_qkv: bool = False,
    routing: Any = None,
    mla_absorbed: bool = True,
    all_experts: bool = False,
) -> list[OpCost]:
    """The ops of the decoder layers on one rank, in execution order; ``count`` instances over all the model's
    layers. Ops that only some layers run (windowed attention, a dense MLP beside MoE layers, the MoE block) get
    their layers' share of ``count``; see :mod:`llmroof.analytic.moe` for ``routing`` and
    ``all_experts``, :mod:`llmroof.analytic.mla` for ``mla_absorbed``."""
    phase, t = shape.phase, shape.tokens
    h, i = shard.hidden, shard.intermediate
    layers = model.num_layers
    w = precision.weight
    a_b = precision.activation.bytes_per_element
    hi_b = precision.unquantized.bytes_per_element
    norm_weights = h * (2 if model.norm == "layernorm" else 1)
    norm_flops = ELEMENTWISE_FLOPS[model.norm]

    def norm(name: str) -> OpCost:
        return OpCost(
            phase,
            name,
            to_float(norm_flops * t * h),
            norm_weights * hi_b,
            t * h * a_b,
            t * h * a_b,
            0.0,
            0.0,
            count,
        )

    def linear(
        name: str, k: int, n: int, bias: bool, *, out_bias: int = 0, n_count: int = count
    ) -> OpCost:
        """y[t, n] = x[t, k] @ W[k, n] (+ bias[n]); ``out_bias``: a replicated row-parallel bias of that width."""
        bias_elems = (n if bias else 0) + out_bias
        return OpCost(
            phase,
            name,
            2.0 * t * k * n + t * bias_elems,
            w.nbytes(k * n) + bias_elems * hi_b,
            t * k * a_b,
            t * n * a_b,
            0.0,
            0.0,
            n_count,
        )

    def residual(name: str) -> OpCost:
        return OpCost(
            phase, name, to_float(t * h), 0.0, 2.0 * t * h * a_b, t * h * a_b, 0.0, 0.0, count
        )

    ops = [norm("attn.norm")]
    if model.is_mla:
        from llmroof.analytic.mla import mla_ops

        ops += mla_ops(
            model,
            shard,
            precision,
            shape,
            count,
            attention_kernel=attention_kernel,
            absorbed=mla_absorbed,
        )
    else:
        ops += _attention_ops(model, shard, precision, shape, count, attention_kernel, fused_qkv)
    if model.sandwich_norms:
        ops.append(norm("attn.post_norm"))
    ops.append(residual("attn.residual"))
    if not model.parallel_attention:
        ops.append(norm("mlp.norm"))
    dense = layers - model.moe_layers
    if dense:
        n = count * dense // layers
        if model.gated_mlp:
            ops.append(linear("mlp.gate", h, i, model.mlp_bias, n_count=n))
        ops.append(linear("mlp.up", h, i, model.mlp_bias, n_count=n))
        act_flops = ELEMENTWISE_FLOPS[model.activation] + (
            ELEMENTWISE_FLOPS["mul"] if model.gated_mlp else 0
        )
        inputs = 2 if model.gated_mlp else 1
        ops.append(
            OpCost(
                phase,
                "mlp.act",
                to_float(act_flops * t * i),
                0.0,
                inputs * t * i * a_b,
                t * i * a_b,
                0.0,
                0.0,
                n,
            )
        )
        # Row-parallel biases (o, down) are whole on every rank, added once after the all-reduce.
        ops.append(linear("mlp.down", i, h, False, out_bias=h if model.mlp_bias else 0, n_count=n))
    if model.moe_layers:
        from llmroof.analytic.moe import UNIFORM, moe_ops

        ops += moe_ops(
            model,
            shard,
            precision,
            phase,
            t,
            count * model.moe_layers // layers,
            routing=routing or UNIFORM,
            all_experts=all_experts,
        )
    if model.sandwich_norms:
        ops.append(norm("mlp.post_norm"))
    ops.append(residual("mlp.residual"))
    return ops


def fused_layer_ops(
    model: ModelSpec,
    shard: Shard,
    precision: Precision,
    shape: PassShape,
    count: int,
    *,
    routing: Any = None,
    mla_absorbed: bool = True,
) -> list[OpCost]:
    """The ops of the decoder layers on one rank at minimum traffic, in execution order (``count`` instances
    over all the model's layers, shared out as in :func:`layer_ops`).

    Kernels end at the norms, the matrix products and the attention; every element-wise op runs inside one
    of them: RoPE (and Qwen3's per-head q/k norms) in the QKV epilogue, which writes K and V straight into the
    cache (cos/sin computed from the position, not read); the activation (SiLU * mul, or GELU) in the gate/up
    epilogue; each residual add in the epilogue of the projection that ends its block (attn.o, mlp.down,
    moe.down or moe.shared.down), or, with sandwich norms (Gemma 2), in the post-norm kernel that reads the
    block's output. MoE: softmax and top-k in the router's epilogue, the weighted combine in moe.down's; MLA:
    the latent norms and RoPE in the epilogues of the projections that produce them. The FLOPs equal the eager
    ops' with flash attention; only activations that pass between these kernels reach memory, once each.
    """
    phase, t = shape.phase, shape.tokens
    h, i = shard.hidden, shard.intermediate
    layers = model.num_layers
    w = precision.weight
    a_b, hi_b = precision.activation.bytes_per_element, precision.unquantized.bytes_per_element
    x_bytes = t * h * a_b  # one [t, h] activation: the residual stream or a norm's output
    norm_weights = h * (2 if model.norm == "layernorm" else 1) * hi_b
    norm_flops = ELEMENTWISE_FLOPS[model.norm]
    residual = (
        not model.sandwich_norms
    )  # with sandwich norms the post-norm kernel adds the residual

    def norm(name: str) -> OpCost:
        return OpCost(
            phase,
            name,
            to_float(norm_flops * t * h),
            norm_weights,
            x_bytes,
            x_bytes,
            0.0,
            0.0,
            count,
        )

    def post_norm(name: str) -> OpCost:
        """norm(block output) + residual: reads both, writes the new residual stream."""
        return OpCost(
            phase,
            name,
            to_float((norm_flops + ELEMENTWISE_FLOPS["add"]) * t * h),
            norm_weights,
            2 * x_bytes,
            x_bytes,
            0.0,
            0.0,
            count,
        )

    ops = [norm("attn.norm")]
    if model.is_mla:
        from llmroof.analytic.mla import mla_ops

        ops += mla_ops(
            model,
            shard,
            precision,
            shape,
            count,
            attention_kernel="flash",
            absorbed=mla_absorbed,
            fused=True,
            residual=residual,
        )
    else:
        ops += _attention_ops(
            model, shard, precision, shape, count, "flash", False, fused=True, residual=residual
        )
    if model.sandwich_norms:
        ops.append(post_norm("attn.post_norm"))
    if not model.parallel_attention:
        ops.append(norm("mlp.norm"))
    dense = layers - model.moe_layers
    if dense:
        n = count * dense // layers
        act_flops = (
            (
                ELEMENTWISE_FLOPS[model.activation]
                + (ELEMENTWISE_FLOPS["mul"] if model.gated_mlp else 0)
            )
            * t
            * i
        )
        widths = (i, i) if model.gated_mlp else (i,)
        ops.append(
            fused_gemm(
                phase,
                "mlp.gate_up" if model.gated_mlp else "mlp.up",
                t,
                h,
                widths,
                sum(widths) if model.mlp_bias else 0,
                act_flops,
                w,
                a_b,
                hi_b,
                n_out=i,
                count=n,
            )
        )
        ops.append(
            fused_gemm(
                phase,
                "mlp.down",
                t,
                i,
                (h,),
                h if model.mlp_bias else 0,
                ELEMENTWISE_FLOPS["add"] * t * h if residual else 0,
                w,
                a_b,
                hi_b,
                residual_bytes=x_bytes if residual else 0.0,
                n_out=h,
                count=n,
            )
        )
    if model.moe_layers:
        from llmroof.analytic.moe import UNIFORM, moe_ops

        ops += moe_ops(
            model,
            shard,
            precision,
            phase,
            t,
            count * model.moe_layers // layers,
            routing=routing or UNIFORM,
            fused=True,
            residual=residual,
        )
    if model.sandwich_norms:
        ops.append(post_norm("mlp.post_norm"))
    return ops


def _attention_ops(
    model: ModelSpec,
    shard: Shard,
    precision: Precision,
    shape: PassShape,
    count: int,
    attention_kernel: str,
    fused_qkv: bool,
    *,
    fused: bool = False,
    residual: bool = True,
) -> list[OpCost]:
    """Projections, RoPE, attention and output projection of a (GQA/MQA/MHA) layer; windowed layers attend over
    at most ``sliding_window`` keys (their own op names, ``attn.window.*``). ``fused``: the minimum-traffic
    kernels of :func:`fused_layer_ops` (one QKV GEMM with RoPE and q/k norms in its epilogue, flash attention, the
    output projection adding the residual when ``residual``)."""
    phase, b, s_q, s_k = shape.phase, shape.batch, shape.queries, shape.keys
    t = shape.tokens
    h, d, hq = shard.hidden, shard.head_dim, shard.heads
    q_dim, kv_dim = shard.q_dim, shard.kv_dim
    w = precision.weight
    a_b = precision.activation.bytes_per_element
    kv_b = precision.kv.bytes_per_element
    hi_b = precision.unquantized.bytes_per_element

    def linear(
        name: str, k: int, n: int, bias: bool, *, out_bias: int = 0, kv_out: int = 0
    ) -> OpCost:
        """y[t, n] = x[t, k] @ W[k, n] (+ bias[n]); the output goes to activations, or (``kv_out`` columns of
        it) to the KV cache."""
        bias_elems = (n if bias else 0) + out_bias
        return OpCost(
            phase,
            name,
            2.0 * t * k * n + t * bias_elems,
            w.nbytes(k * n) + bias_elems * hi_b,
            t * k * a_b,
            t * (n - kv_out) * a_b,
            0.0,
            t * kv_out * kv_b,
            count,
        )

    if fused:
        epilogue = ELEMENTWISE_FLOPS["rope"] * t * (q_dim + kv_dim)
        if model.qk_norm:
            epilogue = epilogue + ELEMENTWISE_FLOPS["rmsnorm"] * t * (q_dim + kv_dim)
        ops = [
            fused_gemm(
                phase,
                "attn.qkv",
                t,
                h,
                (q_dim, kv_dim, kv_dim),
                q_dim + 2 * kv_dim if model.qkv_bias else 0,
                epilogue,
                w,
                a_b,
                hi_b,
                n_out=q_dim,
                count=count,
                kv_out=2 * kv_dim,
                kv_b=kv_b,
                extra_weight_bytes=2 * d * hi_b if model.qk_norm else 0.0,
            )
        ]
        ops += _attention_cores(
            model, phase, b, s_q, s_k, hq, d, kv_dim, a_b, kv_b, "flash", count, hi_b
        )
        x_bytes = t * h * a_b
        ops.append(
            fused_gemm(
                phase,
                "attn.o",
                t,
                q_dim,
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
    # Projections. K leaves attn.k as an activation (RoPE rotates it into the cache); V goes straight to the cache.
    if fused_qkv:
        ops = [linear("attn.qkv", h, q_dim + 2 * kv_dim, model.qkv_bias, kv_out=kv_dim)]
    else:
        ops = [
            linear("attn.q", h, q_dim, model.qkv_bias),
            linear("attn.k", h, kv_dim, model.qkv_bias),
            linear("attn.v", h, kv_dim, model.qkv_bias, kv_out=kv_dim),
        ]
    if model.qk_norm:  # RMSNorm over each head of q and k (Qwen3): weights d each
        ops.append(
            OpCost(
                phase,
                "attn.qk_norm",
                to_float(ELEMENTWISE_FLOPS["rmsnorm"] * t * (q_dim + kv_dim)),
                2 * d * hi_b,
                t * (q_dim + kv_dim) * a_b,
                t * (q_dim + kv_dim) * a_b,
                0.0,
                0.0,
                count,
            )
        )
    # RoPE on q and k; cos/sin tables: one row of d per position (s positions in prefill, one per sequence in decode).
    positions = s_q if phase == "prefill" else b
    ops.append(
        OpCost(
            phase,
            "attn.rope",
            to_float(ELEMENTWISE_FLOPS["rope"] * t * (q_dim + kv_dim)),
            0.0,
            t * (q_dim + kv_dim) * a_b + 2 * positions * d * a_b,
            t * q_dim * a_b,
            0.0,
            t * kv_dim * kv_b,
            count,
        )
    )
    ops += _attention_cores(
        model, phase, b, s_q, s_k, hq, d, kv_dim, a_b, kv_b, attention_kernel, count, hi_b
    )
    # Row-parallel biases (o, down) are whole on every rank, added once after the all-reduce.
    ops.append(linear("attn.o", q_dim, h, False, out_bias=h if model.attn_out_bias else 0))
    return ops


def _attention_cores(
    model: ModelSpec,
    phase: str,
    b: Any,
    s_q: Any,
    s_k: Any,
    hq: int,
    d: int,
    kv_dim: int,
    a_b: float,
    kv_b: float,
    kernel: str,
    count: int,
    hi_b: float,
) -> list[OpCost]:
    """The attention of the full layers (``attn.*``) and of the windowed ones (``attn.window.*``), each with
    its layers' share of ``count``."""
    windowed = model.window_layers
    sinks = (
        hq * hi_b if model.attention_sinks else 0.0
    )  # gpt-oss: one sink logit per head joins the softmax
    ops = []
    if windowed < model.num_layers:
        ops += _attention_core(
            "attn",
            phase,
            b,
            s_q,
            s_k,
            None,
            hq,
            d,
            kv_dim,
            a_b,
            kv_b,
            kernel,
            count * (model.num_layers - windowed) // model.num_layers,
            sinks,
        )
    if windowed:
        ops += _attention_core(
            "attn.window",
            phase,
            b,
            s_q,
            s_k,
            model.sliding_window,
            hq,
            d,
            kv_dim,
            a_b,
            kv_b,
            kernel,
            count * windowed // model.num_layers,
            sinks,
        )
    return ops


def _attention_core(
    prefix: str,
    phase: str,
    b: Any,
    s_q: Any,
    s_k: Any,
    window: int | None,
    hq: int,
    d: int,
    kv_dim: int,
    a_b: float,
    kv_b: float,
    kernel: str,
    count: int,
    sink_bytes: float = 0.0,
) -> list[OpCost]:
    """QK^T, softmax and PV (or one fused op) over s_k keys, or over the last ``window`` of them; ``sink_bytes``:
    the sink logits the softmax reads (gpt-oss; their one extra score per query and head is not counted).

    A windowed decode step keeps and reads min(c, W) keys. A windowed prefill visits, per query i (1-based),
    min(i, W) keys in a fused kernel: s(s+1)/2 pairs when s <= W, W(W+1)/2 + (s - W) W beyond; the eager form
    computes all s x s scores and masks, as for full attention.
    """
    if window is not None and phase == "decode":
        s_k = minimum(s_k, window)
    q_bytes = b * s_q * hq * d * a_b  # Q: [b, H/tp, s_q, d]
    k_bytes = b * s_k * kv_dim * kv_b  # K (and V) cache: [b, kv/tp, s_k, d], each KV head read once
    if kernel == "flash":
        if phase == "prefill":
            causal = s_q * (s_q + 1) // 2
            if window is not None:
                causal = where(
                    s_q <= window, causal, window * (window + 1) // 2 + (s_q - window) * window
                )
            pairs = b * hq * causal
        else:
            pairs = b * hq * s_q * s_k
        return [
            OpCost(
                phase,
                f"{prefix}.flash",
                (4 * d + ELEMENTWISE_FLOPS["softmax"]) * pairs * 1.0,
                sink_bytes,
                q_bytes,
                q_bytes,
                2 * k_bytes,
                0.0,
                count,
            )
        ]
    scores = b * hq * s_q * s_k  # [b, H/tp, s_q, s_k], computed in full then masked
    return [
        OpCost(
            phase,
            f"{prefix}.scores",
            2.0 * scores * d,
            0.0,
            q_bytes,
            scores * a_b,
            k_bytes,
            0.0,
            count,
        ),
        OpCost(
            phase,
            f"{prefix}.softmax",
            ELEMENTWISE_FLOPS["softmax"] * scores * 1.0,
            sink_bytes,
            scores * a_b,
            scores * a_b,
            0.0,
            0.0,
            count,
        ),
        OpCost(
            phase,
            f"{prefix}.context",
            2.0 * scores * d,
            0.0,
            scores * a_b,
            q_bytes,
            k_bytes,
            0.0,
            count,
        ),
    ]


def embed_op(shard: Shard, precision: Precision, shape: PassShape, count: int) -> OpCost:
    """Embedding lookup: reads only the looked-up rows (on average 1/tp of them per rank, vocab-parallel)."""
    t, h = shape.tokens, shard.hidden
    return OpCost(
        shape.phase,
        "embed",
        0.0,
        t * h * precision.unquantized.bytes_per_element / shard.tp,
        0.0,
        t * h * precision.activation.bytes_per_element,
        0.0,
        0.0,
        count,
    )


def head_ops(
    model: ModelSpec, shard: Shard, precision: Precision, shape: PassShape, count: int
) -> list[OpCost]:
    """Final norm over every token, then lm_head (vocab-parallel) for the positions whose logits are wanted."""
    t, h, v = shape.tokens, shard.hidden, shard.vocab
    a_b, hi_b = precision.activation.bytes_per_element, precision.unquantized.bytes_per_element
    norm_weights = h * (2 if model.norm == "layernorm" else 1)
    final_norm = OpCost(
        shape.phase,
        "final_norm",
        to_float(ELEMENTWISE_FLOPS[model.norm] * t * h),
        norm_weights * hi_b,
        t * h * a_b,
        t * h * a_b,
        0.0,
        0.0,
        count,
    )
    n = shape.logits_tokens
    lm_head = OpCost(
        shape.phase,
        "lm_head",
        2.0 * n * h * v,
        v * h * hi_b,
        n * h * a_b,
        n * v * a_b,
        0.0,
        0.0,
        count,
    )
    return [final_norm, lm_head]
