"""What is being run: batch, lengths, dtypes and the parallel layout (:class:`Workload`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from llmroof.analytic.moe import UNIFORM, Routing
from llmroof.specs.dtypes import Precision

MAX_COUNT = 2**53
"""Largest batch, length or degree: beyond it float figures lose whole units (the CLI refuses it too)."""

AttentionKernel = Literal["eager", "flash"]
Implementation = Literal["fused", "eager"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Workload:
    """One inference workload: a prefill of ``prompt_len`` tokens and a decode step at ``context_len``."""

    batch: int = 1
    """Sequences processed together, b."""
    prompt_len: int = 512
    """Prefill: prompt tokens per sequence, s (the KV cache starts empty)."""
    context_len: int = 2048
    """Decode: tokens in each sequence's KV cache during the step, c, the new token included."""
    precision: Precision = field(default_factory=Precision.uniform)
    """Weight, activation and KV-cache dtypes."""
    tp: int = 1
    """Tensor-parallel ranks."""
    pp: int = 1
    """Pipeline stages."""
    ep: int = 1
    """Expert-parallel ranks (MoE models): each holds E/ep experts and runs attention data-parallel on b/ep
    sequences; GPUs = tp * pp * ep."""
    routing: Routing = UNIFORM
    """How tokens spread over the routed experts (uniform, Zipf, or a measured histogram)."""
    mla_absorbed: bool = True
    """MLA decode with W_UK and W_UV absorbed into the query and output (vLLM, SGLang); False: decompress the
    latent cache every step."""
    micro_batches: int = 1
    """Prefill micro-batches in flight through the pipeline, m (must divide the batch)."""
    pp_layers: tuple[int, ...] | None = None
    """Layers per pipeline stage; None splits evenly, giving the first stages one more when it does not divide."""
    implementation: Implementation = "fused"
    """The op set of the headline phases. ``fused``: minimum traffic (flash attention, every element-wise op
    fused into a neighbouring kernel), the bound; ``eager``: one kernel per op, as llmroof's torch kernels run
    (shaped by ``attention_kernel`` and ``fused_qkv``). :meth:`Analysis.eager` gives the eager set beside."""
    attention_kernel: AttentionKernel = "eager"
    """Eager op set: ``eager``, separate QK^T, softmax and PV ops that materialise the scores; ``flash``, one
    fused op. (The fused set is always flash.)"""
    fused_qkv: bool = False
    """Eager op set: one ``attn.qkv`` projection instead of ``attn.q``, ``attn.k`` and ``attn.v``."""
    all_logits: bool = False
    """Prefill computes logits at every position (default: the last token only, as serving engines do)."""
    memory_reserve_fraction: float = 0.1
    """Share of device memory kept back from weights and KV cache (workspace, fragmentation)."""

    def __post_init__(self) -> None:
        for name in ("batch", "prompt_len", "context_len", "tp", "pp", "ep", "micro_batches"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_COUNT:
                shown = (
                    value
                    if not isinstance(value, int) or abs(value) < 10**20
                    else "a number past 2**53"
                )
                raise ValueError(f"{name} must be a positive integer up to 2**53, got {shown!r}")
        if self.batch % self.micro_batches:
            raise ValueError(
                f"the batch ({self.batch}) does not split into {self.micro_batches} micro-batches"
            )
        if self.implementation not in ("fused", "eager"):
            raise ValueError(
                f"implementation must be 'fused' or 'eager', got {self.implementation!r}"
            )
        if (self.batch // self.micro_batches) % self.ep:
            raise ValueError(
                f"--ep {self.ep} runs attention data-parallel: the batch ({self.batch}) must give each of the "
                f"{self.ep} ranks the same number of sequences in each of the {self.micro_batches} micro-batches"
            )
        if self.attention_kernel not in ("eager", "flash"):
            raise ValueError(
                f"attention_kernel must be 'eager' or 'flash', got {self.attention_kernel!r}"
            )
        if not 0 <= self.memory_reserve_fraction < 1:
            raise ValueError("memory_reserve_fraction must be in [0, 1)")
        if self.pp_layers is not None and len(self.pp_layers) != self.pp:
            raise ValueError(f"pp_layers lists {len(self.pp_layers)} stages, but pp is {self.pp}")
