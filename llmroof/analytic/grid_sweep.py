"""Sweeps over the grid of several axes: every layout (model x hardware x tp x pp x weight dtype x KV dtype)
times every batch x prompt x context, evaluated by :func:`~llmroof.analytic.grid.analyze_grid` in chunks of
bounded size, so that memory stays flat however large the grid (rows are columns of arrays, never per-op
records), and the :class:`Frontier` of each layout: where decode turns compute-bound and where memory runs out.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from llmroof.analytic.grid import Grid, analyze_grid
from llmroof.analytic.sharding import shard_model, stage_layers
from llmroof.analytic.sweep import FIELDS, decode_figures
from llmroof.analytic.workload import Workload
from llmroof.errors import LlmroofError
from llmroof.specs.dtypes import Precision
from llmroof.specs.hardware import HardwareSpec
from llmroof.specs.model import ModelSpec

CHUNK_POINTS = 1 << 16
"""Grid points evaluated (and held) at once: 64k points x ~20 columns of 8 bytes stay in the tens of MB."""
NONE = np.iinfo(np.int64).max
"""The frontier's "no swept batch" marker while it is being built."""
COLUMNS = (*FIELDS, "max_batch")
"""One row per configuration: :class:`~llmroof.analytic.sweep.SweepRow`'s fields, then the largest batch whose
KV cache at the row's max(prompt, context) tokens fits (``max_batch``; ``fits`` is batch <= it)."""


@dataclass(frozen=True, slots=True)
class Layout:
    """One combination of the non-array axes: what :func:`analyze_grid` is called with."""

    model: ModelSpec
    hardware: HardwareSpec
    workload: Workload
    """tp, pp, precision and options; its batch and lengths are replaced by the grid's."""

    @property
    def key(self) -> tuple[str, str, int, int, str, str]:
        w = self.workload
        return (
            self.model.name,
            self.hardware.name,
            w.tp,
            w.pp,
            w.precision.weight.name,
            w.precision.kv.name,
        )


def layouts(
    models: Sequence[ModelSpec],
    hardware: Sequence[HardwareSpec],
    base: Workload,
    tps: Sequence[int],
    pps: Sequence[int],
    precisions: Sequence[Precision],
) -> tuple[list[Layout], list[str]]:
    """Every valid combination, in the order given (model outermost), and a note for each one skipped (a tp
    that does not divide the model's heads, a pp deeper than its layers)."""
    valid, skipped = [], []
    for model, hw, tp, pp, precision in itertools.product(models, hardware, tps, pps, precisions):
        try:
            shard_model(model, tp)
            explicit = base.pp_layers if pp == base.pp else None
            stage_layers(model.num_layers, pp, explicit)
            workload = dataclasses.replace(
                base,
                batch=base.micro_batches * base.ep,
                tp=tp,
                pp=pp,
                pp_layers=explicit,
                precision=precision,
            )
        except LlmroofError as exc:
            skipped.append(f"{model.name} on {hw.name} tp {tp} pp {pp}: {exc.message}")
            continue
        except ValueError as exc:
            raise LlmroofError(f"tp {tp} pp {pp}: {exc}") from None
        valid.append(Layout(model, hw, workload))
    return valid, skipped


def blocks(sizes: Sequence[int], limit: int = CHUNK_POINTS) -> Iterator[tuple[slice, ...]]:
    """Sub-grids (one slice per axis) of at most ``limit`` points (or one row of the last axis, if longer)
    that cover the grid of ``sizes`` in C order: the first axis slowest."""
    if len(sizes) == 1:
        for start in range(0, sizes[0], limit):
            yield (slice(start, min(start + limit, sizes[0])),)
        return
    inner = int(np.prod(sizes[1:]))
    if inner <= limit:
        step = limit // inner
        for start in range(0, sizes[0], step):
            yield (slice(start, min(start + step, sizes[0])), *(slice(0, n) for n in sizes[1:]))
        return
    for index in range(sizes[0]):
        for rest in blocks(sizes[1:], limit):
            yield (slice(index, index + 1), *rest)


def grid_chunks(
    layout: Layout,
    batch: Sequence[int],
    prompt: Sequence[int],
    context: Sequence[int],
    limit: int = CHUNK_POINTS,
) -> Iterator[tuple[tuple[slice, ...], Grid]]:
    """The layout's grid over batch x prompt x context (C order), as (slices into the three axes, Grid) chunks."""
    axes = [
        np.asarray(batch, dtype=np.int64),
        np.asarray(prompt, dtype=np.int64),
        np.asarray(context, dtype=np.int64),
    ]
    for sb, sp, sc in blocks([len(a) for a in axes], limit):
        try:
            grid = analyze_grid(
                layout.model,
                layout.hardware,
                layout.workload,
                batch=axes[0][sb, None, None],
                prompt_len=axes[1][None, sp, None],
                context_len=axes[2][None, None, sc],
            )
        except ValueError as exc:
            raise LlmroofError(f"{' '.join(map(str, layout.key))}: {exc}") from None
        yield (sb, sp, sc), grid


