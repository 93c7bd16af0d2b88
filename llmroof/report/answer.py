"""The answer that heads every report: where the most time goes against the roofline, what would move
it, and how sure we are.

One pure function per kind of result, each returning an :class:`Answer` and reading its typed record by
attribute: a profile, analysis, bench, trace, simulate or history record (:func:`for_record` reads a results
file's object into its record first), a :class:`~llmroof.compare.comparison.Comparison` or a
:class:`~llmroof.plan.records.Plan` (those two not imported, so this module stays below both). The templates
render it with one macro, ``answer`` in ``answer.html.j2``; docs/reports.md says how a new page uses it.

"Lost" is the measured time beyond the roofline time of the same work (for an analysis, which measures
nothing: the time beyond what the work would take at the compute peak, i.e. what the memory bound costs).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from llmroof.errors import LlmroofError
from llmroof.results.records.analysis import AnalysisRecord, OpRow, PhaseTotals
from llmroof.results.records.bench import BenchResult
from llmroof.results.records.profile import ConfigResult, OpResult, ProfileRecord
from llmroof.units import percent, seconds

LAUNCH_FACTOR = 2.0
"""An op is launch-bound when its measured time is within this factor of the run's dispatch floor."""
LAUNCH_LIMIT_FRACTION = 0.25
"""... and it reaches less than this share of its roofline (a launch-bound op is far from both roofs)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Answer:
    """Three lines a performance engineer reads first."""

    where: str
    """The op or phase that loses the most time against the roofline (``decode b=1 c=16: mlp.up``)."""
    lost_s: float | None
    """Time it loses per step (or per token), seconds; None when nothing was measured or bounded."""
    bound: str
    """Why: ``memory``, ``compute``, ``launch`` (or ``-`` when unknown)."""
    loss: str
    """The first line: where, the time lost, the bound, in words."""
    move: str
    """The second line: what would move it (fusion, batch, CUDA graphs, a dtype)."""
    sure: str
    """The third line: how sure (the spread over repeats, or why there is none)."""

    @property
    def lost_text(self) -> str:
        """``1.2 ms``, or ``-`` when no time is known."""
        return (
            "-" if self.lost_s is None or not math.isfinite(self.lost_s) else seconds(self.lost_s)
        )


# --- profile --------------------------------------------------------------------------------------


def profile_answer(record: ProfileRecord) -> Answer | None:
    """The op that loses the most time per step over every configuration measured (op time x instances per
    step), else the configuration itself."""
    configs = [c for c in record.configs if c.ok]
    if not configs:
        return None
    floor = dispatch_floor_s(record)
    best: tuple[float, ConfigResult, OpResult | None] | None = None
    rank: dict[int, str] = {}
    for c in configs:
        for op, on in _timed_ops(c):
            if op.median_s is None:
                continue
            lost = op_lost_s(op) or 0.0
            if best is None or lost > best[0]:
                best = (lost, c, op)
                rank[id(op)] = on
    if best is None:
        c = max(configs, key=_config_lost_s)
        best = (_config_lost_s(c), c, None)
    lost, c, top = best
    where = c.label + (f": {top.name}{rank[id(top)]}" if top is not None else "")
    if top is not None:
        bound = op_bound(top, floor)
        times = int(top.count or 1)
        share = (
            f" ({percent(lost / c.time_s)} of the step)"
            if c.time_s and 0 < lost < c.time_s
            else " (timed alone)"
        )
        loss = (
            f"{where} loses {seconds(lost)} per step against its roofline{share}"
            + (f", {times} instances of {seconds(lost / times)}" if times > 1 else "")
            + f": {_why(bound)}."
        )
    else:
        bound = c.bound_measured or "-"
        loss = f"{where} loses {seconds(lost)} against its roofline bound: {_why(bound)}."
    move = _move(
        bound,
        op_name=top.name if top is not None else None,
        phase=c.phase,
        batch=c.batch,
        cuda=record.device.kind == "cuda",
        graphs=bool(record.workload.cuda_graphs),
        dtype=record.workload.dtype,
    )
    return Answer(
        where=where,
        lost_s=lost,
        bound=bound,
        loss=loss,
        move=move,
        sure=_profile_sure(c, top),
    )


def _config_lost_s(c: ConfigResult) -> float:
    """A configuration's measured time beyond its roofline time (a TypeError where either is missing:
    :func:`for_record` then leaves the answer out)."""
    time_s, roofline_time_s = c.time_s, c.roofline_time_s
    if time_s is None or roofline_time_s is None:
        raise TypeError(f"{c.label}: no measured or roofline time")
    return time_s - roofline_time_s


def _timed_ops(c: ConfigResult) -> list[tuple[OpResult, str]]:
    """(op, where it ran): a run's ops, or each rank's in a parallel run (`` on rank 1``)."""
    ops = [(op, "") for op in c.ops or ()]
    for r in c.ranks or ():
        ops += [(op, f" on rank {r.rank}") for op in r.ops or ()]
    return ops


def op_lost_s(op: Any) -> float | None:
    """Time one op loses against its roof, per step: (measured median - roofline time) x its count. ``op``
    is a profile's op as read from the file (a dict) or as a typed record (attributes of the same names)."""

    def field(name: str) -> Any:
        return op.get(name) if isinstance(op, dict) else getattr(op, name, None)

    median, roof = field("median_s"), field("roof_time_s")
    if median is None:
        return None
    return float(
        (median - (roof if roof is not None else field("time_s") or 0.0)) * int(field("count") or 1)
    )


