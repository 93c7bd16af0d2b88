"""Numeric data types and their storage cost.

A :class:`DType` knows how many bytes ``n`` elements take, including the per-group scales that
group-quantised formats store beside the packed values (int4: one fp16 scale per 128 weights by default;
block-scaled fp8 as DeepSeek-V3 ships it: one fp32 scale per 128 x 128 block; MXFP4 as gpt-oss ships its
experts: one e8m0 byte per 32 elements). A 2-D block of 128 x 128 holds 16384 elements, so the scale count
ceil(n / 16384) is exact when both matrix dimensions are multiples of 128 (every DeepSeek-V3 weight).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from llmroof.errors import LlmroofError, unknown_name_error


@dataclass(frozen=True, kw_only=True, slots=True)
class DType:
    """A storage and compute data type."""

    name: str
    """Canonical name, also the key into a device's peak FLOP/s table (``bf16``, ``fp8``, ...)."""
    bits: int
    """Bits per element of the packed values."""
    group_size: int = 0
    """Elements sharing one scale (0: no per-group scale is stored)."""
    scale_bytes: int = 0
    """Bytes of each group's scale."""
    weight_only: bool = False
    """True for formats used only to store weights (activations stay in a float type)."""
    aliases: tuple[str, ...] = field(default=())
    """Other spellings accepted on the command line."""

    def __post_init__(self) -> None:
        if self.bits <= 0:
            raise ValueError(f"{self.name}: bits must be positive")
        if (self.group_size == 0) != (self.scale_bytes == 0):
            raise ValueError(f"{self.name}: group_size and scale_bytes go together")

    def nbytes(self, elements: float) -> float:
        """Bytes that ``elements`` values take, group scales included."""
        packed = elements * self.bits / 8
        if self.group_size:
            return packed + math.ceil(elements / self.group_size) * self.scale_bytes
        return packed

    @property
    def bytes_per_element(self) -> float:
        """Average bytes per element, scales included (int4 with 128-groups of fp16 scales: 0.515625)."""
        if self.group_size:
            return self.bits / 8 + self.scale_bytes / self.group_size
        return self.bits / 8

    def with_group_size(self, group_size: int) -> DType:
        """The same format with another quantisation group size."""
        if not self.group_size:
            raise ValueError(f"{self.name} has no quantisation groups")
        if group_size <= 0:
            raise ValueError("group size must be positive")
        return DType(
            name=self.name,
            bits=self.bits,
            group_size=group_size,
            scale_bytes=self.scale_bytes,
            weight_only=self.weight_only,
            aliases=self.aliases,
        )


DTYPES: dict[str, DType] = {
    d.name: d
    for d in (
        DType(name="fp32", bits=32, aliases=("float32", "float", "f32")),
        DType(name="bf16", bits=16, aliases=("bfloat16",)),
        DType(name="fp16", bits=16, aliases=("float16", "half", "f16")),
        DType(name="fp8", bits=8, aliases=("float8", "e4m3", "fp8_e4m3", "float8_e4m3fn")),
        DType(name="int8", bits=8, aliases=("i8", "w8")),
        DType(
            name="int4",
            bits=4,
            group_size=128,
            scale_bytes=2,
            weight_only=True,
            aliases=("i4", "w4"),
        ),
        DType(
            name="fp8-block",
            bits=8,
            group_size=128 * 128,
            scale_bytes=4,
            weight_only=True,
            aliases=("fp8_block", "fp8-128x128", "fp8-blockwise"),
        ),
        DType(
            name="mxfp4",
            bits=4,
            group_size=32,
            scale_bytes=1,
            weight_only=True,
            aliases=("mx-fp4", "fp4-mx"),
        ),
    )
}
_BY_ALIAS = {alias: d for d in DTYPES.values() for alias in (d.name, *d.aliases)}


def get_dtype(name: str) -> DType:
    """Look a dtype up by name or alias (case-insensitive)."""
    try:
        return _BY_ALIAS[name.strip().lower()]
    except KeyError:
        raise unknown_name_error("dtype", name, DTYPES, "llmroof analyze --help") from None


@dataclass(frozen=True, kw_only=True, slots=True)
class Precision:
    """The dtypes of one deployment: weights, activations and the KV cache, chosen separately."""

    weight: DType
    """Linear-layer weights inside the decoder layers (the quantised part of a checkpoint)."""
    activation: DType
    """Activations, and the dtype the matrix products compute in (its peak FLOP/s is the compute roof)."""
    kv: DType
    """The KV cache."""
    expert_weight: DType | None = None
    """Weights of the routed and shared experts of a mixture-of-experts model (None: ``weight``); gpt-oss
    ships its experts in MXFP4 and everything else in bf16."""

    def __post_init__(self) -> None:
        for role, dtype in (("activation", self.activation), ("KV-cache", self.kv)):
            if dtype.weight_only:
                raise ValueError(
                    f"{dtype.name} is a weight-only format and cannot be the {role} dtype; "
                    f"use it as --weight-dtype {dtype.name}"
                )

    @property
    def experts(self) -> DType:
        """Dtype of the experts' weights."""
        return self.expert_weight or self.weight

    @property
    def unquantized(self) -> DType:
        """Dtype of the embedding table, lm_head and norm weights.

        Quantised checkpoints (GPTQ/AWQ int4, fp8 and int8 W8A8) keep these in 16-bit, so they follow the
        activation dtype when that is 16 or 32 bits, and are bf16 otherwise.
        """
        return self.activation if self.activation.bits >= 16 else DTYPES["bf16"]

    @classmethod
    def uniform(cls, name: str = "bf16") -> Precision:
        """Weights, activations and KV cache all in one dtype."""
        dtype = get_dtype(name)
        return cls(weight=dtype, activation=dtype, kv=dtype)


def resolve_precision(
    dtype: str,
    weight_dtype: str | None,
    kv_dtype: str | None,
    group_size: int | None = None,
    expert_dtype: str | None = None,
) -> Precision:
    """``--dtype`` sets activations and, unless overridden, weights and KV cache."""
    act = get_dtype(dtype)
    if act.weight_only:
        raise LlmroofError(
            f"--dtype {act.name} is a weight-only format",
            f"keep --dtype bf16 (or fp16) and pass --weight-dtype {act.name}",
        )
    weight = get_dtype(weight_dtype) if weight_dtype else act
    if group_size is not None:
        if not weight.group_size:
            raise LlmroofError(f"--group-size applies to grouped formats (int4), not {weight.name}")
        if group_size < 1:
            raise LlmroofError("--group-size must be positive")
        weight = weight.with_group_size(group_size)
    kv = get_dtype(kv_dtype) if kv_dtype else act
    try:
        return Precision(
            weight=weight,
            activation=act,
            kv=kv,
            expert_weight=get_dtype(expert_dtype) if expert_dtype else None,
        )
    except ValueError as exc:
        raise LlmroofError(str(exc)) from None
