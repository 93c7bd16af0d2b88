"""Mixture-of-experts, latent-attention and windowed-attention presets against transformers' own model classes.

Each preset's published ``config.json`` fields (tests/data/hf) build transformers' model class on the meta device
(no weights, no network); its parameter count must equal llmroof's, and importing the same file must give the preset.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from llmroof.analytic.memory import active_param_count, kv_bytes_per_sequence, kv_bytes_per_token, param_count
from llmroof.errors import LlmroofError
from llmroof.specs import Precision, get_model, load_hf_config

HF = Path(__file__).parent / "data" / "hf"
PRESETS = sorted(p.name.removesuffix(".config.json") for p in HF.glob("*.config.json"))
BF16 = Precision.uniform("bf16")


def transformers_param_count(path: Path) -> int:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = json.loads(path.read_text())
    model_type = config.pop("model_type")
    config.pop("quantization_config", None)  # a checkpoint-loading detail; the meta model stays unquantised
    hf_config = transformers.AutoConfig.for_model(model_type, **config)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(hf_config)
    return sum(p.numel() for p in model.parameters())


def test_every_new_family_has_a_config() -> None:
    assert {"mixtral-8x7b", "mixtral-8x22b", "deepseek-v3", "deepseek-v2-lite", "qwen3-30b-a3b", "qwen3-235b-a22b",
            "gpt-oss-20b", "gpt-oss-120b", "mistral-7b", "gemma-2-9b"} <= set(PRESETS)


@pytest.mark.parametrize("name", PRESETS)
def test_param_count_equals_transformers_model_on_meta_device(name: str) -> None:
    assert param_count(get_model(name)) == transformers_param_count(HF / f"{name}.config.json")


@pytest.mark.parametrize("name", PRESETS)
def test_config_import_gives_the_preset(name: str) -> None:
    imported = load_hf_config(HF / f"{name}.config.json")
    preset = get_model(name)
    for field in dataclasses.fields(preset):
        if field.name not in ("name", "source"):
            assert getattr(imported, field.name) == getattr(preset, field.name), field.name


def test_published_totals() -> None:
    # DeepSeek-V3's 671B main model (the 14B multi-token-prediction layer is not served); Mixtral 46.7B / 12.9B active.
    assert round(param_count(get_model("deepseek-v3")) / 1e9) == 671
    assert active_param_count(get_model("mixtral-8x7b")) == 46_702_792_704 - 32 * 6 * 3 * 4096 * 14336
    # DeepSeek-V3 37B activated; Qwen3-30B-A3B 3.3B; gpt-oss-120b 5.13B on its card, which leaves out the
    # embedding table (a token reads one row of it); llmroof counts both vocabulary tables, as Mixtral's figure does.
    assert int(active_param_count(get_model("deepseek-v3")) / 1e9) == 37  # 37.5B with both vocab tables
    assert int(active_param_count(get_model("qwen3-30b-a3b")) / 1e8) == 33
    assert int((active_param_count(get_model("gpt-oss-120b")) - 201088 * 2880) / 1e7) == 513


def test_latent_kv_bytes_per_token_of_deepseek_v3() -> None:
    # 61 layers x (kv_lora_rank 512 + rope 64) x 2 bytes: the compressed latent, shared by all 128 heads.
    assert kv_bytes_per_token(get_model("deepseek-v3"), BF16) == 61 * (512 + 64) * 2 == 70_272


def test_window_keeps_only_the_window() -> None:
    mistral = get_model("mistral-7b")  # every layer windowed at 4096
    per_token = 32 * 2 * 8 * 128 * 2
    assert kv_bytes_per_sequence(mistral, BF16, 1000) == 1000 * per_token
    assert kv_bytes_per_sequence(mistral, BF16, 32768) == 4096 * per_token
    gemma = get_model("gemma-2-9b")  # 21 windowed (4096) and 21 full layers
    layer = 2 * 8 * 256 * 2
    assert kv_bytes_per_sequence(gemma, BF16, 2000) == 42 * 2000 * layer
    assert kv_bytes_per_sequence(gemma, BF16, 8192) == (21 * 8192 + 21 * 4096) * layer


def test_windows_are_read_per_layer_type() -> None:
    oss = get_model("gpt-oss-20b")
    assert oss.window_layers == 12 and oss.layer_types[:2] == ("sliding", "full")
    assert get_model("mistral-7b").window_layers == 32
    assert get_model("deepseek-r1") == get_model("deepseek-v3")


def test_qwen_window_needs_use_sliding_window(tmp_path) -> None:
    config = json.loads((HF / "qwen3-30b-a3b.config.json").read_text())
    config.update(sliding_window=4096, use_sliding_window=False)
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert load_hf_config(tmp_path).sliding_window is None
    config.update(use_sliding_window=True, max_window_layers=40)
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert load_hf_config(tmp_path).window_layers == 8


def test_interleaved_moe_layers_are_refused(tmp_path) -> None:
    config = json.loads((HF / "qwen3-30b-a3b.config.json").read_text())
    config["decoder_sparse_step"] = 2
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(LlmroofError, match="decoder_sparse_step"):
        load_hf_config(tmp_path)


def test_mla_has_no_kv_heads_to_change() -> None:
    with pytest.raises(LlmroofError, match="latent"):
        get_model("deepseek-v3").with_kv_heads(8)


def test_gemma3_text_config_inside_the_multimodal_wrapper(tmp_path) -> None:
    """Gemma 3 (4B's text decoder): every sixth layer full, the rest windowed at 1024; q/k norms and four norms per
    layer; the parameter count of transformers' Gemma3ForCausalLM on the meta device."""
    text = {"model_type": "gemma3_text", "hidden_size": 2560, "intermediate_size": 10240, "num_attention_heads": 8,
            "num_hidden_layers": 34, "num_key_value_heads": 4, "head_dim": 256, "sliding_window": 1024,
            "sliding_window_pattern": 6, "vocab_size": 262208, "hidden_activation": "gelu_pytorch_tanh",
            "query_pre_attn_scalar": 256}
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gemma3", "text_config": text}))
    spec = load_hf_config(tmp_path)
    assert spec.window_layers == 29 and spec.layer_types[:6] == ("sliding",) * 5 + ("full",)
    assert spec.qk_norm and spec.sandwich_norms and spec.tie_word_embeddings
    path = tmp_path / "text.config.json"
    path.write_text(json.dumps(text))
    assert param_count(spec) == transformers_param_count(path) == 3_880_263_168