def dispatch_floor_s(record: ProfileRecord) -> float | None:
    """The time of one call that does no work: the calibrated dispatch floor where the ceilings record one
    (any ``*dispatch*_s`` key, which the profile's ceilings keep among their unnamed keys), else the fastest
    op measured in the run (the embedding lookup, a norm)."""
    ceilings = record.ceilings.to_dict() if record.ceilings is not None else {}
    for key, value in ceilings.items():
        if (
            "dispatch" in key
            and key.endswith("_s")
            and isinstance(value, (int, float))
            and value > 0
        ):
            return float(value)
    times = [op.median_s for c in record.configs for op in c.ops or () if op.median_s]
    return min(times) if times else None


def op_bound(op: OpResult, floor: float | None) -> str:
    """``launch`` for an op near the dispatch floor and far from its roofs; else its analytic bound."""
    fraction = op.roofline_fraction
    if (
        floor
        and op.median_s
        and op.median_s <= LAUNCH_FACTOR * floor
        and (fraction is None or fraction < LAUNCH_LIMIT_FRACTION)
    ):
        return "launch"
    return str(op.bound or "-")


def _profile_sure(c: ConfigResult, op: OpResult | None) -> str:
    metrics = (c.repeat.metrics if c.repeat is not None else None) or {}
    spread = metrics.get("tpot_s" if c.phase == "decode" else "ttft_s")
    if spread is not None and spread.n > 1:
        return (
            f"Run-to-run spread of {c.label}: CV {percent(spread.cv)} over {spread.n} processes "
            f"({seconds(spread.min)} to {seconds(spread.max)})."
        )
    stack = c.stack
    within = op.cv if op is not None else (stack.cv if stack is not None else None)
    samples = op.n if op is not None else (stack.n if stack is not None else None)
    if within is not None:
        return (
            f"One process: CV {percent(within)} over its {samples} repetitions, which share its state; "
            "run llmroof profile --repeat 5 for the spread between processes."
        )
    return "One process, no spread recorded: run llmroof profile --repeat 5 to measure it."


# --- analysis -------------------------------------------------------------------------------------


def analysis_answer(record: AnalysisRecord) -> Answer | None:
    """An analysis measures nothing: the op whose memory bound costs the most beyond its compute time, in the
    phase the request spends the most time in per token."""
    best: tuple[float, str, OpRow] | None = None
    for op in record.ops:
        lost = (op.time_s - op.compute_time_s) * int(op.count or 1)
        if best is None or lost > best[0]:
            best = (lost, op.phase, op)
    if best is None:
        return None
    lost, phase, op = best
    w = record.workload
    where = f"{phase} b={w.batch}: {op.name}"
    bound = str(op.bound or "-")
    totals = getattr(record.phases, phase, None)
    step = totals.time_s if isinstance(totals, PhaseTotals) else None
    share = f" ({percent(lost / step)} of the {phase} step bound)" if step else ""
    loss = (
        f"{where} spends {seconds(lost)} per step beyond its compute time{share}: {_why(bound)} "
        "(analytic, nothing measured)."
    )
    move = _move(
        bound,
        op_name=op.name,
        phase=phase,
        batch=int(w.batch or 1),
        cuda=True,
        graphs=False,
        dtype=w.weight_dtype or None,
    )
    return Answer(
        where=where,
        lost_s=lost,
        bound=bound,
        loss=loss,
        move=move,
        sure="A roofline bound, not a measurement: no spread. llmroof profile measures how far the "
        "run is from it.",
    )


