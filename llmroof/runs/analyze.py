"""``llmroof analyze --sweep``: sweeps of one axis (``llmroof.sweep/1``) and grids of several
(``llmroof.grid/1``), both on the vectorised grid engine (:mod:`llmroof.analytic.grid`).

The CLI parses its options into a model, a device and a base workload, calls :func:`sweep` with the
``--sweep`` texts, and renders the record it gets back; the Python API can call the same function.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from llmroof.analytic import grid_sweep
from llmroof.analytic.sweep import AXES, crossover, parse_sweep
from llmroof.analytic.sweep import sweep as sweep_rows
from llmroof.analytic.workload import Workload
from llmroof.errors import LlmroofError
from llmroof.results.records.grid import FrontierRow, GridRecord
from llmroof.results.records.sweep import SweepRecord, SweepRow
from llmroof.specs import get_hardware, get_model
from llmroof.specs.dtypes import get_dtype, resolve_precision
from llmroof.specs.hardware import HardwareSpec
from llmroof.specs.model import ModelSpec

Sink = Callable[[dict[str, Any]], object]
"""Receives each chunk of a grid's rows as columns (:func:`llmroof.analytic.grid_sweep.columns`)."""


@dataclass(frozen=True, kw_only=True)
class SweepNames:
    """The command line's own names, from which a sweep's model, hardware and dtype axes resolve."""

    dtype: str = "bf16"
    """Activation dtype (``--dtype``), the default of the others."""
    weight_dtype: str | None = None
    """``--weight-dtype``; None: ``dtype``."""
    kv_dtype: str | None = None
    """``--kv-dtype``; None: ``dtype``."""
    group_size: int | None = None
    """``--group-size`` of grouped weight formats (int4)."""
    kv_heads: int | None = None
    """``--kv-heads``: every swept model's KV heads overridden."""
    attention: str | None = None
    """``--attention`` (mha, gqa, mqa), when ``kv_heads`` is None."""
    hardware_file: Path | None = None
    """``--hardware-file``: devices beyond the catalog."""


@dataclass(frozen=True, kw_only=True)
class GridSweep:
    """A grid sweep as run: its record, and what a summary of it says."""

    record: GridRecord
    layouts: int
    """Valid layouts (model x hardware x tp x pp x dtypes) evaluated."""
    sizes: tuple[int, int, int]
    """Batches, prompts and contexts of each layout's grid."""
    seconds: float
    """Wall time of the evaluation (and of writing the rows)."""
    streamed: bool
    """Whether every row went to ``out`` or to the sink."""


def is_grid(sweeps: Sequence[str], out: Path | None) -> bool:
    """One batch, prompt or context axis without ``out`` is a sweep (``llmroof.sweep/1``); anything else a grid."""
    return not (
        len(sweeps) == 1 and out is None and sweeps[0].partition("=")[0].strip().lower() in AXES
    )


def sweep(
    model: ModelSpec,
    hardware: HardwareSpec,
    workload: Workload,
    sweeps: Sequence[str],
    *,
    names: SweepNames | None = None,
    out: Path | None = None,
    sink: Sink | None = None,
    force: bool = False,
) -> SweepRecord | GridSweep:
    """``llmroof analyze --sweep``: :func:`sweep_axis` for one batch, prompt or context axis, else
    :func:`sweep_grid` (rows streamed to ``out``, a .csv or .jsonl file, or else to ``sink``; ``force``
    replaces a ``NAME.partial`` that llmroof did not write)."""
    if not sweeps:
        raise LlmroofError("a sweep needs at least one AXIS=VALUES", "e.g. --sweep batch=1..1024")
    if not is_grid(sweeps, out):
        return sweep_axis(model, hardware, workload, sweeps[0])
    return sweep_grid(
        model,
        hardware,
        workload,
        sweeps,
        names=names or SweepNames(),
        out=out,
        sink=sink,
        force=force,
    )


def sweep_axis(
    model: ModelSpec, hardware: HardwareSpec, workload: Workload, text: str
) -> SweepRecord:
    """``workload`` at every value of one batch, prompt or context axis (``batch=1..256``)."""
    axis, values = parse_sweep(text)
    if axis not in AXES:
        raise LlmroofError(
            f"--sweep {text!r}: one axis alone must be batch, prompt or context",
            "sweep a layout axis with --out, or beside another axis",
        )
    points = cast(list[int], values)  # batch, prompt and context parse as integers
    rows = sweep_rows(model, hardware, workload, axis, points)
    cross = crossover(rows)
    return SweepRecord(
        model=model.name,
        hardware=hardware.name,
        axis=axis,
        rows=tuple(
            SweepRow(axis=axis, value=value, **row._asdict()) for value, row in zip(points, rows)
        ),
        crossover_value=None if cross is None else points[cross],
    )


