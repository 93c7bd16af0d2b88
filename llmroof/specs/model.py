"""Transformer decoder architectures: :class:`ModelSpec`, named presets, and Hugging Face ``config.json`` import.

Presets follow the published ``config.json`` of each model (see ``docs/models.md``). A spec holds only
what the analytic model needs; anything derived (query width, KV width) is a property.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from llmroof.errors import LlmroofError, shorten, unknown_name_error

NormType = Literal["rmsnorm", "layernorm"]
Activation = Literal["silu", "gelu"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelSpec:
    """The shapes of a decoder-only transformer, as in its Hugging Face ``config.json``."""

    name: str
    """Display name (a preset name, or the model_type and path of an imported config)."""
    hidden_size: int
    """Width of the residual stream, h."""
    num_layers: int
    """Decoder layers, L."""
    num_heads: int
    """Query heads, H."""
    num_kv_heads: int
    """Key/value heads, kv: H for MHA, 1 for MQA, between for GQA."""
    head_dim: int
    """Width of one attention head, d (hidden_size / num_heads unless the config says otherwise)."""
    intermediate_size: int
    """Width of the MLP's hidden layer, i."""
    vocab_size: int
    """Vocabulary size, V."""
    tie_word_embeddings: bool = False
    """lm_head shares the embedding table (no separate weights)."""
    gated_mlp: bool = True
    """MLP is act(x W_gate) * (x W_up) W_down (SwiGLU); False: act(x W_up) W_down."""
    activation: Activation = "silu"
    """MLP activation function."""
    qkv_bias: bool = False
    """q, k and v projections have biases (Qwen2)."""
    attn_out_bias: bool = False
    """The attention output projection has a bias."""
    mlp_bias: bool = False
    """MLP projections have biases."""
    norm: NormType = "rmsnorm"
    """Norm type; LayerNorm has a bias, RMSNorm does not."""
    parallel_attention: bool = False
    """Attention and MLP read the same normed input (Falcon, GPT-J): one norm per layer, not two."""
    model_type: str = "llama"
    """Hugging Face model_type."""
    sliding_window: int | None = None
    """Attention window in tokens, if the model limits it (informational: the analytic model ignores it)."""
    num_experts: int | None = None
    """Mixture-of-experts: experts per layer (not yet modelled; must be None)."""
    experts_per_token: int | None = None
    """Mixture-of-experts: experts each token is routed to (not yet modelled; must be None)."""
    source: str = ""
    """Where the shapes come from."""

    def __post_init__(self) -> None:
        for field_name in (
            "hidden_size",
            "num_layers",
            "num_heads",
            "num_kv_heads",
            "head_dim",
            "intermediate_size",
            "vocab_size",
        ):
            value = getattr(self, field_name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{field_name} must be a positive integer, got {value!r}")
        if self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"num_heads ({self.num_heads}) must be a multiple of num_kv_heads ({self.num_kv_heads})"
            )
        if self.norm not in ("rmsnorm", "layernorm"):
            raise ValueError(f"norm must be 'rmsnorm' or 'layernorm', got {self.norm!r}")
        if self.activation not in ("silu", "gelu"):
            raise ValueError(f"activation must be 'silu' or 'gelu', got {self.activation!r}")
        if self.num_experts is not None or self.experts_per_token is not None:
            raise ValueError("mixture-of-experts models are not modelled yet")

    @property
    def q_dim(self) -> int:
        """Width of the query projection, H * d."""
        return self.num_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        """Width of the key (and of the value) projection, kv * d."""
        return self.num_kv_heads * self.head_dim

    @property
    def group_size(self) -> int:
        """Query heads served by each KV head, H / kv."""
        return self.num_heads // self.num_kv_heads

    @property
    def attention_kind(self) -> str:
        """``mha``, ``gqa`` or ``mqa``."""
        if self.num_kv_heads == self.num_heads:
            return "mha"
        return "mqa" if self.num_kv_heads == 1 else "gqa"

    def with_kv_heads(self, num_kv_heads: int) -> ModelSpec:
        """The same model with another number of KV heads (compare MHA, GQA and MQA side by side)."""
        if num_kv_heads <= 0 or self.num_heads % num_kv_heads:
            raise LlmroofError(
                f"--kv-heads {num_kv_heads} does not divide the {self.num_heads} query heads of {self.name}",
                f"choose a divisor of {self.num_heads}",
            )
        if num_kv_heads == self.num_kv_heads:
            return self
        return dataclasses.replace(self, num_kv_heads=num_kv_heads)

    def with_attention(self, kind: str) -> ModelSpec:
        """Shorthand for :meth:`with_kv_heads`: ``mha`` (kv = H), ``mqa`` (kv = 1), ``gqa`` (as configured,
        or 8 KV heads when the model is MHA or MQA and 8 divides H)."""
        kind = kind.lower()
        if kind == "mha":
            return self.with_kv_heads(self.num_heads)
        if kind == "mqa":
            return self.with_kv_heads(1)
        if kind == "gqa":
            if self.attention_kind == "gqa":
                return self
            # The most common GQA layout, 8 KV heads, or the largest divisor of the heads below it.
            divisors = [kv for kv in range(min(8, self.num_heads - 1), 1, -1) if self.num_heads % kv == 0]
            if not divisors:
                raise LlmroofError(f"--attention gqa: {self.name} has {self.num_heads} query heads, which no "
                                   "number of KV heads between 1 and the heads divides",
                                   "compare mha and mqa, or pick --kv-heads N")
            return self.with_kv_heads(divisors[0])
        raise LlmroofError(f"unknown attention kind {kind!r}", "use mha, gqa or mqa, or --kv-heads N")


