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
    """Attention window W in tokens: a windowed layer attends to (and caches) only the last W tokens."""
    layer_types: tuple[str, ...] | None = None
    """Per layer, ``"sliding"`` (windowed) or ``"full"``; None: every layer windowed when ``sliding_window``
    is set (Mistral 7B v0.1), else every layer full. Gemma 2 and gpt-oss alternate, starting windowed."""
    attention_sinks: bool = False
    """One learned sink logit per query head joins each softmax (gpt-oss): H parameters per layer."""
    qk_norm: bool = False
    """RMSNorm over each head of q and k before RoPE (Qwen3): 2 * d parameters per layer."""
    sandwich_norms: bool = False
    """Four norms per layer: before and after attention and the MLP (Gemma 2), instead of two."""
    num_experts: int | None = None
    """Mixture-of-experts: routed experts per MoE layer, E (None: a dense model)."""
    experts_per_token: int | None = None
    """Mixture-of-experts: routed experts each token goes to, k."""
    num_shared_experts: int = 0
    """Experts every token goes to, beside the routed ones (DeepSeek): one MLP of width shared * w."""
    moe_intermediate_size: int | None = None
    """Width of one expert's MLP, w (None: ``intermediate_size``, as in Mixtral and gpt-oss)."""
    first_dense_layers: int = 0
    """Layers before the first MoE layer with a dense MLP of width ``intermediate_size``
    (DeepSeek's ``first_k_dense_replace``)."""
    router_bias: bool = False
    """The router (a linear map h -> E) has a bias (gpt-oss)."""
    expert_bias: bool = False
    """Expert projections have biases (gpt-oss: 2w on gate/up, h on down)."""
    q_lora_rank: int | None = None
    """Multi-head latent attention: width of the compressed query, r_q (None: q projected directly)."""
    kv_lora_rank: int | None = None
    """Multi-head latent attention: width of the cached KV latent, r_kv (None: not MLA)."""
    qk_rope_head_dim: int | None = None
    """MLA: rotary part of each query/key head, d_r (the rotary key is shared by all heads and cached)."""
    qk_nope_head_dim: int | None = None
    """MLA: non-rotary part of each query/key head, d_n."""
    v_head_dim: int | None = None
    """MLA: width of each value head, d_v."""
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
        self._check_moe()
        self._check_mla()
        self._check_windows()

    def _check_moe(self) -> None:
        if (self.num_experts is None) != (self.experts_per_token is None):
            raise ValueError("num_experts and experts_per_token go together")
        if self.num_experts is None:
            if (
                self.num_shared_experts
                or self.first_dense_layers
                or self.moe_intermediate_size is not None
            ):
                raise ValueError(
                    "shared experts, dense layers and an expert width need num_experts"
                )
            return
        for name in ("num_experts", "experts_per_token"):
            _check_positive(name, getattr(self, name))
        num_experts, experts_per_token = self.experts
        if experts_per_token > num_experts:
            raise ValueError(
                f"experts_per_token ({self.experts_per_token}) exceeds num_experts ({self.num_experts})"
            )
        if self.moe_intermediate_size is not None:
            _check_positive("moe_intermediate_size", self.moe_intermediate_size)
        if not self.num_shared_experts >= 0 or not 0 <= self.first_dense_layers < self.num_layers:
            raise ValueError(
                "num_shared_experts must be >= 0 and first_dense_layers in [0, num_layers)"
            )

    def _check_mla(self) -> None:
        dims = (self.kv_lora_rank, self.qk_rope_head_dim, self.qk_nope_head_dim, self.v_head_dim)
        if all(d is None for d in dims) and self.q_lora_rank is None:
            return
        for name in ("kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim"):
            _check_positive(name, getattr(self, name))
        if self.q_lora_rank is not None:
            _check_positive("q_lora_rank", self.q_lora_rank)

    def _check_windows(self) -> None:
        if self.sliding_window is not None:
            _check_positive("sliding_window", self.sliding_window)
        if self.layer_types is not None:
            if len(self.layer_types) != self.num_layers or not set(self.layer_types) <= {
                "sliding",
                "full",
            }:
                raise ValueError(
                    f"layer_types must give 'sliding' or 'full' for each of the {self.num_layers} layers"
                )
            if "sliding" in self.layer_types and self.sliding_window is None:
                raise ValueError("sliding layers need a sliding_window")

    @property
    def is_moe(self) -> bool:
        """Some MLPs are mixtures of experts."""
        return self.num_experts is not None

    @property
    def is_mla(self) -> bool:
        """Attention is multi-head latent attention (DeepSeek)."""
        return self.kv_lora_rank is not None

    @property
    def experts(self) -> tuple[int, int]:
        """Mixture-of-experts: (E, k), routed experts per layer and per token; a dense model raises."""
        if self.num_experts is None or self.experts_per_token is None:
            raise ValueError(f"{self.name} is a dense model: it has no experts")
        return self.num_experts, self.experts_per_token

    @property
    def mla_dims(self) -> tuple[int, int, int, int]:
        """Multi-head latent attention: (r_kv, d_r, d_n, d_v); a model without it raises."""
        dims = (self.kv_lora_rank, self.qk_rope_head_dim, self.qk_nope_head_dim, self.v_head_dim)
        r_kv, d_r, d_n, d_v = dims
        if r_kv is None or d_r is None or d_n is None or d_v is None:
            raise ValueError(f"{self.name} has no multi-head latent attention")
        return r_kv, d_r, d_n, d_v

    @property
    def expert_width(self) -> int:
        """Width of one expert's MLP, w."""
        return self.moe_intermediate_size or self.intermediate_size

    @property
    def moe_layers(self) -> int:
        """Layers whose MLP is a mixture of experts (0 for a dense model)."""
        return self.num_layers - self.first_dense_layers if self.is_moe else 0

    @property
    def window_layers(self) -> int:
        """Layers whose attention is limited to the last ``sliding_window`` tokens."""
        if self.sliding_window is None:
            return 0
        if self.layer_types is None:
            return self.num_layers
        return self.layer_types.count("sliding")

    def layer_is_windowed(self, layer: int) -> bool:
        """Whether layer ``layer`` (0-based) attends within the window."""
        if self.sliding_window is None:
            return False
        return self.layer_types is None or self.layer_types[layer] == "sliding"

    @property
    def qk_head_dim(self) -> int:
        """MLA: width of each query/key head, d_n + d_r."""
        return (self.qk_nope_head_dim or 0) + (self.qk_rope_head_dim or 0)

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
        """``mha``, ``gqa``, ``mqa``, or ``mla`` (multi-head latent attention)."""
        if self.is_mla:
            return "mla"
        if self.num_kv_heads == self.num_heads:
            return "mha"
        return "mqa" if self.num_kv_heads == 1 else "gqa"

    def with_kv_heads(self, num_kv_heads: int) -> ModelSpec:
        """The same model with another number of KV heads (compare MHA, GQA and MQA side by side)."""
        if self.is_mla:
            raise LlmroofError(
                f"{self.name} uses multi-head latent attention, which has no KV heads to change",
                "drop --kv-heads/--attention for this model",
            )
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
            divisors = [
                kv for kv in range(min(8, self.num_heads - 1), 1, -1) if self.num_heads % kv == 0
            ]
            if not divisors:
                raise LlmroofError(
                    f"--attention gqa: {self.name} has {self.num_heads} query heads, which no "
                    "number of KV heads between 1 and the heads divides",
                    "compare mha and mqa, or pick --kv-heads N",
                )
            return self.with_kv_heads(divisors[0])
        raise LlmroofError(
            f"unknown attention kind {kind!r}", "use mha, gqa or mqa, or --kv-heads N"
        )


