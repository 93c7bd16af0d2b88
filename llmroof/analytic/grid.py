"""The analysis of one layout over whole grids of batch, prompt and context at once (numpy).

:func:`analyze_grid` runs the very functions :func:`~llmroof.analytic.analyze` runs (the per-op formulas of
:mod:`llmroof.analytic.ops`, :func:`~llmroof.analytic.analysis.phase`, the memory limits of
:mod:`llmroof.analytic.memory`), with numpy arrays where ``analyze`` has one batch, prompt and context. The
formulas are written with :mod:`llmroof.analytic.arith`, so each element of every array is the float the
scalar path computes for that configuration, bit for bit: the same operations in the same order.

The arrays broadcast against each other: ``batch[:, None]`` with ``context_len[None, :]`` evaluates a
batch x context grid, and ops that do not depend on an axis (the projections do not depend on the context,
the prefill on neither context nor, beyond the batch, anything else) are computed once per row of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from llmroof.analytic.analysis import (
    Phase,
    decode_tokens_per_s,
    layout_of,
    pass_shapes,
    phase,
    stage_memory,
)
from llmroof.analytic.arith import maximum, where
from llmroof.analytic.memory import max_batch, stage_kv_bytes_per_sequence, total_bytes_per_gpu
from llmroof.analytic.workload import Workload
from llmroof.specs.hardware import HardwareSpec
from llmroof.specs.model import ModelSpec

MAX_EXACT_INT = 2**62
"""Largest integer product the grid lets int64 hold (Python ints never overflow; int64 would past 2**63)."""


@dataclass(frozen=True, slots=True)
class Grid:
    """Phase totals and limits of one (model, hardware, layout, precision) at every point of a grid.

    Every array has the grid's :attr:`shape` (read-only broadcast views where a figure does not vary along
    an axis). ``prefill`` and ``decode`` are :class:`~llmroof.analytic.analysis.Phase` records whose
    ``totals``, ``stage_times_s`` and ``time_s`` hold arrays.
    """

    model: ModelSpec
    hardware: HardwareSpec
    workload: Workload
    """The layout, precision and options every point shares (its batch and lengths are not used)."""
    batch: np.ndarray
    prompt_len: np.ndarray
    context_len: np.ndarray
    micro_batches: np.ndarray
    """Prefill micro-batches: the workload's where it divides the batch, else 1 (as ``sweep`` does)."""
    prefill: Phase
    decode: Phase
    stage_weight_bytes: tuple[float, ...]
    stage_kv_bytes_per_token: tuple[float, ...]
    stage_window_kv_bytes_per_token: tuple[float, ...]
    """The windowed layers' share of ``stage_kv_bytes_per_token`` (they keep min(tokens, W))."""
    usable_memory_bytes: float

    @property
    def shape(self) -> tuple[int, ...]:
        return self.batch.shape

    @property
    def size(self) -> int:
        return self.batch.size

    def total(self, phase_name: str, key: str) -> np.ndarray:
        """A phase total (``flops``, ``bytes`` or one of the byte kinds) over the grid."""
        return self._full(getattr(getattr(self, phase_name).totals, key))

    @property
    def ttft_s(self) -> np.ndarray:
        return self._full(self.prefill.time_s)

    @property
    def tpot_s(self) -> np.ndarray:
        return self._full(self.decode.time_s)

    @property
    def decode_tokens_per_s(self) -> np.ndarray:
        return self._full(decode_tokens_per_s(self.batch, self.decode.stage_times_s))

    def bound(self, phase_name: str) -> np.ndarray:
        """``compute`` or ``memory`` at every point."""
        p = getattr(self, phase_name)
        return self._full(p.roofline.bound(p.totals.flops, p.totals.bytes))

    def compute_bound(self, phase_name: str) -> np.ndarray:
        """True where the phase is compute-bound (the boolean form of :meth:`bound`)."""
        return self.bound(phase_name) == "compute"

    @property
    def kv_tokens(self) -> np.ndarray:
        """Tokens each sequence keeps at the workload's peak: max(prompt, context)."""
        return maximum(self.prompt_len, self.context_len)

    def _kv_per_sequence(self) -> list[np.ndarray]:
        return stage_kv_bytes_per_sequence(
            self.stage_kv_bytes_per_token,
            self.stage_window_kv_bytes_per_token,
            self.model.sliding_window,
            self.kv_tokens,
        )

    @property
    def total_bytes_per_gpu(self) -> np.ndarray:
        """Weights plus KV cache at max(prompt, context) tokens on the fullest GPU."""
        return self._full(
            total_bytes_per_gpu(self.stage_weight_bytes, self._kv_per_sequence(), self.batch)
        )

    @property
    def fits(self) -> np.ndarray:
        """batch <= :attr:`max_batch`, as :attr:`Analysis.fits <llmroof.analytic.analysis.Analysis.fits>`."""
        return self.batch <= self.max_batch

    @property
    def max_batch(self) -> np.ndarray:
        """Largest batch whose KV cache at each point's max(prompt, context) fits beside the weights."""
        return self._full(
            max_batch(self.usable_memory_bytes, self.stage_weight_bytes, self._kv_per_sequence())
        )

    def _full(self, values: Any) -> np.ndarray:
        return np.broadcast_to(values, self.shape)