def _llama(name: str, h: int, layers: int, heads: int, kv: int, inter: int, vocab: int, *,
           head_dim: int = 128, tied: bool = False, model_type: str = "llama", **extra: Any) -> ModelSpec:
    return ModelSpec(
        name=name,
        hidden_size=h,
        num_layers=layers,
        num_heads=heads,
        num_kv_heads=kv,
        head_dim=head_dim,
        intermediate_size=inter,
        vocab_size=vocab,
        tie_word_embeddings=tied,
        model_type=model_type,
        source=f"{name} config.json on the Hugging Face hub",
        **extra,
    )


MODEL_PRESETS: dict[str, ModelSpec] = {
    m.name: m
    for m in (
        _llama("llama-2-7b", 4096, 32, 32, 32, 11008, 32000),
        _llama("llama-2-13b", 5120, 40, 40, 40, 13824, 32000),
        _llama("llama-2-70b", 8192, 80, 64, 8, 28672, 32000),
        _llama("llama-3-8b", 4096, 32, 32, 8, 14336, 128256),
        _llama("llama-3-70b", 8192, 80, 64, 8, 28672, 128256),
        _llama("llama-3.1-405b", 16384, 126, 128, 8, 53248, 128256),
        _llama("llama-3.2-1b", 2048, 16, 32, 8, 8192, 128256, head_dim=64, tied=True),
        _llama("llama-3.2-3b", 3072, 28, 24, 8, 8192, 128256, tied=True),
        _llama("mistral-7b", 4096, 32, 32, 8, 14336, 32000, model_type="mistral", sliding_window=4096),
        ModelSpec(
            name="falcon-7b",
            hidden_size=4544,
            num_layers=32,
            num_heads=71,
            num_kv_heads=1,
            head_dim=64,
            intermediate_size=18176,
            vocab_size=65024,
            tie_word_embeddings=True,
            gated_mlp=False,
            activation="gelu",
            norm="layernorm",
            parallel_attention=True,
            model_type="falcon",
            source="tiiuae/falcon-7b config.json on the Hugging Face hub",
        ),
    )
}

