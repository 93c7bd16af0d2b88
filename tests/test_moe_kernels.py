"""Windowed attention, mixture-of-experts and latent-attention layers in the torch kernels: a windowed layer attends
over the last W tokens, a MoE layer loops over its touched experts, an MLA layer decodes with absorbed weights
over its latent cache; all under the analytic op names."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from llmroof.kernels.layers import DecoderStack, prefill_attention
from llmroof.kernels.ops import op_kernels
from cli_runner import run_cli
from llmroof.specs import get_model
from llmroof.specs.model import alternating_layers

WINDOWED = dataclasses.replace(get_model("llama-3-8b"), name="tiny-windowed", hidden_size=64, num_layers=2,
                               num_heads=8, num_kv_heads=2, head_dim=16, intermediate_size=128, vocab_size=256,
                               sliding_window=4, layer_types=alternating_layers(2))
F32 = torch.float32


def test_band_mask_limits_each_query_to_the_window() -> None:
    torch.manual_seed(0)
    q, k, v = torch.randn(1, 2, 7, 8), torch.randn(1, 2, 7, 8), torch.randn(1, 2, 7, 8)
    out = prefill_attention(q, k, v, window=3)
    for i in range(7):  # query i alone over keys (i-3, i]
        lo = max(0, i - 2)
        keys, values = k[:, :, lo:i + 1], v[:, :, lo:i + 1]
        ref = torch.softmax(q[:, :, i:i + 1] @ keys.transpose(-1, -2) / 8 ** 0.5, -1) @ values
        torch.testing.assert_close(out[:, :, i:i + 1], ref, rtol=1e-5, atol=1e-5)


def test_windowed_stack_decode_matches_a_longer_windowed_prefill() -> None:
    torch.manual_seed(0)
    stack = DecoderStack(WINDOWED, 2, F32, "cpu")
    assert [layer.window for layer in stack.layers] == [4, None]
    tokens = torch.randint(0, 256, (2, 9))
    expected = stack.prefill(tokens, stack.new_cache(2, 9))
    cache = stack.new_cache(2, 9)
    stack.prefill(tokens[:, :8], cache)
    torch.testing.assert_close(stack.decode(tokens[:, 8:], cache), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("phase", ["prefill", "decode"])
def test_window_kernels_cover_the_analytic_ops(phase) -> None:
    from llmroof.analytic import Workload, analyze
    from llmroof.specs import get_hardware

    stack = DecoderStack(WINDOWED, 1, F32, "cpu")
    kernels = op_kernels(stack, phase, batch=2, length=8)
    kernel = "flash" if phase == "prefill" else "eager"
    analysis = analyze(WINDOWED, get_hardware("h100"), Workload(batch=2, prompt_len=8, context_len=8,
                                                                implementation="eager", attention_kernel=kernel))
    assert set(kernels) == {op.name for op in getattr(analysis, phase).ops}
    if phase == "decode":
        assert kernels["attn.window.scores"]().shape[-1] == 4  # the last W of the 8 cached keys
        assert kernels["attn.scores"]().shape[-1] == 8


@pytest.mark.parametrize("model", ["deepseek-v3", "mixtral-8x7b"])
def test_parallel_profiles_of_moe_and_mla_are_refused(capsys, model) -> None:
    code, out, err = run_cli(capsys, "profile", "--model", model, "--tp-simulate", "2", "--hardware", "h100")
    assert code == 2
    assert "analyze --model" in err


# --- mixture of experts -----------------------------------------------------------------------------------

MOE = dataclasses.replace(get_model("qwen3-30b-a3b"), name="tiny-moe", hidden_size=64, num_layers=2, num_heads=8,
                          num_kv_heads=2, head_dim=16, intermediate_size=128, moe_intermediate_size=32,
                          vocab_size=256, num_experts=8, experts_per_token=2, qk_norm=False)
SHARED = dataclasses.replace(MOE, name="tiny-moe-shared", num_shared_experts=2, first_dense_layers=1)


def reference_moe(block, x: torch.Tensor) -> torch.Tensor:
    """Every expert on every token, weighted by the renormalised top-k softmax (zero for the others)."""
    flat = x.reshape(-1, x.shape[-1])
    probs = torch.softmax(block.logits(flat).float(), -1)
    top, index = probs.topk(block.top_k, -1)
    dense = torch.zeros_like(probs).scatter(-1, index, top / top.sum(-1, keepdim=True))
    out = sum(dense[:, e, None] * block.down(block.act(block.gate(flat, e)) * block.up(flat, e), e)
              for e in range(dense.shape[1]))
    if block.shared is not None:
        out = out + block.shared_mlp(flat)
    return out.view_as(x)


@pytest.mark.parametrize("spec", [MOE, SHARED], ids=lambda s: s.name)
def test_moe_block_loops_over_touched_experts_like_the_dense_reference(spec) -> None:
    torch.manual_seed(0)
    stack = DecoderStack(spec, 2, F32, "cpu")
    block = stack.layers[-1].moe
    x = torch.randn(3, 5, 64)
    torch.testing.assert_close(block(x), reference_moe(block, x), rtol=1e-5, atol=1e-5)
    assert 2 <= block.experts_touched(x[:1, :1]) <= 2 and block.experts_touched(x) <= 8
    assert (stack.layers[0].moe is None) == (spec.first_dense_layers == 1)


@pytest.mark.parametrize("phase", ["prefill", "decode"])
@pytest.mark.parametrize("spec", [MOE, SHARED], ids=lambda s: s.name)
def test_moe_kernels_cover_the_analytic_ops(spec, phase) -> None:
    from llmroof.analytic import Workload, analyze
    from llmroof.specs import get_hardware

    stack = DecoderStack(spec, 2, F32, "cpu")
    kernels = op_kernels(stack, phase, batch=2, length=8)
    kernel = "flash" if phase == "prefill" else "eager"
    analysis = analyze(spec, get_hardware("h100"), Workload(batch=2, prompt_len=8, context_len=8,
                                                            implementation="eager", attention_kernel=kernel))
    assert set(kernels) == {op.name for op in getattr(analysis, phase).ops}
    for fn in kernels.values():
        assert torch.isfinite(fn()).all()


@pytest.mark.parametrize("phase", ["prefill", "decode"])
def test_attention_kernels_time_the_first_layer_and_mlp_kernels_a_dense_one(phase) -> None:
    """A model whose first layer is MoE and whose second is dense (the layers of SHARED swapped): attention
    kernels run the first layer's weights, the dense MLP kernels the dense layer's (kernels/ops.py once
    rebound ``layer`` to the dense layer after the attention lambdas that close over it were made)."""
    stack = DecoderStack(SHARED, 2, F32, "cpu")
    dense, moe = stack.layers
    assert dense.moe is None and moe.moe is not None
    stack.layers = [moe, dense]
    for name in ("wq", "wk", "wv", "wo"):  # the dense layer's attention: NaN, so that reading it shows
        getattr(dense, name).fill_(float("nan"))
    kernels = op_kernels(stack, phase, batch=2, length=8)
    attention = [name for name in kernels if name.startswith("attn.")]
    assert {"attn.q", "attn.k", "attn.v", "attn.o"} <= set(attention)
    for name in attention:
        assert torch.isfinite(kernels[name]()).all(), name
    assert moe.w_up is None  # a MoE layer has no dense MLP: mlp.up can only run the dense layer's
    assert kernels["mlp.up"]().shape[-1] == SHARED.intermediate_size


def test_moe_report_plots_experts_against_batch(tmp_path) -> None:
    """The analysis report of a MoE model carries the experts-touched figure (analytic curve and readings)."""
    from llmroof.analytic import Workload, analyze
    from llmroof.results.records.analysis import AnalysisRecord
    from llmroof.report import figures as fig
    from llmroof.report import sections as sec
    from llmroof.analytic.sweep import sweep
    from llmroof.specs import get_hardware

    spec, hw, workload = get_model("mixtral-8x7b"), get_hardware("h100"), Workload(batch=1)
    rows = sweep(spec, hw, workload, "batch", list(sec.BATCHES))
    drawn = {}
    original = fig.sweep

    def capture(panels, **kwargs):
        drawn["panels"] = panels
        return original(panels, **kwargs)

    fig.sweep = capture
    try:
        figure = sec.moe_figure(spec, rows, workload, measured=[(1, 2), (8, 7)])
    finally:
        fig.sweep = original
    assert figure is not None
    experts, per_token = drawn["panels"]
    curve = experts.series[0]
    assert curve.ys[0] == 2 and curve.ys[3] == pytest.approx(8 * (1 - 0.75 ** 8))
    assert [s.label for s in experts.series][1:] == ["top-k only (2)", "all experts (8)",
                                                     "measured (the profile's router)"]
    assert per_token.series[0].ys[0] > per_token.series[0].ys[-1]
    assert AnalysisRecord.of(analyze(spec, hw, workload)).to_dict()["phases"]["decode"]["expected_experts_per_layer"] == 2


# --- multi-head latent attention ----------------------------------------------------------------------------

MLA = dataclasses.replace(get_model("deepseek-v3"), name="tiny-mla", hidden_size=64, num_layers=2, num_heads=4,
                          num_kv_heads=4, head_dim=24, intermediate_size=128, moe_intermediate_size=32,
                          vocab_size=256, num_experts=8, experts_per_token=2, num_shared_experts=1,
                          first_dense_layers=1, q_lora_rank=32, kv_lora_rank=16, qk_rope_head_dim=8,
                          qk_nope_head_dim=16, v_head_dim=16)
MLA_NO_Q_LORA = dataclasses.replace(MLA, name="tiny-mla-v2", q_lora_rank=None)


@pytest.mark.parametrize("spec", [MLA, MLA_NO_Q_LORA], ids=lambda s: s.name)
def test_absorbed_decode_equals_the_decompressed_prefill(spec) -> None:
    """A decode step over the latent cache with W_UK and W_UV absorbed gives the logits a longer decompressed
    prefill gives at its last position."""
    torch.manual_seed(0)
    stack = DecoderStack(spec, 2, F32, "cpu")
    tokens = torch.randint(0, 256, (2, 9))
    expected = stack.prefill(tokens, stack.new_cache(2, 9))
    cache = stack.new_cache(2, 9)
    assert cache.layers[0][0].shape == (2, 1, 9, 16) and cache.layers[0][1].shape == (2, 1, 9, 8)
    stack.prefill(tokens[:, :8], cache)
    torch.testing.assert_close(stack.decode(tokens[:, 8:], cache), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("phase", ["prefill", "decode"])
@pytest.mark.parametrize("spec", [MLA, MLA_NO_Q_LORA], ids=lambda s: s.name)
def test_mla_kernels_cover_the_analytic_ops(spec, phase) -> None:
    from llmroof.analytic import Workload, analyze
    from llmroof.specs import get_hardware

    stack = DecoderStack(spec, 2, F32, "cpu")
    kernels = op_kernels(stack, phase, batch=2, length=8)
    kernel = "flash" if phase == "prefill" else "eager"
    analysis = analyze(spec, get_hardware("h100"), Workload(batch=2, prompt_len=8, context_len=8,
                                                            implementation="eager", attention_kernel=kernel))
    assert set(kernels) == {op.name for op in getattr(analysis, phase).ops}
    for fn in kernels.values():
        assert torch.isfinite(fn()).all()