# --- bench ----------------------------------------------------------------------------------------


def bench_answer(record: BenchResult) -> Answer | None:
    """The level whose mean TPOT lies furthest above its roofline bound."""
    scored = [
        (lv.tpot_s.mean - lv.roofline.tpot_bound_s, lv, lv.roofline, lv.tpot_s.mean)
        for lv in record.levels
        if lv.roofline is not None and lv.tpot_s.mean is not None and lv.roofline.tpot_bound_s
    ]
    if not scored:
        return None
    lost, lv, roof, mean = max(scored, key=lambda item: item[0])
    label = f"c={lv.concurrency}" if lv.concurrency is not None else f"rate={lv.rate}/s"
    where = f"decode at {label}"
    bound = str(roof.bound or "-")
    loss = (
        f"{where} loses {seconds(lost)} per output token against the roofline "
        f"(TPOT {seconds(mean)}, bound {seconds(roof.tpot_bound_s)}): "
        f"{_why(bound)} at a mean decode batch of {lv.mean_decode_batch or 0:.1f}."
    )
    move = _move(
        bound,
        op_name=None,
        phase="decode",
        batch=max(1, round(lv.mean_decode_batch or 1)),
        cuda=True,
        graphs=False,
        dtype=record.settings.dtype,
    )
    tpot = lv.tpot_s
    sure = (
        f"Over {lv.requests} requests at {label}: TPOT p50 {seconds(tpot.p50)}, "
        f"p99 {seconds(tpot.p99)}; one run of the benchmark, so no spread between runs."
    )
    return Answer(where=where, lost_s=lost, bound=bound, loss=loss, move=move, sure=sure)


# --- compare --------------------------------------------------------------------------------------


def compare_answer(comparison: Any) -> Answer | None:
    """The row that moved the most (a regression first), with its interval: read by attribute from a
    :class:`~llmroof.compare.comparison.Comparison`."""
    rows = [r for r in comparison.rows if r.base.median and r.new.median and _time_metric(r)]
    if not rows:
        return None

    def moved(r: Any) -> tuple[int, float]:
        return (r.verdict == "regression", (r.new.median - r.base.median) * _weight(r))

    row = max(rows, key=moved)
    where = row.key.label()
    lost = row.new.median - row.base.median
    word = "slower" if lost > 0 else "faster"
    bound = _row_bound(comparison, row)
    loss = (
        f"{where}: NEW is {seconds(abs(lost))} {word} than BASE ({seconds(row.base.median)} -> "
        f"{seconds(row.new.median)}, {row.verdict})"
        + (f"; {_why(bound)}." if bound != "-" else ".")
    )
    move = (
        "Look at what changed between the runs (Differences below) before the code: a shift of the measured "
        "ceilings or the clocks moves every row."
        if comparison.differences
        else _move(
            bound,
            op_name=row.key.op,
            phase=row.key.phase,
            batch=row.key.batch,
            cuda=False,
            graphs=False,
            dtype=None,
        )
    )
    interval = row.interval
    sure = (
        f"NEW/BASE {interval.ratio:.3g}, {percent(comparison.settings.confidence)} interval "
        f"{interval.low:.3g} to {interval.high:.3g} ({comparison.basis}); {row.reason}"
        if interval is not None
        else f"No interval ({row.reason})."
    )
    return Answer(where=where, lost_s=lost, bound=bound, loss=loss, move=move, sure=sure)


def _time_metric(row: Any) -> bool:
    return getattr(row.metric, "unit", "") == "s"


def _weight(row: Any) -> float:
    return 1.0


def _row_bound(comparison: Any, row: Any) -> str:
    for point in getattr(comparison, "points", ()):
        if point.key.phase == row.key.phase and point.key.batch == row.key.batch:
            peak, bw = comparison.new.peak_flops_per_s, comparison.new.bandwidth_bytes_per_s
            if peak and bw:
                return "memory" if point.intensity_flops_per_byte < peak / bw else "compute"
    return "-"


# --- plan -----------------------------------------------------------------------------------------


