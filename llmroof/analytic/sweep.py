"""Sweeps of one workload axis (batch or context), and where decode turns from memory- to compute-bound."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

from llmroof.analytic.analysis import analyze
from llmroof.analytic.workload import Workload
from llmroof.errors import LlmroofError
from llmroof.specs.hardware import HardwareSpec
from llmroof.specs.model import ModelSpec

AXES = {"batch": "batch", "context": "context_len", "prompt": "prompt_len"}


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
    decode = a.decode.totals
    precision = workload.precision
    return SweepRow(model.name, hardware.name, workload.batch, workload.prompt_len, workload.context_len,
                    workload.tp, workload.pp, precision.weight.name, precision.kv.name, a.prefill.time_s,
                    a.decode.time_s, a.decode_tokens_per_s, decode["bytes"] / workload.batch,
                    decode["flops"] / decode["bytes"], a.decode.bound, a.prefill.bound, a.fits)


def parse_sweep(spec: str) -> tuple[str, list[int]]:
    """``"batch=1,2,4"`` or ``"context=512..8192"`` (powers of two from 512 to 8192)."""
    axis, sep, values = spec.partition("=")
    axis = axis.strip().lower()
    if not sep or axis not in AXES:
        raise LlmroofError(f"--sweep {spec!r}: expected AXIS=VALUES", f"AXIS is one of {', '.join(AXES)}; "
                           "VALUES a list (1,2,4) or a doubling range (1..256)")
    points: list[int] = []
    try:
        for part in values.split(","):
            part = part.strip()
            if ".." in part:
                lo, hi = (int(x) for x in part.split(".."))
                if lo < 1 or hi < lo:
                    raise ValueError
                v = lo
                while v <= hi:
                    points.append(v)
                    v *= 2
            else:
                points.append(int(part))
    except ValueError:
        raise LlmroofError(f"--sweep {spec!r}: values must be positive integers, as 1,2,4 or 1..256") from None
    if not points or min(points) < 1:
        raise LlmroofError(f"--sweep {spec!r}: values must be positive integers")
    return axis, points


def sweep(model: ModelSpec, hardware: HardwareSpec, base: Workload, axis: str, values: list[int]) -> list[SweepRow]:
    """Analyse ``base`` at each value of ``axis`` (``batch``, ``context`` or ``prompt``)."""
    field = AXES[axis]
    rows = []
    for value in values:
        changes = {field: value}
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