def _check_positive(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def alternating_layers(num_layers: int) -> tuple[str, ...]:
    """Sliding, full, sliding, full, ... (Gemma 2, gpt-oss: even layers windowed)."""
    return tuple("sliding" if layer % 2 == 0 else "full" for layer in range(num_layers))


def _llama(
    name: str,
    h: int,
    layers: int,
    heads: int,
    kv: int,
    inter: int,
    vocab: int,
    *,
    head_dim: int = 128,
    tied: bool = False,
    model_type: str = "llama",
    **extra: Any,
) -> ModelSpec:
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
        _llama(
            "mistral-7b", 4096, 32, 32, 8, 14336, 32000, model_type="mistral", sliding_window=4096
        ),
        _llama(
            "mixtral-8x7b",
            4096,
            32,
            32,
            8,
            14336,
            32000,
            model_type="mixtral",
            num_experts=8,
            experts_per_token=2,
        ),
        _llama(
            "mixtral-8x22b",
            6144,
            56,
            48,
            8,
            16384,
            32768,
            model_type="mixtral",
            num_experts=8,
            experts_per_token=2,
        ),
        _llama(
            "qwen3-30b-a3b",
            2048,
            48,
            32,
            4,
            6144,
            151936,
            model_type="qwen3_moe",
            qk_norm=True,
            num_experts=128,
            experts_per_token=8,
            moe_intermediate_size=768,
        ),
        _llama(
            "qwen3-235b-a22b",
            4096,
            94,
            64,
            4,
            12288,
            151936,
            model_type="qwen3_moe",
            qk_norm=True,
            num_experts=128,
            experts_per_token=8,
            moe_intermediate_size=1536,
        ),
        _llama(
            "deepseek-v3",
            7168,
            61,
            128,
            128,
            18432,
            129280,
            head_dim=192,
            model_type="deepseek_v3",
            num_experts=256,
            experts_per_token=8,
            num_shared_experts=1,
            moe_intermediate_size=2048,
            first_dense_layers=3,
            q_lora_rank=1536,
            kv_lora_rank=512,
            qk_rope_head_dim=64,
            qk_nope_head_dim=128,
            v_head_dim=128,
        ),
        _llama(
            "deepseek-v2-lite",
            2048,
            27,
            16,
            16,
            10944,
            102400,
            head_dim=192,
            model_type="deepseek_v2",
            num_experts=64,
            experts_per_token=6,
            num_shared_experts=2,
            moe_intermediate_size=1408,
            first_dense_layers=1,
            kv_lora_rank=512,
            qk_rope_head_dim=64,
            qk_nope_head_dim=128,
            v_head_dim=128,
        ),
        _llama(
            "gpt-oss-20b",
            2880,
            24,
            64,
            8,
            2880,
            201088,
            head_dim=64,
            model_type="gpt_oss",
            qkv_bias=True,
            attn_out_bias=True,
            attention_sinks=True,
            sliding_window=128,
            layer_types=alternating_layers(24),
            num_experts=32,
            experts_per_token=4,
            router_bias=True,
            expert_bias=True,
        ),
        _llama(
            "gpt-oss-120b",
            2880,
            36,
            64,
            8,
            2880,
            201088,
            head_dim=64,
            model_type="gpt_oss",
            qkv_bias=True,
            attn_out_bias=True,
            attention_sinks=True,
            sliding_window=128,
            layer_types=alternating_layers(36),
            num_experts=128,
            experts_per_token=4,
            router_bias=True,
            expert_bias=True,
        ),
        _llama(
            "gemma-2-9b",
            3584,
            42,
            16,
            8,
            14336,
            256000,
            head_dim=256,
            tied=True,
            model_type="gemma2",
            activation="gelu",
            sandwich_norms=True,
            sliding_window=4096,
            layer_types=alternating_layers(42),
        ),
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
    "mixtral-8x7b-v0.1": "mixtral-8x7b",
    "mixtral-8x7b-instruct-v0.1": "mixtral-8x7b",
    "mixtral-8x22b-v0.1": "mixtral-8x22b",
    "deepseek-r1": "deepseek-v3",
    "deepseek-v3-0324": "deepseek-v3",
    "deepseek-r1-0528": "deepseek-v3",
    "qwen3-30b-a3b-instruct-2507": "qwen3-30b-a3b",
    "qwen3-235b-a22b-instruct-2507": "qwen3-235b-a22b",
    "gemma-2-9b-it": "gemma-2-9b",
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
        raise LlmroofError(
            f"{shorten(name_or_path)}: no such file",
            "pass a path to a config.json, or a preset name",
        )
    raise unknown_name_error(
        "model", name_or_path, [*MODEL_PRESETS, *MODEL_ALIASES], "llmroof models"
    )


def _exists(path: Path) -> bool:
    """Whether ``path`` exists; a name the file system refuses (too long, say) is a name, not a path."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


# --- Hugging Face config.json -------------------------------------------------------------------

_FALCON_LIKE = {"falcon"}
_UNTIED_BY_DEFAULT = {
    "llama",
    "mistral",
    "mixtral",
    "qwen2",
    "qwen2_moe",
    "phi3",
    "qwen3",
    "qwen3_moe",
    "deepseek_v2",
    "deepseek_v3",
    "gpt_oss",
}
_QK_NORM = {"qwen3", "qwen3_moe", "gemma3", "gemma3_text"}
_SANDWICH_NORMS = {"gemma2", "gemma3", "gemma3_text"}
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
        raise LlmroofError(
            f"{shorten(str(path))}: expected a JSON object at the top level",
            "pass a Hugging Face config.json",
        )
    if isinstance(config.get("text_config"), dict):  # multimodal wrappers keep the decoder here
        config = {
            **config["text_config"],
            "model_type": config["text_config"].get("model_type", ""),
        }
    try:
        return spec_from_hf_dict(config, source=shorten(str(path)))
    except RecursionError:  # a field nested hundreds of levels deep, where a name or number belongs
        raise LlmroofError(
            f"{shorten(str(path))}: a field is nested too deeply", "is this a config.json?"
        ) from None


MAX_DIMENSION = 2**31
"""Larger shapes in a config.json are refused: no model has them, and their products overflow float figures."""
MAX_LAYERS = 100_000
"""More layers are refused: no model has a thousand, and per-layer tables (which layers are windowed) would
fill memory."""


def _field(
    config: dict[str, Any],
    source: str,
    *names: str,
    default: Any = ...,
    kind: type = int,
    low: int = 1,
    high: int = MAX_DIMENSION,
) -> Any:
    """The first of ``names`` the config sets, checked: an integer in [low, high] (``kind`` int), or a
    boolean; ``default`` when none is set (missing field: an error)."""
    for name in names:
        if name in config and config[name] is not None:
            value = config[name]
            if kind is int:
                if (
                    isinstance(value, bool)
                    or not isinstance(value, int)
                    or not low <= value <= high
                ):
                    what = "a positive integer" if low == 1 else f"an integer from {low}"
                    raise LlmroofError(
                        f"{source}: field {name!r} must be {what} up to "
                        f"{'2**31' if high == MAX_DIMENSION else f'{high:,}'}, "
                        f"got {shorten(repr(value), 40)}",
                        "is this a decoder-only transformer's config.json?",
                    )
            elif kind is bool and not isinstance(value, bool):
                raise LlmroofError(
                    f"{source}: field {name!r} must be true or false, got {shorten(repr(value), 40)}"
                )
            return value
    if default is ...:
        raise LlmroofError(
            f"{source}: missing field {names[0]!r}",
            "is this a decoder-only transformer's config.json?",
        )
    return default


def spec_from_hf_dict(config: dict[str, Any], *, source: str = "config.json") -> ModelSpec:
    """Build a :class:`ModelSpec` from the fields of a parsed ``config.json``."""
    model_type = shorten(str(config.get("model_type") or "unknown"), 60)
    falcon = model_type in _FALCON_LIKE
    hidden = _field(config, source, "hidden_size", "n_embd", "d_model")
    heads = _field(config, source, "num_attention_heads", "n_head")
    layers = _field(config, source, "num_hidden_layers", "n_layer", "num_layers", high=MAX_LAYERS)
    vocab = _field(config, source, "vocab_size")
    if (
        falcon
        and not config.get("new_decoder_architecture", False)
        and config.get("multi_query", True)
    ):
        kv_default = 1
    else:
        kv_default = heads  # absent num_key_value_heads means MHA
    kv = _field(
        config, source, "num_key_value_heads", "num_kv_heads", "n_head_kv", default=kv_default
    )
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
    act_name = str(
        config.get("hidden_activation")
        or config.get("hidden_act")
        or config.get("activation_function")
        or ("gelu" if falcon else "silu")
    )
    activation = "gelu" if act_name in _GELU_NAMES else "silu"
    if act_name not in _GELU_NAMES and act_name not in {"silu", "swish"}:
        raise LlmroofError(
            f"{source}: field 'hidden_act' {shorten(act_name, 40)!r} is not supported",
            "supported: silu, gelu",
        )
    any_bias = _field(config, source, "bias", default=False, kind=bool)
    # gpt-oss's config class defaults attention_bias to true.
    attention_bias = _field(
        config, source, "attention_bias", default=any_bias or model_type == "gpt_oss", kind=bool
    )
    qkv_bias = attention_bias or model_type in {"qwen2", "qwen2_moe"}
    moe = _moe_fields(config, source, model_type)
    mla = _mla_fields(config, source)
    if mla:
        head_dim = mla["qk_nope_head_dim"] + mla["qk_rope_head_dim"]
    windows = _window_fields(config, source, model_type, layers)
    layernorm = falcon or (
        "rms_norm_eps" not in config
        and ("layer_norm_epsilon" in config or "layer_norm_eps" in config)
    )
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
            tie_word_embeddings=_field(
                config, source, "tie_word_embeddings", default=tie_default, kind=bool
            ),
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
            qk_norm=model_type in _QK_NORM,
            sandwich_norms=model_type in _SANDWICH_NORMS,
            attention_sinks=model_type == "gpt_oss",
            source=source,
            **moe,
            **mla,
            **windows,
        )
    except ValueError as exc:
        raise LlmroofError(f"{source}: {exc}") from None


def _moe_fields(config: dict[str, Any], source: str, model_type: str) -> dict[str, Any]:
    """Mixture-of-experts fields (Mixtral and gpt-oss: num_local_experts; Qwen MoE: num_experts;
    DeepSeek: n_routed_experts, n_shared_experts, first_k_dense_replace)."""
    experts = _field(
        config, source, "num_local_experts", "n_routed_experts", "num_experts", default=None
    )
    if experts is None:
        return {}
    if model_type.startswith("qwen") and (
        config.get("mlp_only_layers") or config.get("decoder_sparse_step", 1) != 1
    ):
        raise LlmroofError(
            f"{source}: MoE layers interleaved with dense ones (mlp_only_layers, "
            "decoder_sparse_step) are not modelled",
            "only leading dense layers are",
        )
    if config.get("moe_layer_freq", 1) != 1:
        raise LlmroofError(
            f"{source}: moe_layer_freq {shorten(repr(config['moe_layer_freq']), 40)} is not modelled",
            "only leading dense layers (first_k_dense_replace) are",
        )
    gpt_oss = model_type == "gpt_oss"
    return {
        "num_experts": experts,
        "experts_per_token": _field(config, source, "num_experts_per_tok", "experts_per_token"),
        "num_shared_experts": _field(config, source, "n_shared_experts", default=0, low=0),
        "moe_intermediate_size": _field(config, source, "moe_intermediate_size", default=None),
        "first_dense_layers": _field(config, source, "first_k_dense_replace", default=0, low=0),
        "router_bias": gpt_oss,
        "expert_bias": gpt_oss,
    }


def _mla_fields(config: dict[str, Any], source: str) -> dict[str, Any]:
    """Multi-head latent attention fields (DeepSeek-V2/V3): present when the config has kv_lora_rank."""
    if config.get("kv_lora_rank") is None:
        return {}
    return {
        "q_lora_rank": _field(config, source, "q_lora_rank", default=None),
        "kv_lora_rank": _field(config, source, "kv_lora_rank"),
        "qk_rope_head_dim": _field(config, source, "qk_rope_head_dim"),
        "qk_nope_head_dim": _field(config, source, "qk_nope_head_dim"),
        "v_head_dim": _field(config, source, "v_head_dim"),
    }


_LAYER_TYPES = {"sliding_attention": "sliding", "full_attention": "full"}


def _window_fields(
    config: dict[str, Any], source: str, model_type: str, layers: int
) -> dict[str, Any]:
    """The attention window and which layers use it, as transformers reads them: ``layer_types`` when given;
    else Gemma 2 and gpt-oss alternate (even layers windowed), Gemma 3 windows all but every
    ``sliding_window_pattern``-th layer, Qwen windows layers from ``max_window_layers`` on only with
    ``use_sliding_window``, and Mistral/Mixtral window every layer."""
    window = config.get("sliding_window")
    if model_type.startswith("qwen") and not config.get("use_sliding_window", False):
        window = None
    if not isinstance(window, int) or isinstance(window, bool) or window <= 0:
        return {}
    names = config.get("layer_types")
    if isinstance(names, list):
        unknown = sorted(
            {shorten(repr(n), 40) for n in names if not isinstance(n, str) or n not in _LAYER_TYPES}
        )
        if unknown or len(names) != layers:
            raise LlmroofError(
                f"{source}: field 'layer_types' must list sliding_attention or full_attention for "
                f"each of the {layers} layers",
                f"found {unknown or len(names)}",
            )
        types = tuple(_LAYER_TYPES[n] for n in names)
    elif model_type in {"gemma2", "gpt_oss"}:
        types = alternating_layers(layers)
    elif model_type in {"gemma3", "gemma3_text"}:
        period = _field(config, source, "sliding_window_pattern", default=6)
        types = tuple("sliding" if (i + 1) % period else "full" for i in range(layers))
    elif model_type.startswith("qwen"):
        start = _field(config, source, "max_window_layers", default=0, low=0)
        types = tuple("sliding" if i >= start else "full" for i in range(layers))
    else:
        types = None
    return {"sliding_window": window, "layer_types": types}
