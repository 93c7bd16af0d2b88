"""``llmroof trace``: read traces, split steps, attribute units to model ops, set them on the roofline."""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from dataclasses import dataclass
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
from llmroof.trace.steps import Step, settle, split_steps
from llmroof.trace.units import Unit, build_units, union_us

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
    if isinstance(info.get("world_size"), int) and info["world_size"] > 1:
        return TraceLayout(tp=info["world_size"], pp=1, ep=1, source="distributedInfo")
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
            return datasheet_roofs(spec, options.dtype or "bf16", gpus)
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
    file's kernels counted in the coverage)."""
    events = [read_trace(p) for p in paths]
    lay = layout(events, options)
    classify = Classifier(options.rules)
    units = [u for e in events[:1] for u in build_units(e, classify)]
    if not units:
        raise LlmroofError(
            f"{shorten(str(paths[0]))}: the trace holds no kernels and no CPU ops",
            "profile with activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]",
        )
    gpu = bool(len(events[0].kernels))
    options = dataclasses.replace(options, dtype=options.dtype or ("bf16" if gpu else "fp32"))
    roofs = (
        resolve_roofs(events, options, lay.tp * lay.pp * lay.ep) if gpu or options.roofs else None
    )
    if roofs is None:
        from llmroof.trace.roofs import machine_roofs

        roofs = machine_roofs(options.dtype or "fp32")
    steps = split_steps(units, events[0].ranges)
    by_pattern = all(s.name.startswith("step ") for s in steps)
    for index, step in enumerate(steps):
        # split by the repeating pattern, with nothing to tell the phases: generate()'s shape, one prefill
        # (--prompt) and then decodes (--context)
        prompt = options.prompt if index == 0 or not by_pattern or options.context is None else None
        settle(step, batch=options.batch, context=options.context, prompt=prompt)
    return _record(paths, events, units, steps, lay, roofs, options)


# --- the analytic side --------------------------------------------------------------------------


def step_ops(
    model: ModelSpec, step: Step, lay: TraceLayout, precision: Precision
) -> dict[str, OpCost]:
    """Op name -> one instance's cost at the step's shape: the fused (minimum-traffic) set, and the eager
    set's names that the fused set lacks (``attn.q``, ``attn.rope``, ``mlp.act``...)."""
    shard = shard_model(model, lay.tp, lay.ep)
    b = step.batch or 1
    shapes = []
    if step.phase in ("prefill", "mixed"):
        s = step.prompt_tokens or 1
        shapes.append(PassShape("prefill", b, s, s, b))
    if step.phase in ("decode", "mixed"):
        shapes.append(PassShape("decode", b, 1, step.context_tokens or 1, b))
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
    intervals: list[tuple[float, float]]
    categories: dict[str, float]
    kernels: dict[str, None]
    count: int = 0
    launches: int = 0
    layers: set[int] | None = None
    bound_s: float = 0.0
    compute_s: float = 0.0
    memory_s: float = 0.0
    bytes: float = 0.0
    flops: float = 0.0
    has_bound: bool = True


