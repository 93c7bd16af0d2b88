"""``llmroof trace``: read traces, split steps, attribute units to model ops, set them on the roofline."""

from __future__ import annotations

import dataclasses
import functools
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmroof.analytic.comm import allreduce_time_s
from llmroof.analytic.opcost import OpCost
from llmroof.analytic.ops import (
    PassShape,
    embed_op,
    fused_layer_ops,
    head_ops,
    layer_ops,
)
from llmroof.analytic.sharding import shard_model
from llmroof.errors import LlmroofError, shorten
from llmroof.results.records.trace import (
    CategoryTime,
    Coverage,
    TraceHardware,
    TraceKernel,
    TraceLayout,
    TraceModel,
    TraceOp,
    TraceRecord,
    TraceStep,
)
from llmroof.specs.dtypes import Precision
from llmroof.specs.model import ModelSpec
from llmroof.trace.attribute import attribute
from llmroof.trace.events import TraceEvents
from llmroof.trace.roofs import Roofs
from llmroof.trace.rules import Classifier, Rule
from llmroof.trace.steps import PROFILER_STEP, VLLM_STEP, Step, iter_steps, settle
from llmroof.trace.units import Unit, iter_units, union_us

SUSPECT_FRACTION = 1.05
"""An op faster than 1.05x its bound is a mapping error to report, not a result."""
_VLLM_RANK = re.compile(r"dp\d+_pp(\d+)_tp(\d+)")
_SGLANG_RANK = re.compile(r"TP-(\d+)")


@dataclass(frozen=True, kw_only=True)
class TraceOptions:
    """What the trace does not say."""

    model: ModelSpec
    roofs: Roofs | None = None
    """None: the device named in the trace, matched to the catalog (see :func:`resolve_roofs`)."""
    dtype: str | None = None
    """Compute dtype; None: bf16 for GPU traces, fp32 for CPU-only ones."""
    batch: int | None = None
    context: int | None = None
    prompt: int | None = None
    tp: int | None = None
    pp: int | None = None
    ep: int | None = None
    rules: tuple[Rule, ...] = ()
    launch_floor_s: float | None = None
    """The third wall on a GPU: the least time of one kernel (``llmroof ceilings --device cuda``'s
    ``dispatch_floor_s``); datasheet roofs have none of their own."""


def read_trace(path: str | Path) -> TraceEvents:
    """A Chrome-trace JSON (``.json``/``.json.gz``) or an nsys SQLite export, by its first bytes."""
    from llmroof.trace.chrome import read_chrome
    from llmroof.trace.nsys import is_sqlite, read_nsys

    path = Path(path)
    try:
        sqlite = is_sqlite(path)
    except OSError as exc:
        raise LlmroofError(
            f"{shorten(str(path))}: cannot read it: {exc.strerror or exc}", "pass a trace file"
        ) from None
    return read_nsys(path) if sqlite else read_chrome(path)


def layout(events: list[TraceEvents], options: TraceOptions) -> TraceLayout:
    """tp/pp/ep from the options, else ``distributedInfo``, else the engines' file names."""
    if options.tp or options.pp or options.ep:
        return TraceLayout(
            tp=options.tp or 1, pp=options.pp or 1, ep=options.ep or 1, source="options"
        )
    info = events[0].distributed
    for e in events:
        name = Path(e.source).name
        found = _VLLM_RANK.search(name)
        if found:
            return TraceLayout(tp=_tp_size(events, info), pp=1, ep=1, source="file name")
        if _SGLANG_RANK.search(name):
            return TraceLayout(tp=_tp_size(events, info), pp=1, ep=1, source="file name")
    world_size = info.get("world_size")  # the trace file's distributedInfo (PyTorch's own key)
    if isinstance(world_size, int) and world_size > 1:
        return TraceLayout(tp=world_size, pp=1, ep=1, source="distributedInfo")
    return TraceLayout(tp=1, pp=1, ep=1, source="default")


def _tp_size(events: list[TraceEvents], info: dict[str, Any]) -> int:
    size = info.get("world_size")
    return size if isinstance(size, int) and size > 0 else max(len(events), 1)


def resolve_roofs(events: list[TraceEvents], options: TraceOptions, gpus: int) -> Roofs:
    """The options' roofs, else the device the trace names, matched to the catalog."""
    if options.roofs is not None:
        return options.roofs
    from llmroof.measure.profile import match_hardware
    from llmroof.trace.roofs import datasheet_roofs

    names = [n for e in events for n in e.device_names]
    for name in names:
        spec = match_hardware(name)
        if spec is not None:
            return datasheet_roofs(spec, options.dtype or "bf16", gpus, options.launch_floor_s)
    what = (
        f"the trace's device {shorten(names[0], 60)!r} is not in the catalog"
        if names
        else "the trace names no device"
    )
    raise LlmroofError(
        what, "pass --hardware NAME (`llmroof hardware` lists them) or --hardware-file"
    )