def plan_answer(plan: Any) -> Answer | None:
    """The recommended configuration (else the closest): its decode step against the weights-and-KV read of
    one step at the device's bandwidth, read by attribute from a :class:`~llmroof.plan.records.Plan`."""
    ranked = plan.recommended or plan.closest
    if not ranked:
        return None
    config = plan.configs[ranked[0].index]
    if config.decode_step_s is None:
        return None
    hardware = next((h for h in plan.request.hardware if h.name == config.hardware), None)
    bandwidth = getattr(hardware, "memory_bandwidth_bytes_per_s", None)
    read_s = (
        (config.weight_bytes_per_gpu + config.kv_bytes_per_gpu) / bandwidth if bandwidth else None
    )
    memory = read_s is not None and read_s >= 0.5 * config.decode_step_s
    bound = "memory" if memory else "compute"
    where = f"decode of {config.id}"
    lost = config.decode_step_s - read_s if read_s is not None and not memory else read_s
    loss = (
        f"{where} takes {seconds(config.decode_step_s)} per step, of which reading the weights and KV cache "
        f"takes {seconds(read_s)}: {_why(bound)} (predicted)."
        if read_s is not None
        else f"{where} takes {seconds(config.decode_step_s)} per step (predicted)."
    )
    headroom = config.max_concurrent_sequences - config.concurrent_sequences
    move = _move(
        bound,
        op_name=None,
        phase="decode",
        batch=config.concurrent_sequences,
        cuda=True,
        graphs=False,
        dtype=plan.request.precision.weight.name,
    ) + (
        f" The plan already holds {config.concurrent_sequences} sequences; memory allows "
        f"{config.max_concurrent_sequences}."
        if headroom > 0
        else ""
    )
    calibrated = bool(plan.request.calibration)
    sure = (
        "Predicted with kernel efficiencies from a calibration profile; its spread is the profile's."
        if calibrated
        else "Predicted from the analytic roofline alone: no spread; llmroof plan --calibrate "
        "results.json brings in measured efficiencies."
    )
    return Answer(where=where, lost_s=lost, bound=bound, loss=loss, move=move, sure=sure)


# --- trace --------------------------------------------------------------------------------------


def trace_answer(record: Any) -> Answer | None:
    """The op of an engine's trace that loses the most time against its bound (measured - roofline, over
    every step and layer of its phase), read by attribute from a
    :class:`~llmroof.results.records.trace.TraceRecord`."""
    ops = [o for o in record.ops if o.bound_s is not None and not o.suspect]
    if not ops:
        return None
    top = max(ops, key=lambda o: o.time_lost_s)
    steps = [s for s in record.steps if s.phase == top.phase]
    where = f"{top.phase}: {top.op}"
    bound = str(top.bound or "-")
    per_step = top.time_lost_s / len(steps) if steps else None
    phase_time = sum(s.time_s for s in steps)
    share = (
        f" ({percent(top.time_lost_s / phase_time)} of its {top.phase} steps)" if phase_time else ""
    )
    loss = (
        f"{where} loses {seconds(top.time_lost_s)} against its roofline bound over the trace{share}"
        + (f", {seconds(per_step)} per step" if per_step is not None and len(steps) > 1 else "")
        + f": {top.count} instances in {top.launches} launches, at {percent(top.roofline_fraction)} "
        f"of its roof; {_why(bound)}."
    )
    cuda = record.hardware.name != "cpu"
    batch = max((s.batch for s in steps), default=1)
    move = _move(
        bound,
        op_name=top.op,
        phase=top.phase,
        batch=batch,
        cuda=cuda,
        graphs=False,
        dtype=record.dtype,
    )
    idle = sum(s.idle_s for s in record.steps)
    sure = (
        f"One trace: {len(record.steps)} steps, no spread between runs; "
        f"{percent(record.coverage.attributed_fraction)} of kernel time attributed to model ops"
        + (f", {seconds(idle)} of device idle inside steps." if idle > 0 else ".")
    )
    return Answer(where=where, lost_s=top.time_lost_s, bound=bound, loss=loss, move=move, sure=sure)


# --- simulate -------------------------------------------------------------------------------------


