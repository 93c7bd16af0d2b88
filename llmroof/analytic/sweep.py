"""Sweeps: of one workload axis through the scalar :func:`~llmroof.analytic.analyze` (:func:`sweep`), or of
a grid of several axes through the vectorised :func:`~llmroof.analytic.grid.analyze_grid` in chunks
(:func:`grid_chunks`), and where decode turns from memory- to compute-bound (:func:`crossover`,
:class:`Frontier`)."""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

from llmroof.analytic.analysis import analyze
from llmroof.analytic.workload import Workload
from llmroof.errors import LlmroofError
from llmroof.ranges import USAGE, parse_range_list
from llmroof.specs.hardware import HardwareSpec
from llmroof.specs.model import ModelSpec

AXES = {"batch": "batch", "context": "context_len", "prompt": "prompt_len"}
"""The axes evaluated as arrays (one :func:`~llmroof.analytic.grid.analyze_grid` call covers them)."""
LAYOUT_AXES = ("tp", "pp")
NAME_AXES = ("model", "hardware", "weight-dtype", "kv-dtype")
ALL_AXES = (*AXES, *LAYOUT_AXES, *NAME_AXES)


class SweepRow(NamedTuple):
    """One configuration's headline figures: compact, so sweeps of many thousands stay cheap to keep."""

    model: str
    hardware: str
    batch: int
    prompt_len: int
    context_len: int
    tp: int
    pp: int
    weight_dtype: str
    kv_dtype: str
    ttft_s: float
    tpot_s: float
    tokens_per_s: float
    bytes_per_token: float
    decode_intensity: float
    decode_bound: str
    prefill_bound: str
    fits: bool


def evaluate(model: ModelSpec, hardware: HardwareSpec, workload: Workload) -> SweepRow:
    """Analyse one configuration and keep only its headline figures."""
    a = analyze(model, hardware, workload)
    precision = workload.precision
    bytes_per_token, intensity = decode_figures(workload.batch, a.decode.totals)
    return SweepRow(model.name, hardware.name, workload.batch, workload.prompt_len, workload.context_len,
                    workload.tp, workload.pp, precision.weight.name, precision.kv.name, a.prefill.time_s,
                    a.decode.time_s, a.decode_tokens_per_s, bytes_per_token, intensity, a.decode.bound,
                    a.prefill.bound, a.fits)


def decode_figures(batch: Any, decode_totals: dict[str, Any]) -> tuple[Any, Any]:
    """(bytes per generated token, FLOPs per byte) of a decode step; numbers or arrays over a grid."""
    return decode_totals["bytes"] / batch, decode_totals["flops"] / decode_totals["bytes"]


def parse_sweep(spec: str) -> tuple[str, list[int] | list[str]]:
    """``AXIS=VALUES``: ``batch=1,2,4``, ``context=512..8192`` (doubling), ``context=512..131072:512``
    (arithmetic), ``tp=1..8:1``, ``hardware=h100,a100``. Integer axes parse with
    :func:`llmroof.ranges.parse_range_list`; name axes (model, hardware, dtypes) are comma lists."""
    axis, sep, values = spec.partition("=")
    axis = axis.strip().lower().replace("_", "-")
    if not sep or axis not in ALL_AXES:
        raise LlmroofError(f"--sweep {spec!r}: expected AXIS=VALUES", f"AXIS is one of {', '.join(ALL_AXES)}; "
                           f"VALUES {USAGE}")
    if axis in NAME_AXES:
        names = [part.strip() for part in values.split(",")]
        if not all(names):
            raise LlmroofError(f"--sweep {spec!r}: expected names separated by commas, e.g. {axis}=a,b")
        return axis, list(dict.fromkeys(names))
    try:
        points = parse_range_list(values)
    except ValueError as exc:
        raise LlmroofError(f"--sweep {spec!r}: values must be positive integers ({exc})",
                           f"VALUES is {USAGE}") from None
    return axis, points


def sweep(model: ModelSpec, hardware: HardwareSpec, base: Workload, axis: str, values: list[int]) -> list[SweepRow]:
    """Analyse ``base`` at each value of ``axis`` (``batch``, ``context`` or ``prompt``)."""
    field = AXES[axis]
    rows = []
    for value in values:
        changes: dict[str, Any] = {field: value}
        if field == "batch" and value % base.micro_batches:
            changes["micro_batches"] = 1
        try:
            rows.append(evaluate(model, hardware, dataclasses.replace(base, **changes)))
        except ValueError as exc:
            raise LlmroofError(f"{axis}={value}: {exc}") from None
    return rows


def crossover(rows: list[SweepRow]) -> int | None:
    """Index of the first row where decode is compute-bound after a memory-bound row."""
    for index in range(1, len(rows)):
        if rows[index - 1].decode_bound == "memory" and rows[index].decode_bound == "compute":
            return index
    return None