def run_trace(paths: list[str | Path], options: TraceOptions) -> TraceRecord:
    """The whole analysis of one run's trace files (one per rank; rank 0's steps are analysed, every
    file's kernels counted in the coverage). Steps are analysed as the units stream by, so memory holds
    one step's units at a time, not the trace's."""
    events = [read_trace(p) for p in paths]
    lay = layout(events, options)
    first = events[0]
    if not len(first.kernels) and not len(first.cpu_ops):
        raise LlmroofError(
            f"{shorten(str(paths[0]))}: the trace holds no kernels and no CPU ops",
            "profile with activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]",
        )
    gpu = bool(len(first.kernels))
    options = dataclasses.replace(options, dtype=options.dtype or ("bf16" if gpu else "fp32"))
    roofs = (
        resolve_roofs(events, options, lay.tp * lay.pp * lay.ep) if gpu or options.roofs else None
    )
    if roofs is None:
        from llmroof.trace.roofs import machine_roofs

        roofs = machine_roofs(options.dtype or "fp32")
    builder = _Builder(options=options, lay=lay, roofs=roofs)
    by_pattern = not any(
        VLLM_STEP.search(r.name) or PROFILER_STEP.search(r.name) for r in first.ranges
    )
    index = 0
    for step, units in iter_steps(iter_units(first, Classifier(options.rules)), first.ranges):
        if step is not None:
            # split by the repeating pattern with nothing to tell the phases: generate()'s shape, one
            # prefill (--prompt), then decodes (--context)
            prompt = (
                options.prompt if index == 0 or not by_pattern or options.context is None else None
            )
            settle(step, batch=options.batch, context=options.context, prompt=prompt)
            builder.add_step(index, step)
            index += 1
        builder.add_units(units)
    return builder.record(paths, events)


# --- the analytic side --------------------------------------------------------------------------


def step_ops(
    model: ModelSpec, step: Step, lay: TraceLayout, precision: Precision
) -> dict[str, OpCost]:
    """Op name -> one instance's cost at the step's shape (cached per shape: steps repeat)."""
    return _step_ops_cached(
        model,
        step.phase,
        step.batch or 1,
        step.prompt_tokens,
        step.context_tokens,
        lay.tp,
        lay.ep,
        precision,
    )


@functools.lru_cache(maxsize=1024)
def _step_ops_cached(
    model: ModelSpec,
    phase: str,
    b: int,
    prompt: int | None,
    context: int | None,
    tp: int,
    ep: int,
    precision: Precision,
) -> dict[str, OpCost]:
    """Op name -> one instance's cost at the step's shape: the fused (minimum-traffic) set, and the eager
    set's names that the fused set lacks (``attn.q``, ``attn.rope``, ``mlp.act``...)."""
    shard = shard_model(model, tp, ep)
    shapes = []
    if phase in ("prefill", "mixed"):
        s = prompt or 1
        shapes.append(PassShape("prefill", b, s, s, b))
    if phase in ("decode", "mixed"):
        shapes.append(PassShape("decode", b, 1, context or 1, b))
    found: dict[str, OpCost] = {}
    for shape in shapes:
        ops = [embed_op(shard, precision, shape, 1), *head_ops(model, shard, precision, shape, 1)]
        ops += fused_layer_ops(model, shard, precision, shape, model.num_layers)
        ops += layer_ops(model, shard, precision, shape, model.num_layers, attention_kernel="flash")
        for op in ops:
            # mixed steps: the larger of the prefill and decode costs, a lower bound of either
            if op.name not in found or (
                op.bytes > found[op.name].bytes and op.flops >= found[op.name].flops
            ):
                found[op.name] = op
    return found


def fused_step_bound_s(
    model: ModelSpec, step: Step, lay: TraceLayout, precision: Precision, roofs: Roofs
) -> float:
    """The step's bound: every op of the fused set, on every layer of this rank, and the collectives."""
    shard = shard_model(model, lay.tp, lay.ep)
    ops = step_ops(model, step, lay, precision)
    per_layer = [
        op.name
        for op in fused_layer_ops(
            model, shard, precision, PassShape("decode", 1, 1, 1, 1), model.num_layers
        )
    ]
    layers = model.num_layers // lay.pp
    total = sum(roofs.op_time_s(ops[name])[0] for name in ("embed", "final_norm", "lm_head"))
    total += layers * sum(roofs.op_time_s(ops[name])[0] for name in dict.fromkeys(per_layer))
    if lay.tp > 1 and roofs.link is not None:
        tokens = (step.batch or 1) * ((step.prompt_tokens or 1) if step.phase == "prefill" else 1)
        total += (
            2
            * layers
            * allreduce_time_s(
                tokens * model.hidden_size * precision.activation.bytes_per_element,
                lay.tp,
                roofs.link,
            )
        )
    return total