def simulate_answer(record: Any) -> Answer | None:
    """The level and metric (TTFT or TPOT) whose p90 lies furthest above its reference (the SLO where one
    was given, else its unloaded value: one prefill, one decode step at batch 1), with the time lost
    beyond the unloaded value and its cause. ``record`` is a
    :class:`~llmroof.results.records.simulate.SimulateResult` or its dict."""
    from llmroof.results.records.simulate import SimulateResult

    result = SimulateResult.from_dict(record) if isinstance(record, dict) else record
    s = result.settings
    unloaded = {"TTFT": result.unloaded_ttft_s, "TPOT": result.unloaded_tpot_s}
    slo = {"TTFT": result.ttft_slo_s, "TPOT": result.tpot_slo_s}
    best: tuple[float, Any, str, float, float] | None = None
    for level in result.levels:
        for metric, dist in (("TTFT", level.ttft_s), ("TPOT", level.tpot_s)):
            base, limit = unloaded[metric], slo[metric]
            reference = limit or base
            if dist.p90 is None or not base or not reference:
                continue
            score = dist.p90 / reference
            if best is None or score > best[0]:
                best = (score, level, metric, dist.p90, float(base))
    if best is None:
        return None
    _, level, metric, p90, base = best
    lost = p90 - base
    where = f"{level.label}: p90 {metric}"
    per = " per output token" if metric == "TPOT" else " per request"
    if level.preemptions > 0:
        bound, why = (
            "preemption",
            f"KV preemption ({level.preemptions} sequences evicted and recomputed for KV blocks)",
        )
    elif metric == "TTFT":
        bound, why = (
            "queueing",
            f"queueing (requests wait for a step; {level.mean_in_system:.1f} in the system on average)",
        )
    else:
        bound, why = (
            "compute",
            f"compute (steps grow with the batch, up to {level.max_step_seqs} sequences and "
            f"{level.max_step_tokens} tokens, prefills sharing them)",
        )
    limit = slo[metric]
    against = f", SLO {seconds(limit)}" if limit else ""
    loss = (
        f"{where} is {seconds(p90)} against {seconds(base)} unloaded{against}: "
        f"{seconds(lost)} lost{per} to {why}."
    )
    if bound == "preemption":
        move = (
            "A larger KV pool (more GPUs per replica, a narrower KV dtype) or a lower --max-num-seqs; "
            "more replicas (--replicas) spread the sequences."
        )
    elif bound == "queueing":
        tokens = s.max_num_batched_tokens
        move = (
            f"More replicas (--replicas, now {result.replicas}) or a lower rate; a larger "
            f"--max-num-batched-tokens (now {tokens}) admits more prompt tokens per step"
            + ("" if s.chunked_prefill else "; chunked prefill (--chunked-prefill)")
            + "."
        )
    else:
        move = (
            ("" if s.chunked_prefill else "Chunked prefill (--chunked-prefill) caps a step; ")
            + "disaggregation (--disaggregate 1P1D) keeps prefills out of the decode steps; "
            "more replicas (--replicas) shrink the batch each one holds."
        )
    sure = (
        f"A model, seeded (seed {result.seed}, {level.requests} requests at {level.label}): "
        "its error against a real engine is in docs/simulate.md"
        + (
            "; the measured errors of --against are in the JSON's against rows."
            if result.against
            else "."
        )
    )
    return Answer(where=where, lost_s=lost, bound=bound, loss=loss, move=move, sure=sure)


# --- history --------------------------------------------------------------------------------------


def history_answer(record: Any) -> Answer | None:
    """The newest regression over every series (a gating one first): its series, commit range and size;
    what to do is bisect the range. ``record`` is a
    :class:`~llmroof.results.records.history.HistoryRecord` or its dict."""
    from llmroof.results.records.history import HistoryRecord

    history = HistoryRecord.from_dict(record) if isinstance(record, dict) else record
    found = [
        (series, change)
        for series in history.series
        for change in series.changes
        if change.direction == "regression"
    ]
    if not history.series:
        return None
    if not found:
        return Answer(
            where="no regression",
            lost_s=None,
            bound="-",
            loss=f"No regression among {len(history.series)} series: every change point found is "
            "an improvement, or there is none.",
            move="Nothing to bisect.",
            sure=f"Change points found at alpha {history.settings.get('alpha', '-')}; "
            "a step smaller than the series' noise is not found.",
        )
    series, change = max(
        found, key=lambda sc: (sc[0].gating and sc[1] is sc[0].latest, sc[1].time_utc)
    )
    where = f"{series.config} · {series.metric}"
    span = f"{change.previous_commit[:10]}..{change.commit[:10]}"
    lost = change.after_median - change.before_median if series.unit == "s" else None
    size = (
        seconds(abs(lost))
        if lost is not None
        else f"{change.before_median:.4g} -> {change.after_median:.4g} {series.unit}"
    )
    bound = str(getattr(series, "bound", None) or "regression")
    loss = (
        f"{where} (machine {series.machine}) is {change.worse_fraction:+.1%} worse from {span}"
        + (f": {seconds(change.before_median)} -> {seconds(change.after_median)}" if lost else "")
        + f" ({size}{' slower' if lost is not None else ''})"
        + (f"; {_why(bound)}." if bound in ("memory", "compute", "launch") else ".")
    )
    move = (
        f"Bisect {span}: git bisect start {change.commit[:10]} {change.previous_commit[:10]}, "
        f"each step measured the same way and added with llmroof history add."
    )
    sure = (
        f"Ratio {change.ratio:.3f}, interval [{change.ratio_low:.3f}, {change.ratio_high:.3f}], "
        f"confidence {'> 99.9%' if change.confidence > 0.999 else f'>= {change.confidence:.1%}'}; "
        f"{change.points_before} runs before, {change.points_after} after."
    )
    return Answer(where=where, lost_s=lost, bound=bound, loss=loss, move=move, sure=sure)