def sweep_grid(
    model: ModelSpec,
    hardware: HardwareSpec,
    workload: Workload,
    sweeps: Sequence[str],
    *,
    names: SweepNames,
    out: Path | None = None,
    sink: Sink | None = None,
    force: bool = False,
) -> GridSweep:
    """Every combination of the swept axes: layouts (model, hardware, tp, pp, dtypes) x batch x prompt x context,
    in chunks; the rows go to ``out`` (or ``sink``), the frontier of each layout into the record."""
    axes = _parse_axes(sweeps)
    if "pp" in axes and workload.pp_layers is not None:
        raise LlmroofError("--pp-layers fixes the stages; it cannot go with --sweep pp=...")
    layouts, skipped = _layouts(model, hardware, workload, axes, names)
    if not layouts:
        raise LlmroofError(
            f"no layout of the sweep is valid ({len(skipped)} skipped: {skipped[0]})",
            "sweep tp and pp values that divide the model",
        )
    batch, prompt, context = (
        axes.get(a, [d])
        for a, d in (
            ("batch", workload.batch),
            ("prompt", workload.prompt_len),
            ("context", workload.context_len),
        )
    )
    start = time.perf_counter()
    if out is not None:
        from llmroof.results.stream import stream_format, streamed_file

        kind = stream_format(out)
        with streamed_file(
            out, force=force
        ) as handle:  # a NAME.partial of the user's kept unless force
            frontier, points = grid_sweep.run(
                layouts, batch, prompt, context, chunk_writer(handle, kind)
            )
    else:
        frontier, points = grid_sweep.run(layouts, batch, prompt, context, sink)
    seconds = time.perf_counter() - start
    record = GridRecord(
        axes=axes,
        points=points,
        out=None if out is None else str(out),
        skipped=tuple(skipped),
        frontier=tuple(FrontierRow(**row) for row in frontier.rows()),
    )
    return GridSweep(
        record=record,
        layouts=len(layouts),
        sizes=(len(batch), len(prompt), len(context)),
        seconds=seconds,
        streamed=out is not None or sink is not None,
    )


def chunk_writer(handle: Any, kind: str) -> Sink:
    """A sink that writes each chunk of rows to ``handle`` as ``csv`` or ``jsonl``, the CSV header once."""
    from llmroof.results.stream import write_chunk

    first = [True]

    def write(columns: dict[str, Any]) -> None:
        write_chunk(handle, columns, kind, first[0])
        first[0] = False

    return write


def _parse_axes(sweeps: Sequence[str]) -> dict[str, list[Any]]:
    axes: dict[str, list[Any]] = {}
    for text in sweeps:
        axis, values = parse_sweep(text)
        if axis in axes:
            raise LlmroofError(
                f"--sweep {axis} is given twice", "give each axis once, with all its values"
            )
        axes[axis] = values
    return axes


def _layouts(
    model: ModelSpec,
    hardware: HardwareSpec,
    workload: Workload,
    axes: dict[str, list[Any]],
    names: SweepNames,
) -> tuple[list[grid_sweep.Layout], list[str]]:
    models = [_model(n, names) for n in axes.get("model", [])] or [model]
    devices = [get_hardware(n, names.hardware_file) for n in axes.get("hardware", [])] or [hardware]
    precisions = [
        resolve_precision(
            names.dtype, w, kv, names.group_size if w and get_dtype(w).group_size else None
        )
        for w, kv in itertools.product(
            axes.get("weight-dtype", [names.weight_dtype]), axes.get("kv-dtype", [names.kv_dtype])
        )
    ]
    return grid_sweep.layouts(
        models,
        devices,
        workload,
        axes.get("tp", [workload.tp]),
        axes.get("pp", [workload.pp]),
        precisions,
    )


def _model(name: str, names: SweepNames) -> ModelSpec:
    """A preset or config.json, with the KV-head override applied (``--kv-heads`` wins over ``--attention``)."""
    model = get_model(name)
    if names.kv_heads is not None:
        return model.with_kv_heads(names.kv_heads)
    if names.attention is not None:
        return model.with_attention(names.attention)
    return model
