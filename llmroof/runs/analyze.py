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
from typing import TYPE_CHECKING, Any, cast

from llmroof.analytic.moe import Routing
from llmroof.analytic.workload import AttentionKernel, Implementation, Workload
from llmroof.errors import LlmroofError
from llmroof.results.records.analysis import AnalysisRecord
from llmroof.specs import get_hardware, get_model
from llmroof.specs.dtypes import get_dtype, resolve_precision
from llmroof.specs.hardware import HardwareSpec
from llmroof.specs.model import ModelSpec

if TYPE_CHECKING:  # numpy, and the sweep and grid records: imported when a sweep runs
    from llmroof.analytic.grid_sweep import Layout
    from llmroof.results.records.grid import GridRecord
    from llmroof.results.records.sweep import SweepRecord

Sink = Callable[[dict[str, Any]], object]
"""Receives each chunk of a grid's rows as columns (:func:`llmroof.analytic.grid_sweep.columns`)."""


@dataclass(frozen=True, kw_only=True)
class AnalyzeOptions:
    """What ``llmroof analyze`` (and :func:`llmroof.analyze`) is asked: a model, a device and a workload,
    by the names the command line uses. The one place they become specs and a :class:`Workload`."""

    model: str = "llama-3-8b"
    """A preset, or a config.json (or its folder)."""
    hardware: str = "h100-sxm"
    """A catalog device (or one of ``hardware_file``)."""
    batch: int = 1
    """Sequences per batch."""
    prompt_len: int = 512
    """Prefill: prompt tokens per sequence."""
    context_len: int = 2048
    """Decode: KV-cache tokens per sequence during the step (new token included)."""
    tp: int = 1
    """Tensor-parallel ranks."""
    pp: int = 1
    """Pipeline stages."""
    ep: int = 1
    """Expert-parallel ranks (MoE)."""
    micro_batches: int = 1
    """Prefill micro-batches in the pipeline."""
    pp_layers: Sequence[int] | None = None
    """Layers per stage; None: as even as the model allows."""
    dtype: str = "bf16"
    """Activation (compute) dtype, the default of the others."""
    weight_dtype: str | None = None
    """Decoder linear weights' dtype; None: ``dtype``."""
    kv_dtype: str | None = None
    """KV-cache dtype; None: ``dtype``."""
    group_size: int | None = None
    """Quantisation group size of grouped weight formats (int4)."""
    expert_dtype: str | None = None
    """MoE experts' weight dtype; None: the weights'."""
    zipf: float = 0.0
    """Skewed expert routing: Zipf exponent of the expert load (0: uniform)."""
    expert_load: Sequence[float] | Path | None = None
    """A measured expert-load histogram (one count or share per expert), or a file of one (a JSON list,
    or numbers separated by commas, spaces or lines)."""
    mla_absorbed: bool = True
    """MLA decode with absorbed weights (False: the latent cache decompressed)."""
    kv_heads: int | None = None
    """Override the model's KV heads (wins over ``attention``)."""
    attention: str | None = None
    """mha (kv heads = heads), gqa or mqa (kv heads = 1)."""
    implementation: Implementation = "fused"
    """Op set of the headline: fused (minimum traffic, the bound) or eager (one kernel per op)."""
    attention_kernel: AttentionKernel = "eager"
    """Eager op set: eager (QK^T, softmax, PV ops) or flash (one fused op)."""
    fused_qkv: bool = False
    """Eager op set: one attn.qkv projection."""
    all_logits: bool = False
    """Prefill computes logits at every position."""
    reserve: float = 0.1
    """Share of device memory kept back from weights and KV cache."""
    hardware_file: Path | None = None
    """A TOML or JSON file of devices beyond the catalog."""

    def model_spec(self, name: str | None = None) -> ModelSpec:
        """``model`` (or ``name``, a swept model) with the KV-head override applied."""
        spec = get_model(name or self.model)
        if self.kv_heads is not None:
            return spec.with_kv_heads(self.kv_heads)
        if self.attention is not None:
            return spec.with_attention(self.attention)
        return spec

    def device(self, name: str | None = None) -> HardwareSpec:
        """``hardware`` (or ``name``, a swept device)."""
        return get_hardware(name or self.hardware, self.hardware_file)

    def workload(self) -> Workload:
        """The :class:`Workload` these options describe; a bad combination is a user error."""
        try:
            return Workload(
                batch=self.batch,
                prompt_len=self.prompt_len,
                context_len=self.context_len,
                precision=resolve_precision(
                    self.dtype, self.weight_dtype, self.kv_dtype, self.group_size, self.expert_dtype
                ),
                tp=self.tp,
                pp=self.pp,
                ep=self.ep,
                micro_batches=self.micro_batches,
                pp_layers=None if self.pp_layers is None else tuple(self.pp_layers),
                routing=self.routing(),
                mla_absorbed=self.mla_absorbed,
                implementation=self.implementation,
                attention_kernel=self.attention_kernel,
                fused_qkv=self.fused_qkv,
                all_logits=self.all_logits,
                memory_reserve_fraction=self.reserve,
            )
        except ValueError as exc:
            raise LlmroofError(str(exc)) from None

    def routing(self) -> Routing:
        """Uniform, Zipf-skewed (``zipf``) or measured (``expert_load``) expert routing."""
        if self.expert_load is not None and self.zipf:
            raise LlmroofError(
                "--zipf and --expert-load both describe the routing", "pass one of them"
            )
        load = self.expert_load
        if isinstance(load, Path):
            load = read_expert_load(load)
        try:
            return Routing(
                zipf_s=self.zipf,
                expert_load=None if load is None else tuple(float(v) for v in load),
            )
        except ValueError as exc:
            raise LlmroofError(f"--expert-load/--zipf: {exc}") from None