def _comm_bound_s(
    model: ModelSpec, step: Step, lay: TraceLayout, precision: Precision, roofs: Roofs
) -> float | None:
    if lay.tp < 2 or roofs.link is None:
        return None
    tokens = (step.batch or 1) * ((step.prompt_tokens or 1) if step.phase == "prefill" else 1)
    return allreduce_time_s(
        tokens * model.hidden_size * precision.activation.bytes_per_element, lay.tp, roofs.link
    )


# --- the record ---------------------------------------------------------------------------------


@dataclass
class _OpAcc:
    """One (op, phase) so far."""

    time_us: float = 0.0
    """Sum over steps of the union of its kernels' intervals in each step."""
    categories: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    kernels: dict[str, None] = field(default_factory=dict)
    count: int = 0
    launches: int = 0
    layers: set[int] = field(default_factory=set)
    bound_s: float = 0.0
    compute_s: float = 0.0
    memory_s: float = 0.0
    bytes: float = 0.0
    flops: float = 0.0
    has_bound: bool = True


@dataclass
class _Builder:
    """The record, accumulated step by step."""

    options: TraceOptions
    lay: TraceLayout
    roofs: Roofs
    ops: dict[tuple[str, str], _OpAcc] = field(default_factory=dict)
    steps: list[TraceStep] = field(default_factory=list)
    total_us: float = 0.0
    attributed_us: float = 0.0
    classified_us: float = 0.0
    categories_us: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    kernels: dict[str, list[Any]] = field(default_factory=dict)
    attributed: dict[int, str] = field(default_factory=dict)
    """id(unit) -> op, for the units of the step being added (cleared by :meth:`add_units`)."""

    def add_step(self, index: int, step: Step) -> None:
        model, lay, roofs = self.options.model, self.lay, self.roofs
        precision = Precision.uniform(self.options.dtype or "bf16")
        names = attribute(step.units, model, shard_model(model, lay.tp, lay.ep))
        costs = step_ops(model, step, lay, precision)
        comm = _comm_bound_s(model, step, lay, precision, roofs)
        attributed = 0.0
        seen: set[tuple[str, int | None]] = set()
        intervals: dict[str, list[tuple[float, float]]] = defaultdict(list)
        timed: dict[
            str, tuple[float, str, float, float]
        ] = {}  # name -> one instance's bound, kind, bytes, FLOPs
        for unit, (name, layer) in zip(step.units, names):
            if name is None:
                continue
            self.attributed[id(unit)] = name
            busy = unit.busy_us
            attributed += busy
            entry = self.ops.setdefault((name, step.phase), _OpAcc())
            intervals[name] += unit.intervals
            entry.categories[unit.category] += busy
            entry.kernels.update(dict.fromkeys(unit.kernels))
            entry.launches += len(unit.intervals)
            if (name, layer) in seen:
                continue  # a second unit of the same op in the same layer: merged
            seen.add((name, layer))
            entry.count += 1
            if layer is not None:
                entry.layers.add(layer)
            cost = costs.get(name)
            if cost is not None:
                if name not in timed:
                    timed[name] = (*roofs.op_time_s(cost), cost.bytes, cost.flops)
                time_s, kind, nbytes, flops = timed[name]
                entry.bound_s += time_s
                entry.compute_s += time_s if kind == "compute" else 0.0
                entry.memory_s += time_s if kind == "memory" else 0.0
                entry.bytes += nbytes
                entry.flops += flops
            elif name.startswith("comm.") and comm is not None:
                entry.bound_s += comm
                entry.memory_s += comm
            else:
                entry.has_bound = False
        for name, spans in intervals.items():
            self.ops[name, step.phase].time_us += union_us(spans)
        spans = [iv for u in step.units for iv in u.intervals]
        start, end = min(spans)[0], max(e for _, e in spans)
        busy, wall = union_us(spans) / 1e6, (end - start) / 1e6
        bound = fused_step_bound_s(model, step, lay, precision, roofs)
        self.steps.append(
            TraceStep(
                index=index,
                name=step.name,
                phase=step.phase,
                batch=step.batch or 1,
                prompt_tokens=step.prompt_tokens if step.phase != "decode" else None,
                context_tokens=step.context_tokens if step.phase != "prefill" else None,
                source=step.source,
                time_s=wall,
                kernel_time_s=busy,
                idle_s=max(wall - busy, 0.0),
                bound_s=bound,
                roofline_fraction=bound / wall if wall > 0 else None,
                attributed_s=attributed / 1e6,
            )
        )

    def add_units(self, units: list[Unit]) -> None:
        """Coverage, categories and kernels of units (in a step, after :meth:`add_step`, or in none)."""
        by_category: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for unit in units:
            busy = unit.busy_us
            self.total_us += busy
            op = self.attributed.get(id(unit))
            self.attributed_us += busy if op is not None else 0.0
            self.classified_us += busy if unit.category != "other" else 0.0
            by_category[unit.category] += unit.intervals
            for name, (s, e) in zip(unit.kernels, unit.intervals):
                k = self.kernels.setdefault(name, [unit.category, defaultdict(float), 0, 0.0])
                k[1][op] += e - s
                k[2] += 1
                k[3] += e - s
        for category, spans in by_category.items():
            self.categories_us[category] += union_us(spans)
        self.attributed.clear()

    def record(self, paths: list[str | Path], events: list[TraceEvents]) -> TraceRecord:
        model, total = self.options.model, self.total_us
        ops = sorted(
            (
                _op_record(name, phase, entry, self.roofs)
                for (name, phase), entry in self.ops.items()
            ),
            key=lambda o: -o.time_lost_s,
        )
        categories = sorted(
            (
                CategoryTime(category=c, time_s=t / 1e6, fraction=t / total if total else 0.0)
                for c, t in self.categories_us.items()
            ),
            key=lambda c: -c.time_s,
        )
        kernels = sorted(
            (
                TraceKernel(
                    name=name,
                    category=v[0],
                    op=max(v[1].items(), key=lambda kv: kv[1])[0],
                    count=v[2],
                    time_s=v[3] / 1e6,
                )
                for name, v in self.kernels.items()
            ),
            key=lambda k: -k.time_s,
        )
        other_files = sum(sum(e.kernels.dur_us) for e in events[1:])
        warnings = (
            [
                (
                    f"{len(events) - 1} more rank file(s): their {other_files / 1e6:.6g} s of kernels are not "
                    "attributed (rank 0's steps are)"
                )
            ]
            if len(events) > 1
            else []
        )
        warnings += [f"{o.op} ({o.phase}): {o.suspect}" for o in ops if o.suspect]
        if not self.steps:
            warnings.append(
                "no step found: no ProfilerStep#, execute_... or NVTX step range, and no embedding"
            )
        return TraceRecord(
            files=tuple(str(p) for p in paths),
            hardware=TraceHardware(**self.roofs.to_dict()),
            model=TraceModel(name=model.name, layers=model.num_layers),
            layout=self.lay,
            dtype=self.options.dtype or "bf16",
            device_names=tuple(dict.fromkeys(n for e in events for n in e.device_names)),
            coverage=Coverage(
                kernel_time_s=total / 1e6,
                attributed_fraction=self.attributed_us / total if total else 0.0,
                classified_fraction=self.classified_us / total if total else 0.0,
                unattributed_s=(total - self.attributed_us) / 1e6,
            ),
            categories=tuple(categories),
            steps=tuple(self.steps),
            ops=tuple(ops),
            kernels=tuple(kernels),
            warnings=tuple(warnings),
        )