def analyze_grid(
    model: ModelSpec,
    hardware: HardwareSpec,
    workload: Workload,
    *,
    batch: Any = None,
    prompt_len: Any = None,
    context_len: Any = None,
) -> Grid:
    """:func:`~llmroof.analytic.analyze` of ``workload`` at every point of the broadcast of ``batch``,
    ``prompt_len`` and ``context_len`` (integer arrays; None keeps the workload's value)."""
    b = _axis("batch", workload.batch if batch is None else batch)
    s = _axis("prompt_len", workload.prompt_len if prompt_len is None else prompt_len)
    c = _axis("context_len", workload.context_len if context_len is None else context_len)
    shape = np.broadcast_shapes(b.shape, s.shape, c.shape)
    _check_exact(model, b, s, c)
    shard, layers, roofline, _ = layout_of(model, hardware, workload)
    m, ep = workload.micro_batches, workload.ep
    if ep > 1 and (b % ep).any():
        raise ValueError(
            f"--ep {ep} runs attention data-parallel: every batch must be a multiple of {ep}"
        )
    # Prefill micro-batches: the workload's where each rank's share of the batch splits into them, else 1.
    micro = m if m == 1 or not (b % (m * ep)).any() else where(b % (m * ep) == 0, m, 1)
    prefill_shape, decode_shape = pass_shapes(workload, b, s, c, micro)
    prefill = phase(
        "prefill", model, hardware, workload, shard, layers, roofline, prefill_shape, micro
    )
    decode = phase("decode", model, hardware, workload, shard, layers, roofline, decode_shape, 1)
    # As analyze: the resident weights and KV bytes per token of each stage (they do not depend on the shape).
    stage_weights, stage_kv, stage_window_kv = stage_memory(
        model, shard, workload.precision, layers, workload.ep
    )

    def full(x: np.ndarray | int) -> np.ndarray:
        return np.broadcast_to(x, shape)

    return Grid(
        model=model,
        hardware=hardware,
        workload=workload,
        batch=full(b),
        prompt_len=full(s),
        context_len=full(c),
        micro_batches=full(micro),
        prefill=prefill,
        decode=decode,
        stage_weight_bytes=stage_weights,
        stage_kv_bytes_per_token=stage_kv,
        stage_window_kv_bytes_per_token=stage_window_kv,
        usable_memory_bytes=hardware.memory_bytes * (1 - workload.memory_reserve_fraction),
    )


def _axis(name: str, values: Any) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind not in "iu":
        raise ValueError(f"{name} must be integers, got an array of {array.dtype}")
    array = array.astype(np.int64, copy=False)
    if array.size and array.min() < 1:
        raise ValueError(f"{name} must be positive integers")
    return array


def _check_exact(model: ModelSpec, b: np.ndarray, s: np.ndarray, c: np.ndarray) -> None:
    """The largest integer product of the formulas must fit int64, or the grid would differ from Python's exact
    integers: the attention FLOPs' (4d + 5) * b * H * s(s+1)/2 in prefill and (4d + 5) * b * H * c in decode
    (this bound is twice the first)."""
    longest_prompt, longest_context = int(s.max(initial=1)), int(c.max(initial=1))
    pairs = max(longest_prompt * (longest_prompt + 1), longest_context)
    # Per pair: 4d + 5, or MLA's 2(r_kv + d_r) + 2 r_kv + 5 over the latent cache (absorbed decode).
    latent = (model.kv_lora_rank or 0) + (model.qk_rope_head_dim or 0)
    per_pair = (
        4
        * max(model.head_dim, latent, (model.qk_nope_head_dim or 0) + (model.qk_rope_head_dim or 0))
        + 5
    )
    if int(b.max(initial=1)) * model.num_heads * per_pair * pairs >= MAX_EXACT_INT:
        raise ValueError(
            "the grid's largest batch x heads x length^2 would overflow 64-bit integers; "
            "split the grid or use the scalar analyze"
        )
