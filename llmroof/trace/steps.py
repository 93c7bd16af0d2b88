"""Engine steps of a trace and their phase, batch and context.

Steps come from, in order of preference: vLLM's ``execute_context_N(T)_generation_M(U)`` annotations (N
prefill requests of T tokens in all, M decode requests of U tokens), ``ProfilerStep#N`` (torch.profiler's
``step()``), NVTX ranges of either name; else the repeating pattern of the model: a new step at every
embedding lookup. Batch and context come from the annotation, else the input shapes the trace recorded
(the embedding's token ids ``[b, s]``, the attention's keys ``[b, h, s_k, d]``), else the options;
:attr:`Step.source` says which.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from llmroof.trace.events import Range
from llmroof.trace.units import Unit

VLLM_STEP = re.compile(r"execute_context_(\d+)\((\d+)\)_generation_(\d+)\((\d+)\)")
PROFILER_STEP = re.compile(r"^ProfilerStep#\d+$")


@dataclass
class Step:
    """One engine step: its units and what it ran."""

    name: str
    units: list[Unit]
    phase: str = "decode"
    """``prefill``, ``decode`` or ``mixed``."""
    batch: int | None = None
    prompt_tokens: int | None = None
    """Prefill: prompt tokens per sequence."""
    context_tokens: int | None = None
    """Decode: tokens in each sequence's KV cache, the new one included."""
    source: str = "options"
    """Where batch and context came from: ``annotation``, ``shapes`` or ``options``."""


def iter_steps(
    units: Iterable[Unit], ranges: list[Range]
) -> Iterator[tuple[Step | None, list[Unit]]]:
    """The steps of one trace, in order, each with its units, as the units stream by; ``(None, units)`` for
    units outside every step range (counted in the coverage, attributed to nothing)."""
    for pattern in (VLLM_STEP, PROFILER_STEP):
        chosen = sorted((r for r in ranges if pattern.search(r.name)), key=lambda r: r.start_us)
        # Kineto writes ProfilerStep# twice, on the CPU thread and on the device timeline: the CPU one, where
        # there is one, holds every launch of the step (kernels are placed by when they were launched)
        chosen = [r for r in chosen if not r.gpu] or chosen
        if chosen:
            yield from _by_ranges(units, _disjoint(chosen))
            return
    yield from _by_embedding(units)


def split_steps(units: list[Unit], ranges: list[Range]) -> list[Step]:
    """Every step of one trace (:func:`iter_steps`, held whole)."""
    return [step for step, _ in iter_steps(units, ranges) if step is not None]


def _disjoint(ranges: list[Range]) -> list[Range]:
    kept: list[Range] = []
    for r in ranges:
        if not kept or r.start_us >= kept[-1].end_us:
            kept.append(r)
    return kept


def _by_ranges(
    units: Iterable[Unit], ranges: list[Range]
) -> Iterator[tuple[Step | None, list[Unit]]]:
    """Consecutive units in the same range make a step (a range whose units come back after another's
    makes a second step of that name)."""
    starts = [r.start_us for r in ranges]
    gpu_side = all(r.gpu for r in ranges)
    current: int | None = None
    pending: list[Unit] = []
    for unit in units:
        point = unit.gpu_us if gpu_side or unit.cpu_us is None else unit.cpu_us
        found = bisect_right(starts, point) - 1
        index = found if found >= 0 and point <= ranges[found].end_us else None
        if index != current and pending:
            yield _ranged_step(ranges, current, pending)
            pending = []
        current = index
        pending.append(unit)
    if pending:
        yield _ranged_step(ranges, current, pending)


def _ranged_step(
    ranges: list[Range], index: int | None, units: list[Unit]
) -> tuple[Step | None, list[Unit]]:
    if index is None:
        return None, units
    step = Step(name=ranges[index].name, units=units)
    found = VLLM_STEP.search(step.name)
    if found:
        prefills, prefill_tokens, decodes, _ = map(int, found.groups())
        step.phase = "mixed" if prefills and decodes else ("prefill" if prefills else "decode")
        step.batch = prefills + decodes
        step.prompt_tokens = prefill_tokens // prefills if prefills else None
        step.source = "annotation"
    return step, units


def _by_embedding(units: Iterable[Unit]) -> Iterator[tuple[Step | None, list[Unit]]]:
    """A new step at every embedding lookup; what comes before the first one belongs to no step."""
    count, started = 0, False
    pending: list[Unit] = []
    for unit in units:
        if unit.role == "embed" and pending:
            yield (
                (Step(name=f"step {count}", units=pending), pending) if started else (None, pending)
            )
            count += started
            pending = []
        started = started or unit.role == "embed"
        pending.append(unit)
    if pending:  # no embedding at all: the whole trace is one step
        yield Step(name=f"step {count}" if started else "trace", units=pending), pending


def shape_facts(step: Step) -> tuple[int | None, int | None, int | None]:
    """(batch, tokens per sequence, keys per sequence) from the step's recorded input shapes."""
    batch = tokens = keys = None
    for unit in step.units:
        shape = unit.shape
        if not shape:
            continue
        if unit.role == "embed" and batch is None:
            # (weight, ids): ids [b, s] (Hugging Face); flattened [t] (vLLM, SGLang) does not say b from s
            ids = shape[1] if len(shape) > 1 and len(shape[1]) == 2 else None
            if ids:
                batch, tokens = ids[0], ids[1]
        elif (
            unit.category.startswith("attention")
            and keys is None
            and len(shape) > 1
            and len(shape[1]) == 4
        ):
            keys = shape[1][2]
            if batch is None:
                batch = shape[0][0]
                tokens = shape[0][2]
    return batch, tokens, keys


def settle(step: Step, *, batch: int | None, context: int | None, prompt: int | None) -> None:
    """Fill the step's phase, batch and context: annotation, then shapes, then the options."""
    b, tokens, keys = shape_facts(step)
    if step.source != "annotation" and b is not None and tokens is not None:
        step.source = "shapes"
        step.batch = b
        step.phase = "prefill" if tokens > 1 else "decode"
        step.prompt_tokens = tokens if tokens > 1 else None
        step.context_tokens = keys if tokens == 1 else None
    if step.source == "options":
        categories = {u.category for u in step.units}
        if ("attention_prefill" in categories and "attention_decode" not in categories) or (
            "attention_decode" not in categories and prompt is not None
        ):
            step.phase = "prefill"
        step.batch = batch or 1
    if step.phase in ("prefill", "mixed") and step.prompt_tokens is None:
        step.prompt_tokens = prompt or context or 512
    if step.phase in ("decode", "mixed") and step.context_tokens is None:
        step.context_tokens = keys if keys else (context or 2048)
    if step.batch is None:
        step.batch = batch or 1
    for unit in step.units:
        if unit.category == "attention":
            unit.category = "attention_prefill" if step.phase == "prefill" else "attention_decode"
