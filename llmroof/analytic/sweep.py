"""Sweeps: of one workload axis (:func:`sweep`), or of a grid of several axes in chunks
(:mod:`llmroof.analytic.grid_sweep`), both through the vectorised :func:`~llmroof.analytic.grid.analyze_grid`,
and where decode turns from memory- to compute-bound (:func:`crossover`, :class:`Frontier`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class SweepRow:
    """One configuration's headline figures: compact, so sweeps of many thousands stay cheap to keep.

    The ``llmroof.sweep/1`` record's rows are this type after their axis and value
    (:class:`llmroof.results.records.sweep.SweepRow`); its fields are the grid's columns
    (:data:`llmroof.analytic.grid_sweep.COLUMNS`)."""

    model: str
    """Model name."""
    hardware: str
    """Catalog key of the device."""
    batch: int
    """b, sequences."""
    prompt_len: int
    """s, tokens."""
    context_len: int
    """c, tokens."""
    tp: int
    """Tensor-parallel degree."""
    pp: int
    """Pipeline stages."""
    weight_dtype: str
    """Dtype of the decoder's linear weights."""
    kv_dtype: str
    """KV-cache dtype."""
    ttft_s: float
    """Time to first token (analytic lower bound)."""
    tpot_s: float
    """Time per output token (analytic lower bound)."""
    tokens_per_s: float | None
    """Decode throughput."""
    bytes_per_token: float
    """Decode bytes per generated token."""
    decode_intensity: float | None
    """Decode FLOP/byte."""
    decode_bound: str
    """``compute`` or ``memory``."""
    prefill_bound: str
    """``compute`` or ``memory``."""
    fits: bool
    """Weights and KV cache fit."""

    def _asdict(self) -> dict[str, Any]:
        """The figures by name (this type's fields only), as a NamedTuple's ``_asdict``."""
        return {name: getattr(self, name) for name in FIELDS}


FIELDS = tuple(f.name for f in dataclasses.fields(SweepRow))
""":class:`SweepRow`'s fields, in order."""


def evaluate(model: ModelSpec, hardware: HardwareSpec, workload: Workload) -> SweepRow:
    """Analyse one configuration and keep only its headline figures."""
    a = analyze(model, hardware, workload)
    precision = workload.precision
    bytes_per_token, intensity = decode_figures(workload.batch, a.decode.flops, a.decode.bytes)
    return SweepRow(
        model.name,
        hardware.name,
        workload.batch,
        workload.prompt_len,
        workload.context_len,
        workload.tp,
        workload.pp,
        precision.weight.name,
        precision.kv.name,
        a.prefill.time_s,
        a.decode.time_s,
        a.decode_tokens_per_s,
        bytes_per_token,
        intensity,
        a.decode.bound,
        a.prefill.bound,
        a.fits,
    )


def decode_figures(batch: Any, flops: Any, nbytes: Any) -> tuple[Any, Any]:
    """(bytes per generated token, FLOPs per byte) of a decode step of ``flops`` and ``nbytes``; numbers or
    arrays over a grid."""
    return nbytes / batch, flops / nbytes


def parse_sweep(spec: str) -> tuple[str, list[int] | list[str]]:
    """``AXIS=VALUES``: ``batch=1,2,4``, ``context=512..8192`` (doubling), ``context=512..131072:512``
    (arithmetic), ``tp=1..8:1``, ``hardware=h100,a100``. Integer axes parse with
    :func:`llmroof.ranges.parse_range_list`; name axes (model, hardware, dtypes) are comma lists."""
    axis, sep, values = spec.partition("=")
    axis = axis.strip().lower().replace("_", "-")
    if not sep or axis not in ALL_AXES:
        raise LlmroofError(
            f"--sweep {spec!r}: expected AXIS=VALUES",
            f"AXIS is one of {', '.join(ALL_AXES)}; VALUES {USAGE}",
        )
    if axis in NAME_AXES:
        names = [part.strip() for part in values.split(",")]
        if not all(names):
            raise LlmroofError(
                f"--sweep {spec!r}: expected names separated by commas, e.g. {axis}=a,b"
            )
        return axis, list(dict.fromkeys(names))
    try:
        points = parse_range_list(values)
    except ValueError as exc:
        raise LlmroofError(
            f"--sweep {spec!r}: values must be positive integers ({exc})", f"VALUES is {USAGE}"
        ) from None
    return axis, points


