"""The roofline analysis of one workload: :func:`analyze` builds every op of the prefill and of one decode
step, times each against the device's roofline, and adds the parallel critical path and memory limits.

Counting convention: op rows are one instance (one layer on one tensor-parallel rank, one micro-batch);
phase totals sum ``count`` instances over every layer, rank and micro-batch, so they describe the whole
model across all GPUs. Times follow the critical path: ranks of a tensor group run side by side, stages
of a pipeline one after another.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any, cast

from llmroof.analytic import comm
from llmroof.analytic.arith import largest, maximum, where
from llmroof.analytic.comm import CommOp
from llmroof.analytic.memory import (
    kv_bytes_per_token,
    layer_kv_bytes_per_token,
    max_batch,
    param_count,
    stage_kv_bytes_per_sequence,
    stage_weight_bytes,
    total_bytes_per_gpu,
)
from llmroof.analytic.moe import expected_experts
from llmroof.analytic.ops import OpCost, PassShape, embed_op, fused_layer_ops, head_ops, layer_ops
from llmroof.analytic.sharding import Shard, shard_model, stage_layers
from llmroof.analytic.workload import Workload
from llmroof.errors import LlmroofError
from llmroof.specs.dtypes import Precision
from llmroof.specs.hardware import HardwareSpec
from llmroof.specs.model import ModelSpec

UNLIMITED_CONTEXT = 2**31 - 1
"""max_context when memory sets no limit (every layer windowed: the cache stops growing at the window)."""


BYTE_FIELDS = OpCost._fields[3:8]
"""The five kinds of bytes an op moves (``bytes`` is their sum)."""


@dataclass(frozen=True, slots=True)
class Roofline:
    """The two roofs of one device at one compute dtype."""

    peak_flops_per_s: float | None
    """Dense peak for the compute dtype; None where unpublished (then only bandwidth bounds time)."""
    bandwidth_bytes_per_s: float

    def compute_time_s(self, flops: float) -> float:
        return flops / self.peak_flops_per_s if self.peak_flops_per_s else 0.0

    def memory_time_s(self, nbytes: float) -> float:
        return nbytes / self.bandwidth_bytes_per_s

    def time_s(self, op: OpCost) -> float:
        """max(FLOPs / peak FLOP/s, bytes / peak bandwidth)."""
        memory = (
            op[3] + op[4] + op[5] + op[6] + op[7]
        ) / self.bandwidth_bytes_per_s  # the five byte fields
        if not self.peak_flops_per_s:
            return memory
        compute = op[2] / self.peak_flops_per_s
        if (
            type(memory) is float
        ):  # the scalar path, inline: sweeps call this 40 times per configuration
            return compute if compute >= memory else memory
        return maximum(compute, memory)

    def bound(self, flops: float, nbytes: float) -> str:
        """``compute`` or ``memory`` (an array of them for arrays of totals)."""
        return where(self.compute_time_s(flops) > self.memory_time_s(nbytes), "compute", "memory")

    @property
    def ridge_point(self) -> float | None:
        """FLOPs per byte where compute time equals memory time."""
        return (
            None
            if not self.peak_flops_per_s
            else self.peak_flops_per_s / self.bandwidth_bytes_per_s
        )


@dataclass(frozen=True, slots=True)
class Phase:
    """Prefill, or one decode step."""

    name: str
    ops: tuple[OpCost, ...]
    comm: tuple[CommOp, ...]
    roofline: Roofline
    stage_times_s: tuple[float, ...]
    """Time each pipeline stage spends on one micro-batch (prefill) or one step (decode), comm included."""
    time_s: float
    """Critical-path time of the phase: TTFT for prefill, TPOT for a decode step."""
    micro_batches: int
    tokens: int
    """Tokens the phase processes: b*s in prefill, b in decode."""
    totals: OpCost
    """The phase as one op: every op's figures times its ``count``, summed (``name`` ``total``, count 1)."""

    @property
    def flops(self) -> float:
        return self.totals.flops

    @property
    def bytes(self) -> float:
        return self.totals.bytes

    @property
    def comm_time_s(self) -> float:
        """Communication of the phase on one rank chain: every instance (every micro-batch) in sequence."""
        return sum(c.time_s * c.count for c in self.comm)

    @property
    def bound(self) -> str:
        return self.roofline.bound(self.totals.flops, self.totals.bytes)

    @property
    def bubble_fraction(self) -> float:
        """Idle share of the pipeline's device time.

        Prefill (GPipe schedule of m micro-batches): 1 - m * sum(stages) / (pp * time), GPipe's
        (pp-1)/(m+pp-1) when stages are even. Decode (pp batches in flight, steady state): each stage waits
        for the slowest, 1 - sum(stages) / (pp * max(stages)): zero when stages are even.
        """
        if self.name == "decode":  # one step per batch in flight: the period is the slowest stage
            return comm.pass_bubble_fraction(self.stage_times_s, 1, max(self.stage_times_s))
        return comm.pass_bubble_fraction(self.stage_times_s, self.micro_batches, self.time_s)

    def rank_times_s(self) -> tuple[float, float]:
        """(compute, memory) roofline time of one tensor-parallel rank per stage, summed over the phase's
        ops in sequence (stages and micro-batches one after another, no pipeline overlap)."""
        tp = self.ops[0].count // self.micro_batches  # embed: one instance per rank and micro-batch
        roof = self.roofline
        compute = sum(roof.compute_time_s(op.flops) * op.count for op in self.ops) / tp
        memory = sum(roof.memory_time_s(op.bytes) * op.count for op in self.ops) / tp
        return compute, memory


