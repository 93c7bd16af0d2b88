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
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from llmroof.analytic import comm
from llmroof.analytic.arith import largest, maximum, where
from llmroof.analytic.memory import (
    kv_bytes_per_token,
    layer_kv_bytes_per_token,
    max_batch,
    param_count,
    stage_weight_bytes,
    total_bytes_per_gpu,
)
from llmroof.analytic.ops import OpCost, PassShape, embed_op, head_ops, layer_ops
from llmroof.analytic.sharding import Shard, shard_model, stage_layers
from llmroof.analytic.workload import Workload
from llmroof.errors import LlmroofError
from llmroof.specs.dtypes import Precision
from llmroof.specs.hardware import HardwareSpec
from llmroof.specs.model import ModelSpec

SCHEMA = "llmroof.analysis/1"
BYTE_FIELDS = ("weight_bytes", "act_read_bytes", "act_write_bytes", "kv_read_bytes", "kv_write_bytes")


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
        memory = (op[3] + op[4] + op[5] + op[6] + op[7]) / self.bandwidth_bytes_per_s  # the five byte fields
        if not self.peak_flops_per_s:
            return memory
        compute = op[2] / self.peak_flops_per_s
        if type(memory) is float:  # the scalar path, inline: sweeps call this 40 times per configuration
            return compute if compute >= memory else memory
        return maximum(compute, memory)

    def bound(self, flops: float, nbytes: float) -> str:
        """``compute`` or ``memory`` (an array of them for arrays of totals)."""
        return where(self.compute_time_s(flops) > self.memory_time_s(nbytes), "compute", "memory")

    @property
    def ridge_point(self) -> float | None:
        """FLOPs per byte where compute time equals memory time."""
        return None if not self.peak_flops_per_s else self.peak_flops_per_s / self.bandwidth_bytes_per_s


