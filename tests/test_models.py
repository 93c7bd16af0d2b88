"""Model catalog and Hugging Face config import, pinned to the published facts in shared/reference/models.md."""

from __future__ import annotations

import json

import pytest

from llmroof.analytic.memory import kv_bytes_per_token, param_count
from llmroof.errors import LlmroofError
from llmroof.specs import MODEL_PRESETS, Precision, get_model, load_hf_config

BF16 = Precision.uniform("bf16")

# Published parameter counts (the models' own model cards and safetensors index totals).
PUBLISHED_PARAMS = {
    "llama-2-7b": 6_738_415_616,
    "llama-3-8b": 8_030_261_248,
    "llama-3-70b": 70_553_706_496,
    "llama-3.2-1b": 1_235_814_400,
    "falcon-7b": 6_921_720_704,
}

# KV cache per token in bf16: 2 x layers x kv x head_dim x 2 bytes.
PUBLISHED_KV_BYTES = {
    "llama-2-7b": 524_288,
    "llama-3-8b": 131_072,
    "llama-3-70b": 327_680,
    "llama-3.2-1b": 32_768,
}


@pytest.mark.parametrize(("name", "params"), PUBLISHED_PARAMS.items())
def test_preset_parameter_counts_match_published(name: str, params: int) -> None:
    assert param_count(get_model(name)) == params


@pytest.mark.parametrize(("name", "nbytes"), PUBLISHED_KV_BYTES.items())
def test_preset_kv_bytes_per_token_match_published(name: str, nbytes: int) -> None:
    assert kv_bytes_per_token(get_model(name), BF16) == nbytes


def test_presets_cover_the_reference_models() -> None:
    expected = {"llama-2-7b", "llama-2-13b", "llama-2-70b", "llama-3-8b", "llama-3-70b", "llama-3.1-405b",
                "llama-3.2-1b", "llama-3.2-3b", "mistral-7b", "falcon-7b"}
    assert expected <= set(MODEL_PRESETS)


@pytest.mark.parametrize(("alias", "name"), [("Llama-3.1-8B", "llama-3-8b"), ("meta-llama/Llama-3.2-1B", "llama-3.2-1b"),
                                             ("MISTRAL_7B", "mistral-7b")])
def test_names_are_case_insensitive_and_accept_hub_ids(alias: str, name: str) -> None:
    assert get_model(alias).name == name


def test_unknown_model_suggests_close_names() -> None:
    with pytest.raises(LlmroofError) as err:
        get_model("lama-3-8b")
    assert "llama-3-8b" in str(err.value)


def test_llama_config_import_matches_preset(data_dir) -> None:
    spec = load_hf_config(data_dir / "llama-3.2-1b.config.json")
    preset = get_model("llama-3.2-1b")
    for field in ("hidden_size", "num_layers", "num_heads", "num_kv_heads", "head_dim", "intermediate_size",
                  "vocab_size", "tie_word_embeddings", "gated_mlp", "norm", "qkv_bias"):
        assert getattr(spec, field) == getattr(preset, field), field
    assert param_count(spec) == PUBLISHED_PARAMS["llama-3.2-1b"]


def test_absent_kv_heads_means_mha_and_head_dim_defaults(data_dir) -> None:
    spec = load_hf_config(data_dir / "llama-2-7b.config.json")
    assert spec.num_kv_heads == spec.num_heads == 32
    assert spec.head_dim == 128
    assert spec.attention_kind == "mha"
    assert param_count(spec) == PUBLISHED_PARAMS["llama-2-7b"]


def test_folder_holding_config_json(tmp_path, data_dir) -> None:
    (tmp_path / "config.json").write_text((data_dir / "llama-2-7b.config.json").read_text())
    assert get_model(str(tmp_path)).num_layers == 32


def test_falcon_config_is_parallel_mqa_layernorm(data_dir) -> None:
    spec = load_hf_config(data_dir / "falcon-7b.config.json")
    assert (spec.num_kv_heads, spec.head_dim, spec.intermediate_size) == (1, 64, 18176)
    assert spec.parallel_attention and not spec.gated_mlp and spec.norm == "layernorm"
    assert spec.tie_word_embeddings
    assert param_count(spec) == PUBLISHED_PARAMS["falcon-7b"]


def test_qwen2_config_has_qkv_bias(data_dir) -> None:
    spec = load_hf_config(data_dir / "qwen2-0.5b.config.json")
    assert spec.qkv_bias and not spec.attn_out_bias and not spec.mlp_bias
    assert param_count(spec) == 494_032_768  # Qwen2-0.5B's published total


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hidden_size": None}, "missing field 'hidden_size'"),
        ({"num_attention_heads": "32"}, "field 'num_attention_heads' must be a positive integer"),
        ({"num_key_value_heads": 5}, "must be a multiple of num_kv_heads"),
        ({"tie_word_embeddings": "yes"}, "field 'tie_word_embeddings' must be true or false"),
        ({"hidden_act": "relu"}, "'hidden_act' 'relu' is not supported"),
        ({"num_local_experts": 8}, "missing field 'num_experts_per_tok'"),
    ],
)
def test_bad_configs_name_the_file_and_field(tmp_path, data_dir, change, message) -> None:
    config = json.loads((data_dir / "llama-2-7b.config.json").read_text())
    for key, value in change.items():
        if value is None:
            del config[key]
        else:
            config[key] = value
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    with pytest.raises(LlmroofError) as err:
        load_hf_config(path)
    assert str(path) in err.value.message
    assert message in err.value.message


def test_malformed_json_and_missing_file(tmp_path) -> None:
    bad = tmp_path / "config.json"
    bad.write_text('{"hidden_size": 4096,')
    with pytest.raises(LlmroofError, match="not valid JSON"):
        load_hf_config(bad)
    with pytest.raises(LlmroofError, match="no such file"):
        get_model(str(tmp_path / "missing.json"))


def test_unknown_fields_are_ignored(tmp_path, data_dir) -> None:
    config = json.loads((data_dir / "llama-2-7b.config.json").read_text())
    config["some_new_field"] = {"nested": [1, 2]}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    assert load_hf_config(path).hidden_size == 4096


def test_kv_head_overrides() -> None:
    llama = get_model("llama-3-8b")
    assert llama.with_attention("mha").num_kv_heads == 32
    assert llama.with_attention("mqa").num_kv_heads == 1
    assert llama.with_attention("gqa") is llama
    assert llama.with_kv_heads(4).attention_kind == "gqa"
    with pytest.raises(LlmroofError, match="does not divide"):
        llama.with_kv_heads(5)


def test_gqa_shorthand_picks_a_divisor_or_says_why_not() -> None:
    assert get_model("llama-2-7b").with_attention("gqa").num_kv_heads == 8
    assert get_model("llama-2-13b").with_attention("gqa").num_kv_heads == 8  # 40 heads
    with pytest.raises(LlmroofError, match="71 query heads") as err:
        get_model("falcon-7b").with_attention("gqa")
    assert "--kv-heads 8" not in err.value.message


def test_tied_embeddings_default_follows_transformers(tmp_path) -> None:
    config = {"model_type": "gpt_neox", "hidden_size": 512, "num_attention_heads": 8, "num_hidden_layers": 2,
              "vocab_size": 1000, "intermediate_size": 2048, "hidden_act": "gelu", "layer_norm_eps": 1e-5}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    spec = load_hf_config(path)
    assert spec.tie_word_embeddings and spec.norm == "layernorm"
    config["model_type"] = "llama"
    path.write_text(json.dumps(config))
    assert not load_hf_config(path).tie_word_embeddings