# Other names the same shapes are published under.
MODEL_ALIASES: dict[str, str] = {
    "llama-3.1-8b": "llama-3-8b",
    "llama-3.1-70b": "llama-3-70b",
    "meta-llama-3-8b": "llama-3-8b",
    "meta-llama-3-70b": "llama-3-70b",
    "mistral-7b-v0.1": "mistral-7b",
}


def _normalise(name: str) -> str:
    name = name.strip().lower().replace("_", "-").replace(" ", "-")
    return name.rsplit("/", 1)[-1]  # accept hub ids: meta-llama/Llama-3.2-1B


def get_model(name_or_path: str) -> ModelSpec:
    """A preset by name (case-insensitive; hub ids such as ``meta-llama/Llama-3.2-1B`` work), or a
    Hugging Face ``config.json`` (a path to the file or to a folder holding it)."""
    path = Path(name_or_path).expanduser()
    if _exists(path):
        return load_hf_config(path)
    key = _normalise(name_or_path)
    key = MODEL_ALIASES.get(key, key)
    if key in MODEL_PRESETS:
        return MODEL_PRESETS[key]
    if path.suffix == ".json":
        raise LlmroofError(f"{shorten(name_or_path)}: no such file", "pass a path to a config.json, or a preset name")
    raise unknown_name_error("model", name_or_path, [*MODEL_PRESETS, *MODEL_ALIASES], "llmroof models")