class CommOp(NamedTuple):
    """One collective or send on the critical path, per instance."""

    phase: str
    name: str
    kind: str
    bytes: float
    """Message size in bytes."""
    ranks: int
    link: str
    time_s: float
    count: int
    """Instances in the phase on one rank chain (every layer and micro-batch)."""


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
    totals: dict[str, float] = field(default_factory=dict)

    @property
    def flops(self) -> float:
        return self.totals["flops"]

    @property
    def bytes(self) -> float:
        return self.totals["bytes"]

    @property
    def comm_time_s(self) -> float:
        """Communication of the phase on one rank chain: every instance (every micro-batch) in sequence."""
        return sum(c.time_s * c.count for c in self.comm)

    @property
    def bound(self) -> str:
        return self.roofline.bound(self.totals["flops"], self.totals["bytes"])

    @property
    def bubble_fraction(self) -> float:
        """Idle share of the pipeline's device time.

        Prefill (GPipe schedule of m micro-batches): 1 - m * sum(stages) / (pp * time), GPipe's
        (pp-1)/(m+pp-1) when stages are even. Decode (pp batches in flight, steady state): each stage waits
        for the slowest, 1 - sum(stages) / (pp * max(stages)): zero when stages are even.
        """
        pp = len(self.stage_times_s)
        if pp == 1 or self.time_s == 0:
            return 0.0
        if self.name == "decode":
            return 1.0 - sum(self.stage_times_s) / (pp * max(self.stage_times_s))
        return 1.0 - self.micro_batches * sum(self.stage_times_s) / (pp * self.time_s)

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
    """KV bytes per token on one GPU of each stage."""
    warnings: tuple[str, ...]

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

    def kv_bytes_per_gpu(self, batch: int, context: int) -> float:
        """KV cache on the fullest GPU for ``batch`` sequences of ``context`` tokens (pp batches in flight)."""
        pp = len(self.stage_layers)
        return max(kv * batch * context * pp for kv in self.stage_kv_bytes_per_token)

    def max_batch(self, context: int) -> int:
        """Largest batch whose KV cache at ``context`` tokens fits beside the weights on every GPU."""
        return max_batch(self.usable_memory_bytes, self.stage_weight_bytes, self.stage_kv_bytes_per_token, context)

    def max_context(self, batch: int) -> int:
        """Longest KV cache (tokens) that ``batch`` sequences can hold beside the weights on every GPU."""
        pp = len(self.stage_layers)
        free = [self.usable_memory_bytes - w for w in self.stage_weight_bytes]
        return max(0, min(int(f // (kv * batch * pp)) for f, kv in zip(free, self.stage_kv_bytes_per_token)))

    @property
    def kv_tokens(self) -> int:
        """Tokens each sequence keeps in the KV cache at the workload's peak: max(prompt, context)."""
        return max(self.workload.prompt_len, self.workload.context_len)

    def total_bytes_per_gpu(self) -> float:
        """Weights plus KV cache on the fullest GPU (stage by stage), at :attr:`kv_tokens`."""
        return total_bytes_per_gpu(self.stage_weight_bytes, self.stage_kv_bytes_per_token, self.workload.batch,
                                   self.kv_tokens)

    @property
    def fits(self) -> bool:
        return self.total_bytes_per_gpu() <= self.usable_memory_bytes

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

    def to_dict(self) -> dict[str, Any]:
        from llmroof.analytic.serialize import analysis_to_dict

        return analysis_to_dict(self)


def decode_tokens_per_s(batch: Any, stage_times_s: tuple[Any, ...]) -> Any:
    """Generated tokens per second of decode steps taking ``stage_times_s`` per stage: batch / max(stage)."""
    period = largest(stage_times_s)
    if type(period) is float and not period:
        return float("inf")
    return batch / period


def pass_shapes(workload: Workload, batch: Any, prompt_len: Any, context_len: Any,
                micro_batches: Any) -> tuple[PassShape, PassShape]:
    """The prefill (one micro-batch) and decode-step shapes; numbers, or numpy arrays for a grid."""
    mb = batch // micro_batches
    s = prompt_len
    return (PassShape("prefill", mb, s, s, mb * s if workload.all_logits else mb),
            PassShape("decode", batch, 1, context_len, batch))


def layout_of(model: ModelSpec, hardware: HardwareSpec,
              workload: Workload) -> tuple[Shard, tuple[int, ...], Roofline, list[str]]:
    """What every configuration of one layout shares: the shard, the stages, the roofline and its warnings."""
    shard = shard_model(model, workload.tp)
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


def phase(name: str, model: ModelSpec, hardware: HardwareSpec, workload: Workload, shard: Shard,
          layers: tuple[int, ...], roofline: Roofline, shape: PassShape, micro_batches: Any) -> Phase:
    """One phase's ops, communication, stage times and totals; array-polymorphic in ``shape`` and
    ``micro_batches`` (then every time and total is an array over the grid)."""
    tp, pp = shard.tp, len(layers)
    count = tp * micro_batches
    precision = workload.precision
    layer = layer_ops(model, shard, precision, shape, count * model.num_layers,
                      attention_kernel=workload.attention_kernel, fused_qkv=workload.fused_qkv)
    first = embed_op(shard, precision, shape, count)
    last = head_ops(model, shard, precision, shape, count)
    ops = (first, *layer, *last)

    op_time = roofline.time_s  # the hot path of sweeps: 20 calls per phase
    layer_time = sum(map(op_time, layer))
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
            CommOp(name, "comm.attn_allreduce", "all_reduce", act_bytes, tp, tp_link.name, ar, n * model.num_layers),
            CommOp(name, "comm.mlp_allreduce", "all_reduce", act_bytes, tp, tp_link.name, ar, n * model.num_layers),
            CommOp(name, "comm.logits_allgather", "all_gather", logits, tp, tp_link.name, head_comm, n),
        ]
    if pp > 1:
        pp_link = comm.link_for(hardware, tp * pp)
        send = comm.p2p_time_s(act_bytes, pp_link)
        comm_ops.append(CommOp(name, "comm.pp_send", "send_recv", act_bytes, 2, pp_link.name, send,
                               micro_batches * (pp - 1)))
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
    # Phase totals: every figure times its instance count (OpCost fields 2..7 are flops and the bytes).
    # Layer ops share one count, as do the embedding and head ops: sum the columns, then scale.
    layer_columns = list(zip(*layer))[2:8]
    edge_columns = list(zip(first, *last))[2:8]
    n_layer, n_edge = layer[0].count, first.count
    totals = {key: sum(lc) * n_layer + sum(ec) * n_edge
              for key, lc, ec in zip(("flops", *BYTE_FIELDS), layer_columns, edge_columns)}
    totals["bytes"] = sum(totals[key] for key in BYTE_FIELDS)
    return Phase(name, ops, tuple(comm_ops), roofline, tuple(stage_times), time_s, micro_batches,
                 shape.tokens * micro_batches, totals)


def analyze(model: ModelSpec, hardware: HardwareSpec, workload: Workload) -> Analysis:
    """The analytic roofline of ``workload`` running ``model`` on ``hardware``."""
    shard, layers, roofline, warnings = layout_of(model, hardware, workload)
    precision = workload.precision
    m = workload.micro_batches
    prefill_shape, decode_shape = pass_shapes(workload, workload.batch, workload.prompt_len, workload.context_len, m)
    prefill = phase("prefill", model, hardware, workload, shard, layers, roofline, prefill_shape, m)
    decode = phase("decode", model, hardware, workload, shard, layers, roofline, decode_shape, 1)
    layer_weights = sum(op.weight_bytes for op in decode.ops if op.name.startswith(("attn.", "mlp.")))
    stage_weights = stage_weight_bytes(model, shard, precision, layer_weights, layers)
    layer_kv = layer_kv_bytes_per_token(shard, precision)
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
        stage_weight_bytes=tuple(stage_weights),
        stage_kv_bytes_per_token=tuple(n * layer_kv for n in layers),
        warnings=tuple(warnings),
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
def whole_model_weight_bytes(model: ModelSpec, precision: Precision) -> float:
    """One copy of every weight at ``precision`` (tp = 1, one stage)."""
    whole = shard_model(model, 1)
    layer = layer_ops(model, whole, precision, PassShape("decode", 1, 1, 1, 1), 1)
    return stage_weight_bytes(model, whole, precision, sum(op.weight_bytes for op in layer), (model.num_layers,))[0]


def compute_bound_batch(analysis: Analysis) -> int | None:
    """See :meth:`Analysis.compute_bound_batch`."""
    roof = analysis.roofline
    if not roof.peak_flops_per_s:
        return None
    one = analysis.decode.totals
    two = analyze(analysis.model, analysis.hardware,
                  dataclasses.replace(analysis.workload, batch=2, micro_batches=1)).decode.totals
    if analysis.workload.batch != 1:
        one = analyze(analysis.model, analysis.hardware,
                      dataclasses.replace(analysis.workload, batch=1, micro_batches=1)).decode.totals
    f = two["flops"] - one["flops"]  # FLOPs per sequence
    m = two["bytes"] - one["bytes"]  # bytes per sequence
    w = one["bytes"] - m  # bytes independent of the batch (weights)
    per_seq = f / roof.peak_flops_per_s - m / roof.bandwidth_bytes_per_s
    if per_seq <= 0:
        return None
    b = w / roof.bandwidth_bytes_per_s / per_seq
    b_star = max(1, int(b) + (0 if b == int(b) else 1))
    # Guard the linear model against rounding: step to the first batch that is compute-bound.
    while roof.compute_time_s(f * b_star) <= roof.memory_time_s(w + m * b_star):
        b_star += 1
    return b_star


def checked_analyze(model: ModelSpec, hardware: HardwareSpec, workload: Workload) -> Analysis:
    """:func:`analyze`, turning invalid workloads into :class:`LlmroofError`."""
    try:
        return analyze(model, hardware, workload)
    except ValueError as exc:
        raise LlmroofError(str(exc)) from None