# --- shared ---------------------------------------------------------------------------------------


def _why(bound: str) -> str:
    return {
        "memory": "memory-bound (bytes moved, not FLOPs, set its time)",
        "compute": "compute-bound (FLOPs at the compute peak set its time)",
        "launch": "launch-bound (near the cost of one call that does no work; far from both roofs)",
    }.get(bound, "bound not known")


FUSABLE = (
    "norm",
    "act",
    "rope",
    "residual",
    "add",
    "softmax",
    "scores",
    "silu",
    "gelu",
    "mul",
    "embed",
)


def _move(
    bound: str,
    *,
    op_name: str | None,
    phase: str,
    batch: int,
    cuda: bool,
    graphs: bool,
    dtype: str | None,
) -> str:
    """What would move a loss of this kind."""
    name = (op_name or "").lower()
    if bound == "launch":
        first = (
            "CUDA graphs (llmroof profile --cuda-graphs) remove the per-call launch cost"
            if cuda and not graphs
            else "fusing it with its neighbours (torch.compile) removes a call"
        )
        return f"{first}; a larger batch spreads the same calls over more tokens."
    if bound == "memory":
        if any(word in name for word in FUSABLE):
            return (
                "Fusion: it reads and writes activations a fused kernel would keep on chip "
                "(e.g. norm + matmul, or a fused attention)."
            )
        narrow = (
            ""
            if dtype in ("int8", "fp8", "int4")
            else " or a narrower dtype (fp8/int8 weights halve the bytes)"
        )
        if phase == "decode":
            return (
                f"A larger batch (now {batch}): each step reads the weights once for every sequence in it"
                f"{narrow}."
            )
        return (
            f"More tokens per call (a larger batch or prompt) raise its arithmetic intensity{narrow}; "
            "fusion, where it sits between elementwise ops."
        )
    if bound == "compute":
        return (
            "A dtype with a faster peak (bf16/fp8 tensor cores); more batch does not help a compute-bound op."
            if dtype not in ("fp8", "int8")
            else "More devices (tensor parallelism): it is at the compute peak."
        )
    return "Measure it: llmroof profile places each op against its roof."


def for_record(data: Mapping[str, Any]) -> Answer | None:
    """The answer of a results file's object by its schema (profile, analysis, bench, trace), read into its
    record here; None for other schemas, or when the record is too damaged to answer from (the report
    still renders)."""
    from llmroof import schemas
    from llmroof.results.records import SCHEMAS

    schema = data.get("schema", "")
    builders: dict[str, Callable[[Any], Answer | None]] = {
        schemas.PROFILE: profile_answer,
        schemas.ANALYSIS: analysis_answer,
        schemas.BENCH: bench_answer,
        schemas.TRACE: trace_answer,
    }
    build = builders.get(schema)
    try:
        return build(SCHEMAS[schema].from_dict(data)) if build else None
    except (LlmroofError, KeyError, TypeError, ValueError, AttributeError, ZeroDivisionError):
        return None


def as_rows(answer: Answer) -> Sequence[tuple[str, str]]:
    """(heading, line) pairs in the block's order."""
    return (
        ("Biggest loss", answer.loss),
        ("What would move it", answer.move),
        ("How sure", answer.sure),
    )