def columns(layout: Layout, grid: Grid) -> dict[str, Any]:
    """The rows of one chunk as columns (:data:`COLUMNS`): 1-D arrays, or one value for a whole column."""
    model, hardware, tp, pp, weight, kv = layout.key
    bytes_per_token, intensity = decode_figures(
        grid.batch, grid.total("decode", "flops"), grid.total("decode", "bytes")
    )
    values = {
        "model": model,
        "hardware": hardware,
        "batch": grid.batch,
        "prompt_len": grid.prompt_len,
        "context_len": grid.context_len,
        "tp": tp,
        "pp": pp,
        "weight_dtype": weight,
        "kv_dtype": kv,
        "ttft_s": grid.ttft_s,
        "tpot_s": grid.tpot_s,
        "tokens_per_s": grid.decode_tokens_per_s,
        "bytes_per_token": bytes_per_token,
        "decode_intensity": intensity,
        "decode_bound": grid.bound("decode"),
        "prefill_bound": grid.bound("prefill"),
        "fits": grid.fits,
        "max_batch": grid.max_batch,
    }
    return {
        key: value.ravel() if isinstance(value, np.ndarray) else value
        for key, value in values.items()
    }


@dataclass(frozen=True, slots=True)
class _LayoutFrontier:
    """One layout's frontier so far, a (prompt, context) array per figure."""

    compute_bound_batch: np.ndarray
    """Smallest swept batch whose decode step is compute-bound; :data:`NONE` where none is yet."""
    max_fitting_batch: np.ndarray
    """Largest swept batch that fits; 0 where none does yet."""
    tpot_s: np.ndarray
    """Decode TPOT at ``max_fitting_batch``."""
    tokens_per_s: np.ndarray
    """Decode throughput at ``max_fitting_batch``."""
    max_batch: np.ndarray
    """The memory model's largest batch."""

    @classmethod
    def empty(cls, shape: tuple[int, int]) -> _LayoutFrontier:
        return cls(
            compute_bound_batch=np.full(shape, NONE),
            max_fitting_batch=np.zeros(shape, np.int64),
            tpot_s=np.full(shape, np.nan),
            tokens_per_s=np.full(shape, np.nan),
            max_batch=np.zeros(shape, np.int64),
        )


class Frontier:
    """Per layout and (prompt, context): the smallest swept batch whose decode step is compute-bound, the
    largest that fits in memory (with its TPOT and tokens/s), and the memory model's largest batch. Built
    chunk by chunk (:meth:`add`), so it holds prompt x context figures per layout, never the grid."""

    def __init__(self, prompt: Sequence[int], context: Sequence[int]) -> None:
        self.prompt = np.asarray(prompt, dtype=np.int64)
        self.context = np.asarray(context, dtype=np.int64)
        self._layouts: dict[tuple[Any, ...], _LayoutFrontier] = {}

    def add(self, layout: Layout, where: tuple[slice, ...], grid: Grid) -> None:
        shape = (len(self.prompt), len(self.context))
        state = self._layouts.get(layout.key)
        if state is None:
            state = self._layouts[layout.key] = _LayoutFrontier.empty(shape)
        _, sp, sc = where
        batch = grid.batch
        compute = np.where(grid.compute_bound("decode"), batch, NONE).min(axis=0)
        state.compute_bound_batch[sp, sc] = np.minimum(state.compute_bound_batch[sp, sc], compute)
        fitting = np.where(grid.fits, batch, 0)
        best = fitting.argmax(axis=0)  # the chunk's largest fitting batch at each (prompt, context)
        largest = np.take_along_axis(fitting, best[None], axis=0)[0]
        better = largest > state.max_fitting_batch[sp, sc]
        for kept, values in (
            (state.tpot_s, grid.tpot_s),
            (state.tokens_per_s, grid.decode_tokens_per_s),
        ):
            at_best = np.take_along_axis(values, best[None], axis=0)[0]
            kept[sp, sc] = np.where(better, at_best, kept[sp, sc])
        state.max_fitting_batch[sp, sc] = np.where(better, largest, state.max_fitting_batch[sp, sc])
        state.max_batch[sp, sc] = grid.max_batch[0]

    def rows(self) -> list[dict[str, Any]]:
        """One record per layout, prompt and context; None where no swept batch is compute-bound or fits."""
        records = []
        names = ("model", "hardware", "tp", "pp", "weight_dtype", "kv_dtype")
        for key, state in self._layouts.items():
            for i, prompt in enumerate(self.prompt.tolist()):
                for j, context in enumerate(self.context.tolist()):
                    compute = int(state.compute_bound_batch[i, j])
                    fitting = int(state.max_fitting_batch[i, j])
                    records.append(
                        {
                            **dict(zip(names, key)),
                            "prompt_len": prompt,
                            "context_len": context,
                            "compute_bound_batch": None if compute == NONE else compute,
                            "max_fitting_batch": fitting or None,
                            "tpot_s": float(state.tpot_s[i, j]) if fitting else None,
                            "tokens_per_s": float(state.tokens_per_s[i, j]) if fitting else None,
                            "max_batch": int(state.max_batch[i, j]),
                        }
                    )
        return records


def run(
    layouts: Sequence[Layout],
    batch: Sequence[int],
    prompt: Sequence[int],
    context: Sequence[int],
    sink: Callable[[dict[str, Any]], object] | None = None,
    limit: int = CHUNK_POINTS,
) -> tuple[Frontier, int]:
    """Evaluate every layout over batch x prompt x context, chunk by chunk, handing each chunk's
    :func:`columns` to ``sink`` (None: keep only the frontier); returns the frontier and the points evaluated."""
    frontier, points = Frontier(prompt, context), 0
    for layout in layouts:
        for where, grid in grid_chunks(layout, batch, prompt, context, limit):
            frontier.add(layout, where, grid)
            if sink is not None:
                sink(columns(layout, grid))
            points += grid.size
    return frontier, points