def _record(
    paths: list[str | Path],
    events: list[TraceEvents],
    units: list[Unit],
    steps: list[Step],
    lay: TraceLayout,
    roofs: Roofs,
    options: TraceOptions,
) -> TraceRecord:
    model = options.model
    precision = Precision.uniform(options.dtype or "bf16")
    shard = shard_model(model, lay.tp, lay.ep)
    acc: dict[tuple[str, str], _OpAcc] = {}
    attributed_units: dict[int, str] = {}
    step_records = []
    for index, step in enumerate(steps):
        names = attribute(step.units, model, shard)
        costs = step_ops(model, step, lay, precision)
        comm = _comm_bound_s(model, step, lay, precision, roofs)
        attributed = 0.0
        seen: set[tuple[str, int | None]] = set()
        for unit, (name, layer) in zip(step.units, names):
            if name is None:
                continue
            attributed_units[id(unit)] = name
            attributed += unit.busy_us
            entry = acc.setdefault(
                (name, step.phase), _OpAcc([], defaultdict(float), {}, layers=set())
            )
            entry.intervals += unit.intervals
            entry.categories[unit.category] += unit.busy_us
            entry.kernels.update(dict.fromkeys(unit.kernels))
            entry.launches += len(unit.intervals)
            if (name, layer) in seen:
                continue  # a second unit of the same op in the same layer: merged
            seen.add((name, layer))
            entry.count += 1
            if layer is not None and entry.layers is not None:
                entry.layers.add(layer)
            cost = costs.get(name)
            if cost is not None:
                time_s, kind = roofs.op_time_s(cost)
                entry.bound_s += time_s
                entry.compute_s += time_s if kind == "compute" else 0.0
                entry.memory_s += time_s if kind == "memory" else 0.0
                entry.bytes += cost.bytes
                entry.flops += cost.flops
            elif name.startswith("comm.") and comm is not None:
                entry.bound_s += comm
                entry.memory_s += comm
            else:
                entry.has_bound = False
        intervals = [iv for u in step.units for iv in u.intervals]
        start, end = min(s for s, _ in intervals), max(e for _, e in intervals)
        busy = union_us(intervals) / 1e6
        wall = (end - start) / 1e6
        bound = fused_step_bound_s(model, step, lay, precision, roofs)
        step_records.append(
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
    ops = sorted(
        (_op_record(name, phase, entry, roofs) for (name, phase), entry in acc.items()),
        key=lambda o: -o.time_lost_s,
    )
    total = sum(u.busy_us for u in units)
    by_category: dict[str, list[tuple[float, float]]] = defaultdict(list)
    kernel_acc: dict[str, list[Any]] = {}
    for unit in units:
        by_category[unit.category] += unit.intervals
        op = attributed_units.get(id(unit))
        for name, (s, e) in zip(unit.kernels, unit.intervals):
            k = kernel_acc.setdefault(name, [unit.category, defaultdict(float), 0, 0.0])
            k[1][op] += e - s
            k[2] += 1
            k[3] += e - s
    other_files = sum(sum(e.kernels.dur_us) for e in events[1:])
    attributed_us = sum(u.busy_us for u in units if id(u) in attributed_units)
    classified_us = sum(u.busy_us for u in units if u.category != "other")
    categories = sorted(
        (
            CategoryTime(
                category=c,
                time_s=union_us(iv) / 1e6,
                fraction=union_us(iv) / total if total else 0.0,
            )
            for c, iv in by_category.items()
        ),
        key=lambda c: -c.time_s,
    )
    kernels = sorted(
        (
            TraceKernel(
                name=name, category=v[0], op=max(v[1].items(), key=lambda kv: kv[1])[0], count=v[2], time_s=v[3] / 1e6
            )
            for name, v in kernel_acc.items()
        ),
        key=lambda k: -k.time_s,
    )
    warnings = (
        [
            (f"{len(events) - 1} more rank file(s): their {other_files / 1e6:.6g} s of kernels are not "
             "attributed (rank 0's steps are)")
        ]
        if len(events) > 1
        else []
    )
    warnings += [f"{o.op} ({o.phase}): {o.suspect}" for o in ops if o.suspect]
    return TraceRecord(
        files=tuple(str(p) for p in paths),
        hardware=TraceHardware(**roofs.to_dict()),
        model=TraceModel(name=model.name, layers=model.num_layers),
        layout=lay,
        dtype=options.dtype or "bf16",
        device_names=tuple(dict.fromkeys(n for e in events for n in e.device_names)),
        coverage=Coverage(
            kernel_time_s=total / 1e6,
            attributed_fraction=attributed_us / total if total else 0.0,
            classified_fraction=classified_us / total if total else 0.0,
            unattributed_s=(total - attributed_us) / 1e6,
        ),
        categories=tuple(categories),
        steps=tuple(step_records),
        ops=tuple(ops),
        kernels=tuple(kernels),
        warnings=tuple(warnings),
    )


def _op_record(name: str, phase: str, entry: _OpAcc, roofs: Roofs) -> TraceOp:
    time_s = union_us(entry.intervals) / 1e6
    bound_s: float | None = entry.bound_s if entry.has_bound else None
    kind: str | None = None
    if bound_s is not None:
        kind = "compute" if entry.compute_s > entry.memory_s else "memory"
        floor = roofs.launch_floor_s
        if floor is not None and entry.launches * floor > bound_s:
            bound_s, kind = entry.launches * floor, "launch"
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
        layers=len(entry.layers or ()),
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