def _exists(path: Path) -> bool:
    """Whether ``path`` exists; a name the file system refuses (too long, say) is a name, not a path."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


# --- Hugging Face config.json -------------------------------------------------------------------

_FALCON_LIKE = {"falcon"}
_UNTIED_BY_DEFAULT = {"llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "phi3"}
_GELU_NAMES = {"gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu_python"}


def load_hf_config(path: str | Path) -> ModelSpec:
    """Read a Hugging Face ``config.json`` (or a folder that holds one) into a :class:`ModelSpec`.

    Reads the standard fields, ignores unknown ones, and raises :class:`LlmroofError` naming the file and
    the missing or invalid field.
    """
    from llmroof.readers import parse_json, read_bytes

    path = Path(path).expanduser()
    if path.is_dir():
        path = path / "config.json"
    try:
        raw = read_bytes(path)
    except LlmroofError as exc:
        raise LlmroofError(exc.message, "pass a config.json or a folder holding one") from None
    config = parse_json(raw, shorten(str(path)))
    if not isinstance(config, dict):
        raise LlmroofError(f"{shorten(str(path))}: expected a JSON object at the top level",
                           "pass a Hugging Face config.json")
    if isinstance(config.get("text_config"), dict):  # multimodal wrappers keep the decoder here
        config = {**config["text_config"], "model_type": config["text_config"].get("model_type", "")}
    try:
        return spec_from_hf_dict(config, source=shorten(str(path)))
    except RecursionError:  # a field nested hundreds of levels deep, where a name or number belongs
        raise LlmroofError(f"{shorten(str(path))}: a field is nested too deeply", "is this a config.json?") from None


MAX_DIMENSION = 2**31
"""Larger shapes in a config.json are refused: no model has them, and their products overflow float figures."""


def _field(config: dict[str, Any], source: str, *names: str, default: Any = ..., kind: type = int) -> Any:
    for name in names:
        if name in config and config[name] is not None:
            value = config[name]
            if kind is int:
                if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_DIMENSION:
                    raise LlmroofError(f"{source}: field {name!r} must be a positive integer up to 2**31, "
                                       f"got {shorten(repr(value), 40)}",
                                       "is this a decoder-only transformer's config.json?")
            elif kind is bool and not isinstance(value, bool):
                raise LlmroofError(f"{source}: field {name!r} must be true or false, got {shorten(repr(value), 40)}")
            return value
    if default is ...:
        raise LlmroofError(
            f"{source}: missing field {names[0]!r}", "is this a decoder-only transformer's config.json?"
        )
    return default


def spec_from_hf_dict(config: dict[str, Any], *, source: str = "config.json") -> ModelSpec:
    """Build a :class:`ModelSpec` from the fields of a parsed ``config.json``."""
    model_type = shorten(str(config.get("model_type") or "unknown"), 60)
    falcon = model_type in _FALCON_LIKE
    hidden = _field(config, source, "hidden_size", "n_embd", "d_model")
    heads = _field(config, source, "num_attention_heads", "n_head")
    layers = _field(config, source, "num_hidden_layers", "n_layer", "num_layers")
    vocab = _field(config, source, "vocab_size")
    if falcon and not config.get("new_decoder_architecture", False) and config.get("multi_query", True):
        kv_default = 1
    else:
        kv_default = heads  # absent num_key_value_heads means MHA
    kv = _field(config, source, "num_key_value_heads", "num_kv_heads", "n_head_kv", default=kv_default)
    head_dim = _field(config, source, "head_dim", default=None)
    if head_dim is None:
        if hidden % heads:
            raise LlmroofError(
                f"{source}: hidden_size {hidden} is not a multiple of num_attention_heads {heads}",
                "the config needs a head_dim field",
            )
        head_dim = hidden // heads
    inter = _field(config, source, "intermediate_size", "ffn_hidden_size", "n_inner", default=None)
    gated = not falcon and model_type not in {"gpt2", "gpt_neox", "gptj", "opt", "phi"}
    if inter is None:
        if gated:
            raise LlmroofError(f"{source}: missing field 'intermediate_size'")
        inter = 4 * hidden
    act_name = str(config.get("hidden_act") or config.get("activation_function") or ("gelu" if falcon else "silu"))
    activation = "gelu" if act_name in _GELU_NAMES else "silu"
    if act_name not in _GELU_NAMES and act_name not in {"silu", "swish"}:
        raise LlmroofError(f"{source}: field 'hidden_act' {shorten(act_name, 40)!r} is not supported",
                           "supported: silu, gelu")
    any_bias = _field(config, source, "bias", default=False, kind=bool)
    attention_bias = _field(config, source, "attention_bias", default=any_bias, kind=bool)
    qkv_bias = attention_bias or model_type in {"qwen2", "qwen2_moe"}
    experts = config.get("num_local_experts") or config.get("num_experts") or config.get("n_routed_experts")
    if experts:
        raise LlmroofError(
            f"{source}: mixture-of-experts models ({model_type}, {experts} experts) are not modelled yet",
            "see docs/models.md",
        )
    layernorm = falcon or ("rms_norm_eps" not in config and (
        "layer_norm_epsilon" in config or "layer_norm_eps" in config))
    # transformers' default: PretrainedConfig ties embeddings; the Llama family's configs do not.
    tie_default = model_type not in _UNTIED_BY_DEFAULT
    try:
        return ModelSpec(
            name=shorten(str(config.get("_name_or_path") or f"{model_type} ({source})"), 200),
            hidden_size=hidden,
            num_layers=layers,
            num_heads=heads,
            num_kv_heads=kv,
            head_dim=head_dim,
            intermediate_size=inter,
            vocab_size=vocab,
            tie_word_embeddings=_field(config, source, "tie_word_embeddings", default=tie_default, kind=bool),
            gated_mlp=gated,
            activation=activation,  # type: ignore[arg-type]
            qkv_bias=qkv_bias,
            attn_out_bias=attention_bias,
            mlp_bias=_field(config, source, "mlp_bias", default=any_bias, kind=bool),
            norm="layernorm" if layernorm else "rmsnorm",
            parallel_attention=falcon
            and not config.get("new_decoder_architecture", False)
            and bool(config.get("parallel_attn", True)),
            model_type=model_type,
            sliding_window=config.get("sliding_window") if isinstance(config.get("sliding_window"), int) else None,
            source=source,
        )
    except ValueError as exc:
        raise LlmroofError(f"{source}: {exc}") from None