def read_expert_load(path: Path) -> tuple[float, ...]:
    """``--expert-load FILE``: a JSON list, or numbers separated by commas, spaces or lines."""
    from llmroof.readers import decode_text, parse_json, read_bytes

    source = f"--expert-load {path}"
    text = decode_text(read_bytes(path), source)
    try:
        values = (
            parse_json(text, source)
            if text.lstrip().startswith("[")
            else text.replace(",", " ").split()
        )
        return tuple(float(v) for v in values)
    except (ValueError, TypeError):
        raise LlmroofError(
            f"--expert-load {path}: expected one number per expert (a JSON list, or "
            "numbers separated by commas, spaces or lines)"
        ) from None


def analyze(options: AnalyzeOptions) -> AnalysisRecord:
    """``llmroof analyze``: the analytic roofline of one workload, per op and per phase."""
    from llmroof.analytic import checked_analyze

    model, device = options.model_spec(), options.device()
    return AnalysisRecord.of(checked_analyze(model, device, options.workload()))


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

    @property
    def summary(self) -> str:
        """One line: how many configurations, of what, in how long, and where every row went."""
        batches, prompts, contexts = self.sizes
        out = self.record.out
        return (
            f"{self.record.points:,} configurations ({self.layouts} layouts x {batches} batches x "
            f"{prompts} prompts x {contexts} contexts) in {self.seconds:.2f} s"
            + (f"; every row in {out}" if out else "")
        )


def is_grid(sweeps: Sequence[str], out: Path | None) -> bool:
    """One batch, prompt or context axis without ``out`` is a sweep (``llmroof.sweep/1``); anything else a grid."""
    from llmroof.analytic.sweep import AXES  # the sweep engine: imported when a sweep runs

    return not (
        len(sweeps) == 1 and out is None and sweeps[0].partition("=")[0].strip().lower() in AXES
    )


def sweep(
    options: AnalyzeOptions,
    sweeps: Sequence[str],
    *,
    out: Path | None = None,
    sink: Sink | None = None,
    force: bool = False,
) -> SweepRecord | GridSweep:
    """``llmroof analyze --sweep``: :func:`sweep_axis` for one batch, prompt or context axis, else
    :func:`sweep_grid` (rows streamed to ``out``, a .csv or .jsonl file, or else to ``sink``; ``force``
    replaces a ``NAME.partial`` that llmroof did not write)."""
    if not sweeps:
        raise LlmroofError("a sweep needs at least one AXIS=VALUES", "e.g. --sweep batch=1..1024")
    model, hardware, workload = options.model_spec(), options.device(), options.workload()
    if out is not None:  # before anything runs: a target that cannot be written would lose the rows
        from llmroof.results.stream import check_stream_target, stream_format

        stream_format(out)
        check_stream_target(out, force=force)
    if not is_grid(sweeps, out):
        return sweep_axis(model, hardware, workload, sweeps[0])
    return sweep_grid(options, sweeps, out=out, sink=sink, force=force)


def sweep_axis(
    model: ModelSpec, hardware: HardwareSpec, workload: Workload, text: str
) -> SweepRecord:
    """``workload`` at every value of one batch, prompt or context axis (``batch=1..256``)."""
    from llmroof.analytic.sweep import AXES, crossover, parse_sweep
    from llmroof.analytic.sweep import sweep as sweep_rows
    from llmroof.results.records.sweep import SweepRecord, SweepRow

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
    options: AnalyzeOptions,
    sweeps: Sequence[str],
    *,
    out: Path | None = None,
    sink: Sink | None = None,
    force: bool = False,
) -> GridSweep:
    """Every combination of the swept axes: layouts (model, hardware, tp, pp, dtypes) x batch x prompt x context,
    in chunks; the rows go to ``out`` (or ``sink``), the frontier of each layout into the record."""
    from llmroof.results.records.grid import FrontierRow, GridRecord

    workload = options.workload()
    axes = _parse_axes(sweeps)
    if "pp" in axes and workload.pp_layers is not None:
        raise LlmroofError("--pp-layers fixes the stages; it cannot go with --sweep pp=...")
    layouts, skipped = _layouts(options, workload, axes)
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
    from llmroof.analytic import grid_sweep

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
    from llmroof.analytic.sweep import parse_sweep

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
    options: AnalyzeOptions, workload: Workload, axes: dict[str, list[Any]]
) -> tuple[list[Layout], list[str]]:
    from llmroof.analytic import grid_sweep

    models = [options.model_spec(n) for n in axes.get("model", [options.model])]
    devices = [options.device(n) for n in axes.get("hardware", [options.hardware])]
    precisions = [
        resolve_precision(
            options.dtype, w, kv, options.group_size if w and get_dtype(w).group_size else None
        )
        for w, kv in itertools.product(
            axes.get("weight-dtype", [options.weight_dtype]),
            axes.get("kv-dtype", [options.kv_dtype]),
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