def _op_record(name: str, phase: str, entry: _OpAcc, roofs: Roofs) -> TraceOp:
    time_s = entry.time_us / 1e6
    bound_s: float | None = entry.bound_s if entry.has_bound else None
    kind: str | None = None
    if bound_s is not None:
        kind = "compute" if entry.compute_s > entry.memory_s else "memory"
        # The third wall labels the op; it does not raise the bound: the floor is timed from Python (a call's
        # interpreter overhead included) while a profiler times the op inside the dispatcher, so the floor
        # explains an op's time without being a lower bound of it.
        floor = roofs.launch_floor_s
        if floor is not None and entry.launches * floor > bound_s:
            kind = "launch"
    fraction = bound_s / time_s if bound_s is not None and time_s > 0 else None
    suspect = None
    if fraction is not None and fraction > SUSPECT_FRACTION:
        suspect = (
            f"measured {time_s:.3g} s is {fraction:.2f}x faster than its bound: its kernels are likely "
            "attributed to the wrong op, or the batch/context is wrong (--batch/--context)"
        )
    return TraceOp(
        op=name,
        phase=phase,
        category=max(entry.categories.items(), key=lambda kv: kv[1])[0],
        count=entry.count,
        layers=len(entry.layers),
        time_s=time_s,
        bound_s=bound_s,
        roofline_fraction=fraction,
        bound=kind,
        kernels=tuple(entry.kernels),
        launches=entry.launches,
        time_lost_s=time_s - (bound_s or 0.0),
        achieved_bytes_per_s=entry.bytes / time_s if time_s and entry.bytes else None,
        achieved_flops_per_s=entry.flops / time_s if time_s and entry.flops else None,
        suspect=suspect,
    )
