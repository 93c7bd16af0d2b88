"""The torch kernels at tiny shapes, checked numerically against plain references."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from llmroof.kernels import ceilings, weights
from llmroof.kernels.layers import (
    DecoderLayer,
    DecoderStack,
    apply_rope,
    decode_attention,
    prefill_attention,
    rope_tables,
)
from llmroof.kernels.ops import op_kernels
from llmroof.specs import get_model

TINY = dataclasses.replace(get_model("llama-3-8b"), name="tiny", hidden_size=64, num_layers=2, num_heads=8,
                           num_kv_heads=2, head_dim=16, intermediate_size=128, vocab_size=256)
FALCON_TINY = dataclasses.replace(get_model("falcon-7b"), name="tiny-falcon", hidden_size=64, num_layers=2,
                                  num_heads=4, num_kv_heads=1, head_dim=16, intermediate_size=256, vocab_size=256)
QWEN_TINY = dataclasses.replace(TINY, name="tiny-qwen", qkv_bias=True)
F32 = torch.float32


def full_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> torch.Tensor:
    """Reference: K/V repeated to every query head, scores materialised, masked, softmaxed."""
    group = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if causal:
        s_q, s_k = scores.shape[-2:]
        mask = torch.ones(s_q, s_k, dtype=torch.bool).tril(diagonal=s_k - s_q)
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def test_random_fill_is_cheap_and_deterministic() -> None:
    a = weights.random((3, 1000), F32, "cpu")
    b = weights.random((3, 1000), F32, "cpu")
    assert torch.equal(a, b)
    assert 0.01 < a.std().item() < 0.03
    big = weights.random((weights.POOL_ELEMENTS + 10,), F32, "cpu")
    assert torch.equal(big[-10:], big[:10])  # the pool is tiled


def test_decode_attention_equals_full_attention_over_the_cache() -> None:
    torch.manual_seed(0)
    q = torch.randn(3, 8, 1, 16)
    k, v = torch.randn(3, 2, 40, 16), torch.randn(3, 2, 40, 16)
    torch.testing.assert_close(decode_attention(q, k, v), full_attention(q, k, v, causal=False))


def test_prefill_attention_is_causal_gqa() -> None:
    torch.manual_seed(0)
    q = torch.randn(2, 8, 12, 16)
    k, v = torch.randn(2, 2, 12, 16), torch.randn(2, 2, 12, 16)
    torch.testing.assert_close(prefill_attention(q, k, v), full_attention(q, k, v, causal=True))


def test_rope_rotates_pairs_without_changing_norms() -> None:
    cos, sin = rope_tables(10, 16, F32, "cpu")
    x = torch.randn(1, 2, 10, 16)
    rotated = apply_rope(x, cos, sin)
    torch.testing.assert_close(rotated.norm(dim=-1), x.norm(dim=-1))
    torch.testing.assert_close(rotated[:, :, 0], x[:, :, 0])  # position 0 is not rotated


def unfused_layer(layer: DecoderLayer, x: torch.Tensor, positions: torch.Tensor, k_all: torch.Tensor,
                  v_all: torch.Tensor, s_q: int) -> torch.Tensor:
    """A plain, unfused layer: every op spelled out, attention with repeated K/V and an explicit mask."""
    spec = layer.spec
    h = x
    normed = (F.layer_norm(h, (h.shape[-1],), layer.attn_norm.weight, layer.attn_norm.bias)
              if spec.norm == "layernorm" else
              h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + 1e-5) * layer.attn_norm.weight)
    b = x.shape[0]
    q = (normed @ layer.wq.T + (layer.bq if layer.bq is not None else 0)).view(b, s_q, spec.num_heads, -1).transpose(1, 2)
    cos, sin = rope_tables(int(positions.max()) + 1, spec.head_dim, F32, "cpu")
    q = apply_rope(q, cos[positions], sin[positions])
    attn = full_attention(q, k_all, v_all, causal=True)
    out = attn.transpose(1, 2).reshape(b, s_q, -1) @ layer.wo.T
    if layer.mlp_norm is None:
        up = normed @ layer.w_up.T
        return x + out + F.gelu(up) @ layer.w_down.T
    h = x + out
    n2 = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + 1e-5) * layer.mlp_norm.weight
    act = F.silu(n2 @ layer.w_gate.T) * (n2 @ layer.w_up.T)
    return h + act @ layer.w_down.T


@pytest.mark.parametrize("spec", [TINY, FALCON_TINY, QWEN_TINY], ids=lambda s: s.name)
def test_layer_prefill_then_decode_match_an_unfused_layer(spec) -> None:
    torch.manual_seed(0)
    layer = DecoderLayer(spec, F32, "cpu")
    for w in (layer.wq, layer.wk, layer.wv, layer.wo, layer.w_up, layer.w_down):
        w.copy_(torch.randn_like(w) * 0.1)
    b, s, c = 2, 6, 7
    x = torch.randn(b, s, spec.hidden_size)
    k_cache = torch.zeros(b, spec.num_kv_heads, c, spec.head_dim)
    v_cache = torch.zeros_like(k_cache)
    cos, sin = rope_tables(c, spec.head_dim, F32, "cpu")
    out = layer.prefill(x, cos[:s], sin[:s], k_cache, v_cache)
    expected = unfused_layer(layer, x, torch.arange(s), k_cache[:, :, :s], v_cache[:, :, :s], s)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)
    # One decode step at position c - 1 = s: writes the last cache slot and attends over all c keys.
    new = torch.randn(b, 1, spec.hidden_size)
    step = layer.decode(new, cos[-1].view(1, 1, 1, -1), sin[-1].view(1, 1, 1, -1), k_cache, v_cache)
    expected_step = unfused_layer(layer, new, torch.tensor([c - 1]), k_cache, v_cache, 1)
    torch.testing.assert_close(step, expected_step, rtol=1e-4, atol=1e-4)
    # The cache holds exactly what a prefill of all c tokens would have written.
    k_ref = torch.zeros_like(k_cache)
    v_ref = torch.zeros_like(v_cache)
    layer.prefill(torch.cat([x, new], dim=1), cos, sin, k_ref, v_ref)
    torch.testing.assert_close(k_cache, k_ref, rtol=1e-5, atol=1e-5)


def test_stack_decode_matches_the_last_position_of_a_longer_prefill() -> None:
    torch.manual_seed(0)
    stack = DecoderStack(TINY, 2, F32, "cpu")
    tokens = torch.randint(0, TINY.vocab_size, (2, 9))
    full = stack.new_cache(2, 9)
    expected = stack.prefill(tokens, full)  # logits of position 8
    cache = stack.new_cache(2, 9)
    stack.prefill(tokens[:, :8], cache)
    logits = stack.decode(tokens[:, 8:], cache)
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-4)
    assert logits.shape == (2, TINY.vocab_size)


@pytest.mark.parametrize("phase", ["prefill", "decode"])
@pytest.mark.parametrize("spec", [TINY, FALCON_TINY], ids=lambda s: s.name)
def test_op_kernels_cover_the_analytic_ops(spec, phase) -> None:
    from llmroof.analytic import Workload, analyze
    from llmroof.specs import get_hardware

    stack = DecoderStack(spec, 1, F32, "cpu")
    kernels = op_kernels(stack, phase, batch=2, length=8)
    kernel = "flash" if phase == "prefill" else "eager"
    analysis = analyze(spec, get_hardware("h100"), Workload(batch=2, prompt_len=8, context_len=8,
                                                            attention_kernel=kernel))
    # The kernels run the eager op set (one kernel per op), which profile places them against beside the
    # fused bound, as _attach_analysis does.
    assert set(kernels) == {op.name for op in getattr(analysis.eager(), phase).ops}
    for fn in kernels.values():
        assert torch.isfinite(fn()).all()


def test_ceiling_probes_count_bytes_and_flops() -> None:
    read = ceilings.read_probe(4 * 2**20, "cpu")
    assert read.bytes == 4 * 2**20
    copy = ceilings.copy_probe(4 * 2**20, "cpu")
    assert copy.bytes == 8 * 2**20
    matmul = ceilings.compute_probe(64, F32, "cpu")
    assert matmul.flops == 2 * 64**3
    for probe in (read, copy, matmul):
        probe.fn()
    assert ceilings.bandwidth_buffer_bytes(32 * 2**20) == 256 * 2**20
    assert ceilings.bandwidth_buffer_bytes(128 * 2**20) == 512 * 2**20