def sweep(
    model: ModelSpec, hardware: HardwareSpec, base: Workload, axis: str, values: list[int]
) -> list[SweepRow]:
    """Analyse ``base`` at each value of ``axis`` (``batch``, ``context`` or ``prompt``): one
    :func:`~llmroof.analytic.grid.analyze_grid` call over all the values (each row the float the scalar
    :func:`evaluate` computes, bit for bit), or value by value where the grid's 64-bit integers would overflow.
    A batch that does not split into the workload's micro-batches is analysed with one, as the grid does."""
    _check_values(base, axis, values)
    try:
        return _grid_rows(model, hardware, base, axis, values)
    except ValueError:  # beyond int64 (a batch x length^2 too large): Python's exact integers
        return _scalar_rows(model, hardware, base, axis, values)


def _check_values(base: Workload, axis: str, values: list[int]) -> None:
    """The error the scalar path gives at the first value whose workload is invalid: a batch that the
    expert-parallel ranks cannot share (the lengths are positive integers, as parsed)."""
    if AXES[axis] != "batch" or base.ep == 1:
        return
    m, ep = base.micro_batches, base.ep
    for value in values:
        if (value // (1 if value % m else m)) % ep:
            try:
                _workload(base, "batch", value)
            except ValueError as exc:
                raise LlmroofError(f"{axis}={value}: {exc}") from None


def _workload(base: Workload, field: str, value: int) -> Workload:
    changes: dict[str, Any] = {field: value}
    if field == "batch" and value % base.micro_batches:
        changes["micro_batches"] = 1
    return dataclasses.replace(base, **changes)


def _scalar_rows(
    model: ModelSpec, hardware: HardwareSpec, base: Workload, axis: str, values: list[int]
) -> list[SweepRow]:
    field = AXES[axis]
    rows = []
    for value in values:
        try:
            rows.append(evaluate(model, hardware, _workload(base, field, value)))
        except ValueError as exc:
            raise LlmroofError(f"{axis}={value}: {exc}") from None
    return rows


def _grid_rows(
    model: ModelSpec, hardware: HardwareSpec, base: Workload, axis: str, values: list[int]
) -> list[SweepRow]:
    import numpy as np

    from llmroof.analytic.grid import analyze_grid

    field = AXES[axis]
    grid = analyze_grid(model, hardware, base, **{field: np.asarray(values)})
    bytes_per_token, intensity = decode_figures(
        grid.batch, grid.total("decode", "flops"), grid.total("decode", "bytes")
    )
    n, precision = len(values), base.precision
    constant = {
        "model": model.name,
        "hardware": hardware.name,
        "tp": base.tp,
        "pp": base.pp,
        "weight_dtype": precision.weight.name,
        "kv_dtype": precision.kv.name,
    }
    arrays = {
        "batch": grid.batch,
        "prompt_len": grid.prompt_len,
        "context_len": grid.context_len,
        "ttft_s": grid.ttft_s,
        "tpot_s": grid.tpot_s,
        "tokens_per_s": grid.decode_tokens_per_s,
        "bytes_per_token": bytes_per_token,
        "decode_intensity": intensity,
        "decode_bound": grid.bound("decode"),
        "prefill_bound": grid.bound("prefill"),
        "fits": grid.fits,
    }
    columns = [
        [constant[f]] * n if f in constant else np.broadcast_to(arrays[f], (n,)).tolist()
        for f in FIELDS
    ]
    return [SweepRow(*row) for row in zip(*columns)]


def crossover(rows: Sequence[Any]) -> int | None:
    """Index of the first row where decode is compute-bound after a memory-bound row (rows with a
    ``decode_bound``: :class:`SweepRow`, or the ``llmroof.sweep/1`` record's)."""
    for index in range(1, len(rows)):
        if rows[index - 1].decode_bound == "memory" and rows[index].decode_bound == "compute":
            return index
    return None