@dataclass(frozen=True, slots=True)
class Analysis:
    """Everything :func:`analyze` derives for one (model, hardware, workload)."""

    model: ModelSpec
    hardware: HardwareSpec
    workload: Workload
    shard: Shard
    stage_layers: tuple[int, ...]
    prefill: Phase
    decode: Phase
    params: int
    weight_bytes: float
    """Whole-model weights at the chosen dtypes (one copy)."""
    stage_weight_bytes: tuple[float, ...]
    """Weights on one GPU of each pipeline stage."""
    stage_kv_bytes_per_token: tuple[float, ...]
    """KV bytes per token on one GPU of each stage (every layer; windowed ones for tokens inside the window)."""
    warnings: tuple[str, ...]
    stage_window_kv_bytes_per_token: tuple[float, ...] = ()
    """The windowed layers' share of ``stage_kv_bytes_per_token``: they keep only the last W tokens."""

    @property
    def roofline(self) -> Roofline:
        return self.decode.roofline

    @property
    def compute_dtype(self) -> str:
        return self.workload.precision.activation.name

    @property
    def kv_bytes_per_token(self) -> float:
        return kv_bytes_per_token(self.model, self.workload.precision)

    @property
    def usable_memory_bytes(self) -> float:
        return self.hardware.memory_bytes * (1 - self.workload.memory_reserve_fraction)

    @property
    def weight_bytes_per_gpu(self) -> float:
        return max(self.stage_weight_bytes)

    def stage_kv_bytes_per_sequence(self, context: Any) -> list[Any]:
        """KV cache of one sequence of ``context`` tokens on one GPU of each stage: full layers keep every
        token, windowed layers the last min(context, W)."""
        return stage_kv_bytes_per_sequence(
            self.stage_kv_bytes_per_token,
            self.stage_window_kv_bytes_per_token,
            self.model.sliding_window,
            context,
        )

    def kv_bytes_per_gpu(self, batch: int, context: int) -> float:
        """KV cache on the fullest GPU for ``batch`` sequences of ``context`` tokens (pp batches in flight)."""
        pp = len(self.stage_layers)
        return largest([kv * batch * pp for kv in self.stage_kv_bytes_per_sequence(context)])

    def max_batch(self, context: int | None = None) -> int:
        """Largest batch whose KV cache at ``context`` tokens (default :attr:`kv_tokens`, the length
        :attr:`fits` checks) fits beside the weights on every GPU (:func:`~llmroof.analytic.memory.max_batch`,
        which the grid shares)."""
        context = self.kv_tokens if context is None else context
        return max_batch(
            self.usable_memory_bytes,
            self.stage_weight_bytes,
            self.stage_kv_bytes_per_sequence(context),
        )

    def max_context(self, batch: int) -> int:
        """Longest KV cache (tokens) that ``batch`` sequences can hold beside the weights on every GPU
        (:data:`UNLIMITED_CONTEXT` when every layer is windowed and the windows fit)."""
        pp = len(self.stage_layers)
        window = self.model.sliding_window or 0
        windows = self.stage_window_kv_bytes_per_token or (0.0,) * len(
            self.stage_kv_bytes_per_token
        )
        limits = []
        for w, kv, win in zip(self.stage_weight_bytes, self.stage_kv_bytes_per_token, windows):
            budget = (self.usable_memory_bytes - w) / (batch * pp)  # KV bytes one sequence may take
            if (
                budget <= kv * window
            ):  # the context ends inside the window: every layer keeps every token
                limits.append(int(budget // kv))
            elif kv - win > 0:
                limits.append(int((budget - win * window) // (kv - win)))
            else:
                limits.append(UNLIMITED_CONTEXT)
        return max(0, min(limits))

    @property
    def kv_tokens(self) -> int:
        """Tokens each sequence keeps in the KV cache at the workload's peak: max(prompt, context)."""
        return max(self.workload.prompt_len, self.workload.context_len)

    def total_bytes_per_gpu(self) -> float:
        """Weights plus KV cache on the fullest GPU (stage by stage), at :attr:`kv_tokens`."""
        return total_bytes_per_gpu(
            self.stage_weight_bytes,
            self.stage_kv_bytes_per_sequence(self.kv_tokens),
            self.workload.batch,
        )

    @property
    def fits(self) -> bool:
        """The batch's weights and KV cache at :attr:`kv_tokens` fit on every GPU: batch <= :meth:`max_batch`
        (one formula, so the two never disagree)."""
        return self.workload.batch <= self.max_batch()

    def expected_experts_per_layer(self, phase: str) -> float | None:
        """Distinct routed experts a MoE layer reads in one pass of ``phase`` (every rank together; None for a
        dense model): E * (1 - (1 - k/E)^T) for T tokens under uniform routing (see :mod:`llmroof.analytic.moe`)."""
        if not self.model.is_moe:
            return None
        w = self.workload
        tokens = w.batch if phase == "decode" else w.batch // w.micro_batches * w.prompt_len
        return expected_experts(*self.model.experts, tokens, w.routing)

    @property
    def decode_tokens_per_s(self) -> float:
        """Generated tokens per second: b per step; with pp stages, pp batches are in flight, so a step
        completes every max(stage) (b / TPOT without pipelining)."""
        return decode_tokens_per_s(self.workload.batch, self.decode.stage_times_s)

    def compute_bound_batch(self) -> int | None:
        """Smallest decode batch at which the step's FLOPs outlast its bytes on the roofline (None: never).

        Both totals are exactly linear in the batch (flops = f*b, bytes = W + m*b), so two evaluations
        give the crossover b* = W / (f*BW/peak - m).
        """
        return compute_bound_batch(self)

    def eager(self) -> Analysis:
        """The same workload counted with the eager op set (one kernel per op: the traffic of an unfused
        implementation such as llmroof's torch kernels); this analysis itself when it is already eager."""
        if self.workload.implementation == "eager":
            return self
        return analyze(
            self.model, self.hardware, dataclasses.replace(self.workload, implementation="eager")
        )


def decode_tokens_per_s(batch: Any, stage_times_s: tuple[Any, ...]) -> Any:
    """Generated tokens per second of decode steps taking ``stage_times_s`` per stage: batch / max(stage)."""
    period = largest(stage_times_s)
    if type(period) is float and not period:
        return float("inf")
    return batch / period


def pass_shapes(
    workload: Workload, batch: Any, prompt_len: Any, context_len: Any, micro_batches: Any
) -> tuple[PassShape, PassShape]:
    """The prefill (one micro-batch) and decode-step shapes on one rank; numbers, or numpy arrays for a grid.
    With expert parallelism each rank's attention takes b/ep of the sequences."""
    ep = workload.ep
    mb = batch // micro_batches // ep  # sequences of one micro-batch on one expert-parallel rank
    s = prompt_len
    b = batch // ep
    return (
        PassShape("prefill", mb, s, s, mb * s if workload.all_logits else mb),
        PassShape("decode", b, 1, context_len, b),
    )


def layout_of(
    model: ModelSpec, hardware: HardwareSpec, workload: Workload
) -> tuple[Shard, tuple[int, ...], Roofline, list[str]]:
    """What every configuration of one layout shares: the shard, the stages, the roofline and its warnings."""
    shard = shard_model(model, workload.tp, workload.ep)
    layers = stage_layers(model.num_layers, workload.pp, workload.pp_layers)
    precision = workload.precision
    peak = hardware.peak_flops(precision.activation.name)
    warnings = []
    if peak is None:
        warnings.append(
            f"{hardware.name} has no published {precision.activation.name} peak: times are bounded by "
            f"bandwidth alone (add one with --hardware-file)"
        )
    return shard, layers, Roofline(peak, hardware.memory_bandwidth_bytes_per_s), warnings


def phase(
    name: str,
    model: ModelSpec,
    hardware: HardwareSpec,
    workload: Workload,
    shard: Shard,
    layers: tuple[int, ...],
    roofline: Roofline,
    shape: PassShape,
    micro_batches: Any,
) -> Phase:
    """One phase's ops, communication, stage times and totals; array-polymorphic in ``shape`` and
    ``micro_batches`` (then every time and total is an array over the grid)."""
    tp, pp, ep = shard.tp, len(layers), workload.ep
    count = tp * ep * micro_batches  # ranks of one stage, each micro-batch
    precision = workload.precision
    if workload.implementation == "fused":
        layer = fused_layer_ops(
            model,
            shard,
            precision,
            shape,
            count * model.num_layers,
            routing=workload.routing,
            mla_absorbed=workload.mla_absorbed,
        )
    else:
        layer = layer_ops(
            model,
            shard,
            precision,
            shape,
            count * model.num_layers,
            attention_kernel=workload.attention_kernel,
            fused_qkv=workload.fused_qkv,
            routing=workload.routing,
            mla_absorbed=workload.mla_absorbed,
        )
    first = embed_op(shard, precision, shape, count)
    last = head_ops(model, shard, precision, shape, count)
    ops = (first, *layer, *last)

    op_time = roofline.time_s  # the hot path of sweeps: 20 calls per phase
    # One layer on one rank, averaged over the layers (ops that only some layers run count for their share).
    layer_instances = count * model.num_layers
    layer_time = sum(op_time(op) * op.count for op in layer) / layer_instances
    embed_time = op_time(first)
    head_time = sum(map(op_time, last))

    # Communication on one micro-batch's path.
    act_bytes = shape.tokens * model.hidden_size * precision.activation.bytes_per_element
    comm_ops: list[CommOp] = []
    tp_link = comm.link_for(hardware, tp)
    layer_comm = embed_comm = head_comm = send = 0.0
    if tp > 1:
        ar = comm.allreduce_time_s(act_bytes, tp, tp_link)
        layer_comm = 2 * ar
        embed_comm = ar
        logits = shape.logits_tokens * shard.vocab * tp * precision.activation.bytes_per_element
        head_comm = comm.allgather_time_s(logits, tp, tp_link)
        n = micro_batches
        comm_ops += [
            CommOp(name, "comm.embed_allreduce", "all_reduce", act_bytes, tp, tp_link.name, ar, n),
            CommOp(
                name,
                "comm.attn_allreduce",
                "all_reduce",
                act_bytes,
                tp,
                tp_link.name,
                ar,
                n * model.num_layers,
            ),
            CommOp(
                name,
                "comm.mlp_allreduce",
                "all_reduce",
                act_bytes,
                tp,
                tp_link.name,
                ar,
                n * model.num_layers,
            ),
            CommOp(
                name, "comm.logits_allgather", "all_gather", logits, tp, tp_link.name, head_comm, n
            ),
        ]
    if ep > 1:
        # Each token's hidden state goes to the ranks of its k experts and comes back, in every MoE layer.
        ep_link = comm.link_for(hardware, tp * ep)
        routed_bytes = act_bytes * model.experts[1]
        a2a = comm.alltoall_time_s(routed_bytes, ep, ep_link)
        layer_comm += 2 * a2a * model.moe_layers / model.num_layers
        n = micro_batches * model.moe_layers
        comm_ops += [
            CommOp(name, "comm.moe_dispatch", "all_to_all", routed_bytes, ep, ep_link.name, a2a, n),
            CommOp(name, "comm.moe_combine", "all_to_all", routed_bytes, ep, ep_link.name, a2a, n),
        ]
    if pp > 1:
        pp_link = comm.link_for(hardware, tp * pp * ep)
        send = comm.p2p_time_s(act_bytes, pp_link)
        comm_ops.append(
            CommOp(
                name,
                "comm.pp_send",
                "send_recv",
                act_bytes,
                2,
                pp_link.name,
                send,
                micro_batches * (pp - 1),
            )
        )
    stage_times = []
    for stage, n_layers in enumerate(layers):
        t = n_layers * (layer_time + layer_comm)
        if stage == 0:
            t += embed_time + embed_comm
        if stage == pp - 1:
            t += head_time + head_comm
        else:
            t += send
        stage_times.append(t)
    # GPipe schedule: the first micro-batch crosses every stage, the rest follow at the slowest stage's pace.
    time_s = sum(stage_times) + (micro_batches - 1) * largest(stage_times)
    # Phase totals: every figure times its instance count (OpCost fields 2..7 are flops and the bytes; ops that
    # only some layers run have their own count). One pass, op by op in order: the sums sum() would give.
    # An int 0 until the first op adds to it (a float, or a grid's array): the JSON of an empty sum stays 0.
    flops = weight = act_read = act_write = kv_read = kv_write = cast(float, 0)
    for op in ops:
        n = op[8]
        flops = flops + op[2] * n  # not +=: a grid's arrays grow by broadcasting
        weight = weight + op[3] * n
        act_read = act_read + op[4] * n
        act_write = act_write + op[5] * n
        kv_read = kv_read + op[6] * n
        kv_write = kv_write + op[7] * n
    totals = OpCost(name, "total", flops, weight, act_read, act_write, kv_read, kv_write, 1)
    return Phase(
        name,
        ops,
        tuple(comm_ops),
        roofline,
        tuple(stage_times),
        time_s,
        micro_batches,
        shape.tokens * micro_batches * ep,
        totals,
    )


def analyze(model: ModelSpec, hardware: HardwareSpec, workload: Workload) -> Analysis:
    """The analytic roofline of ``workload`` running ``model`` on ``hardware``."""
    shard, layers, roofline, warnings = layout_of(model, hardware, workload)
    precision = workload.precision
    m = workload.micro_batches
    prefill_shape, decode_shape = pass_shapes(
        workload, workload.batch, workload.prompt_len, workload.context_len, m
    )
    prefill = phase("prefill", model, hardware, workload, shard, layers, roofline, prefill_shape, m)
    decode = phase("decode", model, hardware, workload, shard, layers, roofline, decode_shape, 1)
    stage_weights, stage_kv, stage_window_kv = stage_memory(
        model, shard, precision, layers, workload.ep
    )
    analysis = Analysis(
        model=model,
        hardware=hardware,
        workload=workload,
        shard=shard,
        stage_layers=layers,
        prefill=prefill,
        decode=decode,
        params=param_count(model),
        weight_bytes=whole_model_weight_bytes(model, precision),
        stage_weight_bytes=stage_weights,
        stage_kv_bytes_per_token=stage_kv,
        warnings=tuple(warnings),
        stage_window_kv_bytes_per_token=stage_window_kv,
    )
    if not analysis.fits:
        need = analysis.total_bytes_per_gpu()
        warnings.append(
            f"does not fit: needs {need / 2**30:.1f} GiB per GPU, {hardware.name} has "
            f"{analysis.usable_memory_bytes / 2**30:.1f} GiB after the {workload.memory_reserve_fraction:.0%} reserve"
        )
        analysis = dataclasses.replace(analysis, warnings=tuple(warnings))
    return analysis


@functools.lru_cache(maxsize=256)
def stage_memory(
    model: ModelSpec, shard: Shard, precision: Precision, layers: tuple[int, ...], ep: int
) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    """Per stage, on one GPU: the resident weights, the KV bytes per cached token (every layer), and the windowed
    layers' share of it (they keep only the last W tokens); shape-independent, shared by ``analyze`` and the
    grid."""
    stage_weights = stage_weight_bytes(
        model, shard, precision, stage_layer_weight_bytes(model, shard, precision, layers), layers
    )
    layer_kv = (
        layer_kv_bytes_per_token(model, shard, precision) / ep
    )  # each rank holds b/ep sequences
    starts = [sum(layers[:stage]) for stage in range(len(layers))]
    windowed = [
        sum(model.layer_is_windowed(i) for i in range(start, start + n))
        for start, n in zip(starts, layers)
    ]
    return (
        tuple(stage_weights),
        tuple(n * layer_kv for n in layers),
        tuple(n * layer_kv for n in windowed),
    )


@functools.lru_cache(maxsize=256)
def whole_model_weight_bytes(model: ModelSpec, precision: Precision) -> float:
    """One copy of every weight at ``precision`` (tp = 1, one stage; every expert)."""
    whole = shard_model(model, 1)
    layers = (model.num_layers,)
    return stage_weight_bytes(
        model, whole, precision, stage_layer_weight_bytes(model, whole, precision, layers), layers
    )[0]


_DENSE_MLP_OPS = ("mlp.gate", "mlp.up", "mlp.down")


def stage_layer_weight_bytes(
    model: ModelSpec, shard: Shard, precision: Precision, layers: tuple[int, ...]
) -> list[float]:
    """Resident decoder-layer weights on one rank of each stage: every local expert of each MoE layer, the dense
    MLP of each of the first ``first_dense_layers`` layers."""
    ops = layer_ops(
        model, shard, precision, PassShape("decode", 1, 1, 1, 1), model.num_layers, all_experts=True
    )
    moe = sum(op.weight_bytes for op in ops if op.name.startswith("moe."))
    dense = sum(op.weight_bytes for op in ops if op.name in _DENSE_MLP_OPS)
    # The rest, averaged over the layers (windowed and full attention ops each run on their own layers).
    common = (
        sum(
            op.weight_bytes * op.count
            for op in ops
            if not op.name.startswith("moe.") and op.name not in _DENSE_MLP_OPS
        )
        / model.num_layers
    )
    result, start = [], 0
    for n in layers:
        dense_layers = max(0, min(start + n, model.num_layers - model.moe_layers) - start)
        result.append(n * common + dense_layers * dense + (n - dense_layers) * moe)
        start += n
    return result


def compute_bound_batch(analysis: Analysis) -> int | None:
    """See :meth:`Analysis.compute_bound_batch`."""
    roof = analysis.roofline
    if not roof.peak_flops_per_s:
        return None
    if analysis.model.is_moe:
        return _moe_compute_bound_batch(analysis)
    one = analysis.decode.totals
    two = analyze(
        analysis.model,
        analysis.hardware,
        dataclasses.replace(analysis.workload, batch=2, micro_batches=1),
    ).decode.totals
    if analysis.workload.batch != 1:
        one = analyze(
            analysis.model,
            analysis.hardware,
            dataclasses.replace(analysis.workload, batch=1, micro_batches=1),
        ).decode.totals
    f = two.flops - one.flops  # FLOPs per sequence
    m = two.bytes - one.bytes  # bytes per sequence
    w = one.bytes - m  # bytes independent of the batch (weights)
    per_seq = f / roof.peak_flops_per_s - m / roof.bandwidth_bytes_per_s
    if per_seq <= 0:
        return None
    b = w / roof.bandwidth_bytes_per_s / per_seq
    b_star = max(1, int(b) + (0 if b == int(b) else 1))
    # Guard the linear model against rounding: step to the first batch that is compute-bound.
    while roof.compute_time_s(f * b_star) <= roof.memory_time_s(w + m * b_star):
        b_star += 1
    return b_star


_MAX_SEARCHED_BATCH = 1 << 20


def _moe_compute_bound_batch(analysis: Analysis) -> int | None:
    """The crossover of a MoE model, whose expert weight reads grow with the batch (not linear in it): the
    smallest batch (a multiple of ep) whose decode step is compute-bound, by doubling then bisection; None if
    none is up to 2^20 sequences. Decode intensity only rises with the batch (FLOPs grow linearly, bytes at most
    linearly), so the predicate is monotone."""
    roof, ep = analysis.roofline, analysis.workload.ep

    def compute_bound(batch: int) -> bool:
        workload = dataclasses.replace(analysis.workload, batch=batch, micro_batches=1)
        totals = analyze(analysis.model, analysis.hardware, workload).decode.totals
        return roof.compute_time_s(totals.flops) > roof.memory_time_s(totals.bytes)

    low, high = 0, ep  # batches low (0, or not compute-bound) < answer <= high
    while not compute_bound(high):
        low, high = high, high * 2
        if high > _MAX_SEARCHED_BATCH:
            return None
    while high - low > ep:
        middle = (low + high) // 2 // ep * ep
        if middle <= low:
            break
        low, high = (low, middle) if compute_bound(middle) else (middle, high)
    return high


def checked_analyze(model: ModelSpec, hardware: HardwareSpec, workload: Workload) -> Analysis:
    """:func:`analyze`, turning invalid workloads into :class:`LlmroofError`."""
    try:
        return analyze(model, hardware, workload)
    except ValueError as exc:
        raise LlmroofError(str(exc)) from None
