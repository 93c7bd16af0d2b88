"""Per-op FLOPs of the MoE, MLA and windowed families against transformers' own classes under FlopCounterMode.

Tiny configs of each family (random weights, CPU, eager attention) run a prefill and one decode step; each layer's
attention and MLP modules' counted FLOPs must equal the sum of llmroof's matrix-product ops for that layer.

Routing is data dependent, but the routed experts' FLOPs are not: transformers loops over the experts its tokens
hit and runs each on exactly the tokens routed to it, and every token goes to exactly k distinct experts, so the
experts' GEMMs total t * k * (2*h*2w + 2*w*h) whatever the routing; which experts are touched (the weight bytes)
is checked against the formula and a routing simulation in tests/test_moe_analytic.py.

FlopCounterMode counts matrix products only (a bias add, RoPE, norms, softmax, the top-k and the combine are not
counted), so llmroof's ops are compared with their biases switched off and elementwise ops left out. Windowed
layers compute the full s x s scores and mask them in eager attention, as llmroof's eager prefill counts.
Experts run with transformers' eager experts implementation (a loop over the hit experts; its default grouped_mm
kernel is not counted by FlopCounterMode). transformers' MLA caches the decompressed keys and values rather than the latent, so MLA attention is compared
at prefill (the decompressed form llmroof uses there); decode compares the MLP and MoE blocks.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from llmroof.analytic import Workload, analyze  # noqa: E402
from llmroof.analytic.memory import param_count  # noqa: E402
from llmroof.specs import get_hardware, load_hf_config  # noqa: E402

H200 = get_hardware("h200")
BATCH, PROMPT = 2, 6
MATMULS = {"q", "k", "v", "o", "q_a", "q_b", "kv_a", "kv_b", "scores", "context", "gate", "up", "down", "router"}

TINY = {
    "mixtral": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                    intermediate_size=96, vocab_size=128, num_local_experts=4, num_experts_per_tok=2,
                    sliding_window=None),
    "qwen3_moe": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                      intermediate_size=128, moe_intermediate_size=32, vocab_size=128, num_experts=8,
                      num_experts_per_tok=2, decoder_sparse_step=1, mlp_only_layers=[], tie_word_embeddings=False),
    "deepseek_v3": dict(hidden_size=64, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=4,
                        intermediate_size=128, moe_intermediate_size=32, vocab_size=128, n_routed_experts=8,
                        n_shared_experts=1, num_experts_per_tok=2, first_k_dense_replace=1, n_group=1, topk_group=1,
                        q_lora_rank=32, kv_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=16, v_head_dim=16,
                        tie_word_embeddings=False),
    "deepseek_v2": dict(hidden_size=64, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=4,
                        intermediate_size=128, moe_intermediate_size=32, vocab_size=128, n_routed_experts=8,
                        n_shared_experts=2, num_experts_per_tok=2, first_k_dense_replace=1, topk_method="greedy",
                        q_lora_rank=None, kv_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=16, v_head_dim=16,
                        tie_word_embeddings=False),
    "gpt_oss": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                    intermediate_size=32, vocab_size=128, num_local_experts=4, num_experts_per_tok=2, sliding_window=4,
                    layer_types=["sliding_attention", "full_attention"], tie_word_embeddings=False),
    "gemma2": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                   intermediate_size=128, vocab_size=128, sliding_window=4, hidden_activation="gelu_pytorch_tanh"),
    "mistral": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                    intermediate_size=96, vocab_size=128, sliding_window=4),
}


@pytest.fixture(scope="module", params=list(TINY))
def family(request, tmp_path_factory):
    """(spec imported from the tiny config.json, transformers model built from the same file)."""
    model_type = request.param
    config = {"model_type": model_type, **TINY[model_type]}
    path = tmp_path_factory.mktemp(model_type) / "config.json"
    path.write_text(json.dumps(config))
    hf_config = transformers.AutoConfig.for_model(model_type, **TINY[model_type])
    hf_config._attn_implementation = "eager"
    torch.manual_seed(0)
    # Eager experts loop over the hit experts with plain GEMMs (the default grouped_mm is not counted by
    # FlopCounterMode).
    kinds = {"experts_implementation": "eager"} if "experts" in json.dumps(TINY[model_type]) else {}
    model = transformers.AutoModelForCausalLM.from_config(hf_config, attn_implementation="eager", **kinds).eval()
    spec = load_hf_config(path)
    assert sum(p.numel() for p in model.parameters()) == param_count(spec)
    return spec, model


def module_flops(counter) -> dict[str, int]:
    """Counted FLOPs per module, keyed by the path below the model (``model.layers.0.mlp``)."""
    return {name.partition(".")[2]: sum(ops.values()) for name, ops in counter.get_flop_counts().items()
            if "." in name}


def matmul_flops(spec, phase: str, layer: int, part: str, **workload) -> float:
    """llmroof's matrix-product FLOPs of one layer's attention (``attn``) or MLP (``mlp``: dense or MoE)."""
    bare = dataclasses.replace(spec, qkv_bias=False, attn_out_bias=False, mlp_bias=False, router_bias=False,
                               expert_bias=False)
    ops = getattr(analyze(bare, H200, Workload(implementation="eager", **workload)), phase).ops
    windowed = spec.layer_is_windowed(layer)
    moe = spec.is_moe and layer >= spec.first_dense_layers
    total = 0.0
    for op in ops:
        parts = op.name.split(".")
        if parts[-1] not in MATMULS:
            continue
        if part == "attn" and parts[0] == "attn":
            core = parts[-1] in ("scores", "context")
            if not core or (parts[1] == "window") == windowed:  # windowed layers run attn.window.*
                total += op.flops
        elif part == "mlp" and parts[0] == ("moe" if moe else "mlp"):
            total += op.flops
    return total


def test_prefill_flops_per_layer(family) -> None:
    spec, model = family
    tokens = torch.randint(0, spec.vocab_size, (BATCH, PROMPT))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(tokens, use_cache=False)
    counted = module_flops(counter)
    for layer in range(spec.num_layers):
        workload = dict(batch=BATCH, prompt_len=PROMPT)
        assert counted[f"model.layers.{layer}.self_attn"] == matmul_flops(spec, "prefill", layer, "attn", **workload)
        assert counted[f"model.layers.{layer}.mlp"] == matmul_flops(spec, "prefill", layer, "mlp", **workload)


def test_decode_mlp_flops_per_layer(family) -> None:
    spec, model = family
    tokens = torch.randint(0, spec.vocab_size, (BATCH, PROMPT))
    with torch.no_grad():
        cache = model(tokens, use_cache=True).past_key_values
        with FlopCounterMode(display=False) as counter:
            model(tokens[:, -1:], past_key_values=cache, use_cache=True)
    counted = module_flops(counter)
    for layer in range(spec.num_layers):
        expected = matmul_flops(spec, "decode", layer, "mlp", batch=BATCH, context_len=PROMPT + 1)
        assert counted[f"model.layers.{layer}.mlp"] == expected
        if not spec.is_mla and not spec.layer_is_windowed(layer):
            assert counted[f"model.layers.{layer}.self_attn"] == matmul_flops(
                spec, "decode", layer, "attn", batch=BATCH, context_len=PROMPT + 1)
