"""The fused (headline, minimum-traffic) op set of MoE, MLA and windowed models: the same FLOPs, weights and KV
traffic as the eager set with flash attention, less activation traffic; a few fused kernels by hand."""

from __future__ import annotations

import pytest

from llmroof.analytic import Workload, analyze
from llmroof.analytic.moe import expected_experts
from llmroof.specs import get_hardware, get_model
from llmroof.specs.model import MODEL_PRESETS

H200 = get_hardware("h200")
SPECIAL = [name for name, m in MODEL_PRESETS.items() if m.is_moe or m.is_mla or m.window_layers or m.sandwich_norms
           or m.qk_norm or m.attention_sinks]
LAYOUTS = {"one": {"batch": 4}, "tp2": {"batch": 4, "tp": 2}, "pp2": {"batch": 8, "pp": 2, "micro_batches": 2},
           "ep4": {"batch": 8, "ep": 4}, "naive-mla": {"batch": 4, "mla_absorbed": False}}


def test_the_special_presets_are_covered() -> None:
    kinds = [MODEL_PRESETS[n] for n in SPECIAL]
    assert any(m.is_moe for m in kinds) and any(m.is_mla for m in kinds) and any(m.window_layers for m in kinds)
    assert any(m.num_shared_experts for m in kinds) and any(m.sandwich_norms for m in kinds)


@pytest.mark.parametrize("layout", LAYOUTS, ids=LAYOUTS)
@pytest.mark.parametrize("name", SPECIAL)
def test_fused_and_eager_agree_but_for_activation_traffic(name, layout) -> None:
    model, kw = MODEL_PRESETS[name], LAYOUTS[layout]
    if ("ep" in kw and not model.is_moe) or ("mla_absorbed" in kw and not model.is_mla):
        pytest.skip("the layout does not apply")
    base = {"prompt_len": 300, "context_len": 5000, **kw}
    fused = analyze(model, H200, Workload(**base))
    eager = analyze(model, H200, Workload(**base, implementation="eager", attention_kernel="flash"))
    assert fused.eager().decode.totals == analyze(model, H200, Workload(**base, implementation="eager")).decode.totals
    for phase in ("prefill", "decode"):
        f, e = getattr(fused, phase).totals, getattr(eager, phase).totals
        for key in ("flops", "weight_bytes", "kv_read_bytes", "kv_write_bytes"):
            assert getattr(f, key) == pytest.approx(getattr(e, key), rel=1e-12), (phase, key)
        assert f.act_read_bytes + f.act_write_bytes < e.act_read_bytes + e.act_write_bytes
    assert fused.stage_weight_bytes == eager.stage_weight_bytes and fused.max_batch() == eager.max_batch()


def ops_by_name(phase):
    return {op.name: op for op in phase.ops}


def test_fused_moe_decode_of_mixtral_by_hand() -> None:
    """Mixtral 8x7B, b = 8 decode in bf16: router with top-k, one grouped gate/up GEMM over the touched experts,
    down with the weighted combine and the residual."""
    b, h, w, e, k = 8, 4096, 14336, 8, 2
    ops = ops_by_name(analyze(get_model("mixtral-8x7b"), H200, Workload(batch=b, context_len=512)).decode)
    assert {"moe.topk", "moe.act", "moe.combine", "mlp.residual", "attn.residual"}.isdisjoint(ops)
    touched = expected_experts(e, k, b)
    assert ops["moe.router"].flops == 2 * b * h * e + 5 * b * e
    assert ops["moe.router"].act_write_bytes == b * k * (2 + 4)
    assert ops["moe.gate_up"].weight_bytes == pytest.approx(touched * 2 * h * w * 2)
    assert ops["moe.gate_up"].flops == 2 * b * k * h * 2 * w + 6 * b * k * w
    assert ops["moe.gate_up"].act_read_bytes == b * k * h * 2 and ops["moe.gate_up"].act_write_bytes == b * k * w * 2
    down = ops["moe.down"]
    assert down.flops == 2 * b * k * w * h + 2 * b * k * h + b * h
    assert down.act_read_bytes == b * k * w * 2 + b * k * 2 + b * h * 2  # rows, routing weights, residual
    assert down.act_write_bytes == b * h * 2
    assert down.count == 32


def test_fused_shared_experts_add_the_routed_output_and_the_residual() -> None:
    """DeepSeek-V3 prefill: the shared experts' down GEMM reads the routed output and the residual and writes the
    layer's output; the dense MLP of the first three layers adds its own residual."""
    b, s, h, ws = 1, 16, 7168, 2048
    t = b * s
    ops = ops_by_name(analyze(get_model("deepseek-v3"), H200, Workload(batch=b, prompt_len=s)).prefill)
    shared = ops["moe.shared.down"]
    assert shared.count == 58 and ops["mlp.down"].count == 3
    assert shared.flops == 2 * t * ws * h + 2 * t * h
    assert shared.act_read_bytes == t * ws * 2 + 2 * t * h * 2
    assert ops["moe.down"].act_write_bytes == t * h * 2 and ops["moe.down"].flops == 2 * t * 8 * (2048 + 1) * h


def test_fused_mla_writes_the_latent_cache_from_the_kv_a_epilogue() -> None:
    """DeepSeek-V3 absorbed decode: kv_a normalises c_kv, rotates k_r and writes r_kv + d_r = 576 values per token
    to the cache (70,272 B per token over 61 layers in bf16... here one layer: 1,152 B); attention reads them."""
    b, c = 2, 4096
    ops = ops_by_name(analyze(get_model("deepseek-v3"), H200, Workload(batch=b, context_len=c)).decode)
    assert {"attn.kv_a_norm", "attn.q_a_norm", "attn.rope"}.isdisjoint(ops)
    assert ops["attn.kv_a"].kv_write_bytes == b * 576 * 2 and ops["attn.kv_a"].act_write_bytes == 0
    assert ops["attn.kv_a"].flops == 2 * b * 7168 * 576 + 4 * b * 512 + 3 * b * 64
    assert ops["attn.flash"].kv_read_bytes == b * c * 576 * 2
    assert ops["attn.q_b"].flops == 2 * b * 1536 * 128 * 192 + 3 * b * 128 * 64
    assert "attn.q_absorb" in ops and "attn.v_absorb" in ops


def test_fused_window_decode_reads_the_window() -> None:
    """Gemma 2: half the layers windowed at 4096; a decode at c = 16384 reads min(c, W) keys there; the sandwich
    post-norms add the residual (no residual in the projections' epilogues)."""
    model = get_model("gemma-2-9b")
    ops = ops_by_name(analyze(model, H200, Workload(batch=1, context_len=16384)).decode)
    kv_dim = model.num_kv_heads * model.head_dim
    assert ops["attn.window.flash"].kv_read_bytes == 2 * 4096 * kv_dim * 2
    assert ops["attn.flash"].kv_read_bytes == 2 * 16384 * kv_dim * 2
    assert ops["attn.flash"].count == ops["attn.window.flash"].count == 21
    h = model.hidden_size
    assert ops["attn.o"].act_read_bytes == model.q_dim * 2  # no residual read
    assert ops["attn.post_norm"].act_read_bytes == 2 * h * 2 and ops["attn.post_norm"].flops == 5 * h
