"""``llmroof.analysis/1``: one analytic workload (``llmroof analyze --format json``), key by key in
``docs/json-schema.md``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from llmroof import schemas
from llmroof.analytic import comm
from llmroof.analytic.comm import CommOp
from llmroof.results.records.base import Record, many, one, opt, seq
from llmroof.version import __version__

if TYPE_CHECKING:
    from llmroof.analytic.analysis import Analysis, Phase, Roofline
    from llmroof.analytic.ops import OpCost

R = TypeVar("R", bound=Record)


def _built(cls: type[R], **values: Any) -> R:
    """``cls(**values)`` as the analysis writes it: every key, so an optional field that is None is
    written as null, after the fields (where a file that holds it null writes it back)."""
    omitted = {f.name for f in dataclasses.fields(cls) if f.metadata.get("omit_none")}
    nulls = {name: None for name, value in values.items() if value is None and name in omitted}
    return cls(**values, extra=nulls)


@dataclass(frozen=True, kw_only=True)
class OpRow(Record):
    """One op instance of a phase on the roofline (analytic); the per-instance figures times ``count`` sum to
    the phase totals."""

    phase: str
    """``prefill`` or ``decode``."""
    name: str
    """Hierarchical op name: ``attn.q``, ``mlp.down``, ``lm_head``..."""
    count: int
    """Instances in the phase (layers x ranks x micro-batches)."""
    flops: float
    """FLOPs of one instance (2 per multiply-add)."""
    weight_bytes: float
    """Weights one instance reads."""
    act_read_bytes: float
    """Activations one instance reads."""
    act_write_bytes: float
    """Activations one instance writes."""
    kv_read_bytes: float
    """KV cache one instance reads."""
    kv_write_bytes: float
    """KV cache one instance writes."""
    bytes: float
    """Sum of the five byte fields."""
    intensity: float | None
    """flops / bytes, FLOP/byte; None when no byte moves."""
    compute_time_s: float
    """flops / peak."""
    memory_time_s: float
    """bytes / bandwidth."""
    time_s: float
    """max(compute_time_s, memory_time_s): analytic, one instance."""
    bound: str
    """``compute`` or ``memory``."""
    implementation: str | None = opt()
    """The op set this row belongs to: ``fused`` (the headline's) or ``eager``; older files: eager."""

    @classmethod
    def of(cls, op: OpCost, roof: Roofline, implementation: str | None = None) -> OpRow:
        """The row of one analysed op instance on ``roof``."""
        compute_s, memory_s = roof.compute_time_s(op.flops), roof.memory_time_s(op.bytes)
        return cls(
            phase=op.phase,
            name=op.name,
            count=op.count,
            flops=op.flops,
            weight_bytes=op.weight_bytes,
            act_read_bytes=op.act_read_bytes,
            act_write_bytes=op.act_write_bytes,
            kv_read_bytes=op.kv_read_bytes,
            kv_write_bytes=op.kv_write_bytes,
            bytes=op.bytes,
            intensity=op.intensity,
            compute_time_s=compute_s,
            memory_time_s=memory_s,
            time_s=max(compute_s, memory_s),
            bound="compute" if compute_s > memory_s else "memory",
            implementation=implementation,
        )


@dataclass(frozen=True, kw_only=True)
class PhaseTotals(Record):
    """A phase's totals over every op, layer, rank and micro-batch."""

    flops: float
    """Σ flops·count."""
    bytes: float
    """Σ bytes·count."""
    weight_bytes: float
    """Σ weight_bytes·count."""
    act_read_bytes: float
    """Σ act_read_bytes·count."""
    act_write_bytes: float
    """Σ act_write_bytes·count."""
    kv_read_bytes: float
    """Σ kv_read_bytes·count."""
    kv_write_bytes: float
    """Σ kv_write_bytes·count."""
    intensity: float | None
    """flops / bytes, FLOP/byte."""
    compute_time_s: float
    """Compute roofline time of one rank per stage, micro-batches in sequence."""
    memory_time_s: float
    """Memory roofline time of one rank per stage, micro-batches in sequence."""
    comm_time_s: float
    """One rank chain's communication."""
    time_s: float
    """Critical-path time: Σ_j T_j + (m−1)·max_j T_j over stage times."""
    bound: str
    """``compute`` or ``memory`` for the totals."""
    tokens: int
    """Tokens processed: b·s in prefill, b in decode."""
    micro_batches: int
    """m in prefill, 1 in decode."""
    stage_times_s: tuple[float, ...] = seq()
    """T_j: each pipeline stage's time for one micro-batch or step."""
    bubble_fraction: float
    """Share of the pipeline's GPU-time spent idle."""
    ttft_s: float | None = opt()
    """Prefill: time to first token (a lower bound)."""
    tpot_s: float | None = opt()
    """Decode: time per output token (a lower bound)."""
    tokens_per_s: float | None = opt()
    """Prefill: b·s / ttft_s; decode: b / max(stage_times_s)."""
    bytes_per_token: float | None = opt()
    """Decode: bytes / b."""
    weight_bytes_per_token: float | None = opt()
    """Decode: weight_bytes / b."""
    kv_traffic_bytes_per_token: float | None = opt()
    """Decode: (kv_read_bytes + kv_write_bytes) / b."""
    act_bytes_per_token: float | None = opt()
    """Decode: (act_read_bytes + act_write_bytes) / b."""
    compute_bound_batch: int | None = opt()
    """Decode: the smallest batch whose decode step is compute-bound; None if none (or prefill)."""
    gpipe_bubble_fraction: float | None = opt()
    """Parallel profile runs (``configs[].analytic``): (pp − 1) / (m + pp − 1)."""
    pass_bubble_fraction: float | None = opt()
    """Parallel profile runs: the bubble of one measured pass, 1 − m · Σ stage_times_s / (pp · time_s)."""
    eager: Mapping[str, Any] | None = opt()
    """Fused headline: the same totals counted with the eager op set (one kernel per op), beside it."""
    expected_experts_per_layer: float | None = opt()
    """Mixture-of-experts models: distinct routed experts one MoE layer reads in the pass (every rank
    together), E·(1 − (1 − k/E)^T) for T tokens under uniform routing; null for a dense model."""

    @classmethod
    def of(cls, phase: Phase, **per_phase: Any) -> PhaseTotals:
        """The totals of an analysed phase; ``per_phase``: the optional fields to fill in (written null
        where None)."""
        totals = phase.totals
        compute_s, memory_s = phase.rank_times_s()
        return _built(
            cls,
            flops=totals.flops,
            bytes=totals.bytes,
            weight_bytes=totals.weight_bytes,
            act_read_bytes=totals.act_read_bytes,
            act_write_bytes=totals.act_write_bytes,
            kv_read_bytes=totals.kv_read_bytes,
            kv_write_bytes=totals.kv_write_bytes,
            intensity=totals.flops / totals.bytes if totals.bytes else None,
            compute_time_s=compute_s,
            memory_time_s=memory_s,
            comm_time_s=phase.comm_time_s,
            time_s=phase.time_s,
            bound=phase.bound,
            tokens=phase.tokens,
            micro_batches=phase.micro_batches,
            stage_times_s=tuple(phase.stage_times_s),
            bubble_fraction=phase.bubble_fraction,
            **per_phase,
        )


@dataclass(frozen=True, kw_only=True)
class Phases(Record):
    """Both phases of the workload."""

    prefill: PhaseTotals = one(PhaseTotals)
    """The prompt pass."""
    decode: PhaseTotals = one(PhaseTotals)
    """One decode step."""

    @classmethod
    def of(cls, a: Analysis, eager: Analysis | None = None) -> Phases:
        """Both phases of an analysis, with their per-token figures; given ``eager`` (``a.eager()``),
        its totals beside each (``PhaseTotals.eager``) and the decode's compute-bound batch."""
        prefill, decode, b = a.prefill, a.decode, a.workload.batch
        totals = decode.totals
        beside_prefill: dict[str, Any] = {}
        beside_decode: dict[str, Any] = {}
        if eager is not None:
            beside = cls.of(eager)
            beside_prefill = {"eager": beside.prefill.to_dict()}
            beside_decode = {
                "compute_bound_batch": a.compute_bound_batch(),
                "eager": beside.decode.to_dict(),
            }
        return cls(
            prefill=PhaseTotals.of(
                prefill,
                ttft_s=prefill.time_s,
                tokens_per_s=prefill.tokens / prefill.time_s if prefill.time_s else None,
                expected_experts_per_layer=a.expected_experts_per_layer("prefill"),
                **beside_prefill,
            ),
            decode=PhaseTotals.of(
                decode,
                tpot_s=decode.time_s,
                tokens_per_s=a.decode_tokens_per_s,
                bytes_per_token=totals.bytes / b,
                weight_bytes_per_token=totals.weight_bytes / b,
                kv_traffic_bytes_per_token=(totals.kv_read_bytes + totals.kv_write_bytes) / b,
                act_bytes_per_token=(totals.act_read_bytes + totals.act_write_bytes) / b,
                expected_experts_per_layer=a.expected_experts_per_layer("decode"),
                **beside_decode,
            ),
        )


@dataclass(frozen=True, kw_only=True)
class ModelInfo(Record):
    """The model analysed."""

    name: str
    """Preset name, or the name of an imported config."""
    attention: str
    """``mha``, ``gqa`` or ``mqa``."""
    params: int
    """Parameter count."""
    weight_bytes: float
    """All weights at the weight dtype."""
    kv_bytes_per_token: float
    """KV-cache storage per cached token, all layers."""
    spec: Mapping[str, Any]
    """The ``ModelSpec`` fields."""
    active_params: int | None = opt()
    """Parameters one token runs through (a MoE model's top-k routed and shared experts, not all E); the
    parameter count for a dense model."""
    experts: int | None = opt()
    """Routed experts per MoE layer, E; null for a dense model."""
    experts_per_token: int | None = opt()
    """Experts each token is routed to, k; null for a dense model."""
    moe_layers: int | None = opt()
    """Layers with a MoE block (0 for a dense model)."""
    attention_window: int | None = opt()
    """Sliding-window length W of the windowed layers; null without windows."""
    window_layers: int | None = opt()
    """Layers that attend over a window (0 without windows)."""

    @classmethod
    def of(cls, a: Analysis) -> ModelInfo:
        """The analysed model."""
        from llmroof.analytic.memory import active_param_count

        model = a.model
        return _built(
            cls,
            name=model.name,
            attention=model.attention_kind,
            params=a.params,
            weight_bytes=a.weight_bytes,
            kv_bytes_per_token=a.kv_bytes_per_token,
            active_params=active_param_count(model),
            experts=model.num_experts,
            experts_per_token=model.experts_per_token,
            moe_layers=model.moe_layers,
            attention_window=model.sliding_window,
            window_layers=model.window_layers,
            spec=dataclasses.asdict(model),
        )


@dataclass(frozen=True, kw_only=True)
class AnalysisWorkload(Record):
    """What was analysed."""

    batch: int
    """b, sequences."""
    prompt_len: int
    """s, prompt tokens per sequence."""
    context_len: int
    """c, KV-cache tokens in the decode step, the new token included."""
    weight_dtype: str
    """Dtype of the decoder's linear weights."""
    act_dtype: str
    """Activation and compute dtype."""
    kv_dtype: str
    """KV-cache dtype."""
    weight_group_size: int | None
    """Quantisation group size; None if ungrouped."""
    attention_kernel: str
    """``eager`` or ``flash``."""
    fused_qkv: bool
    """One ``attn.qkv`` projection instead of q, k, v."""
    all_logits: bool
    """Prefill computes logits at every position."""
    memory_reserve_fraction: float
    """Share of device memory kept back."""
    implementation: str | None = opt()
    """The op set of the headline bound: ``fused`` (minimum traffic) or ``eager``; absent in older files (eager)."""
    expert_dtype: str | None = opt()
    """Dtype of a MoE model's experts (``--expert-dtype``; else the weights')."""
    routing: str | None = opt()
    """Expert routing: ``uniform``, ``Zipf s=S`` or ``measured expert-load histogram``."""
    mla_absorbed: bool | None = opt()
    """MLA decode with absorbed weights (false with ``--mla-naive``)."""

    @classmethod
    def of(cls, a: Analysis) -> AnalysisWorkload:
        """The analysed workload."""
        w, precision = a.workload, a.workload.precision
        return _built(
            cls,
            batch=w.batch,
            prompt_len=w.prompt_len,
            context_len=w.context_len,
            weight_dtype=precision.weight.name,
            act_dtype=precision.activation.name,
            kv_dtype=precision.kv.name,
            weight_group_size=precision.weight.group_size or None,
            implementation=w.implementation,
            attention_kernel=w.attention_kernel,
            fused_qkv=w.fused_qkv,
            expert_dtype=precision.experts.name,
            routing=w.routing.describe(),
            mla_absorbed=w.mla_absorbed,
            all_logits=w.all_logits,
            memory_reserve_fraction=w.memory_reserve_fraction,
        )


@dataclass(frozen=True, kw_only=True)
class Memory(Record):
    """Per-GPU memory; with pp > 1 the fullest stage decides."""

    weight_bytes_per_gpu: float
    """The fullest GPU's weights."""
    kv_tokens_per_sequence: int
    """max(prompt_len, context_len)."""
    kv_bytes_per_gpu: float
    """The fullest GPU's KV cache."""
    total_bytes_per_gpu: float
    """The fullest GPU's weights + KV cache."""
    usable_bytes_per_gpu: float
    """memory_bytes × (1 − memory_reserve_fraction)."""
    max_batch: int
    """Largest batch whose KV cache fits beside the weights."""
    max_context: int
    """Longest KV cache the batch can hold."""
    fits: bool
    """total_bytes_per_gpu ≤ usable_bytes_per_gpu."""
    stage_weight_bytes: tuple[float, ...] = seq()
    """Weights on one GPU of each stage."""

    @classmethod
    def of(cls, a: Analysis) -> Memory:
        """The analysis's memory per GPU at its batch and KV-cache length."""
        batch = a.workload.batch
        return cls(
            weight_bytes_per_gpu=a.weight_bytes_per_gpu,
            kv_tokens_per_sequence=a.kv_tokens,
            kv_bytes_per_gpu=a.kv_bytes_per_gpu(batch, a.kv_tokens),
            total_bytes_per_gpu=a.total_bytes_per_gpu(),
            usable_bytes_per_gpu=a.usable_memory_bytes,
            max_batch=a.max_batch(),
            max_context=a.max_context(batch),
            fits=a.fits,
            stage_weight_bytes=tuple(a.stage_weight_bytes),
        )


@dataclass(frozen=True, kw_only=True)
class CommEntry(Record, CommOp):
    """One kind of collective or send in a phase: the analytic :class:`~llmroof.analytic.comm.CommOp`
    (its fields, in its order, are the file's keys) read from or written to a file."""

    @classmethod
    def of(cls, op: CommOp) -> CommEntry:
        """The entry of an analysed collective."""
        return cls(**{f.name: getattr(op, f.name) for f in dataclasses.fields(CommOp)})


@dataclass(frozen=True, kw_only=True)
class Parallel(Record):
    """The parallel layout and its communication."""

    tp: int
    """Tensor-parallel degree."""
    pp: int
    """Pipeline stages."""
    gpus: int
    """tp·pp·ep."""
    micro_batches: int
    """Prefill micro-batches, m."""
    stage_layers: tuple[int, ...] = seq()
    """Layers on each stage."""
    kv_heads_per_rank: int
    """KV heads one rank holds."""
    kv_replicated: bool
    """kv < tp."""
    comm_time_s: float
    """prefill_comm_time_s + decode_comm_time_s."""
    prefill_comm_time_s: float
    """As ``phases.prefill.comm_time_s``."""
    decode_comm_time_s: float
    """As ``phases.decode.comm_time_s``."""
    bubble_fraction: float
    """As ``phases.prefill.bubble_fraction``."""
    gpipe_bubble_fraction: float
    """(pp − 1) / (m + pp − 1)."""
    comm: tuple[CommEntry, ...] = many(CommEntry)
    """Every collective and send, per phase."""
    ep: int | None = opt()
    """Expert-parallel degree (1 for a dense model); absent in older files."""

    @classmethod
    def of(cls, a: Analysis) -> Parallel:
        """The analysis's parallel layout and every collective of both phases."""
        w, model = a.workload, a.model
        return _built(
            cls,
            tp=w.tp,
            pp=w.pp,
            ep=w.ep,
            gpus=w.tp * w.pp * w.ep,
            micro_batches=w.micro_batches,
            stage_layers=tuple(a.stage_layers),
            kv_heads_per_rank=a.shard.kv_heads,
            kv_replicated=model.num_kv_heads < w.tp or (model.is_mla and w.tp > 1),
            comm_time_s=a.prefill.comm_time_s + a.decode.comm_time_s,
            prefill_comm_time_s=a.prefill.comm_time_s,
            decode_comm_time_s=a.decode.comm_time_s,
            bubble_fraction=a.prefill.bubble_fraction,
            gpipe_bubble_fraction=comm.bubble_fraction(w.pp, w.micro_batches),
            comm=tuple(CommEntry.of(c) for c in (*a.prefill.comm, *a.decode.comm)),
        )


@dataclass(frozen=True, kw_only=True)
class AnalysisRecord(Record):
    """A whole ``llmroof.analysis/1`` file."""

    SCHEMA = schemas.ANALYSIS

    llmroof_version: str
    """Version that wrote the file."""
    model: ModelInfo = one(ModelInfo)
    """The model."""
    hardware: Mapping[str, Any]
    """The catalog entry, plus ``compute_dtype``, ``roofline_peak_flops_per_s`` and
    ``ridge_point_flops_per_byte``."""
    workload: AnalysisWorkload = one(AnalysisWorkload)
    """The workload."""
    ops: tuple[OpRow, ...] = many(OpRow)
    """Every op instance, prefill first."""
    eager_ops: tuple[OpRow, ...] | None = opt(OpRow, many_=True)
    """Fused headline: the eager op set's instances beside it (one kernel per op)."""
    phases: Phases = one(Phases)
    """Phase totals."""
    memory: Memory = one(Memory)
    """Per-GPU memory."""
    parallel: Parallel = one(Parallel)
    """The parallel layout."""
    warnings: tuple[str, ...] = seq()
    """Warnings about the workload."""

    @classmethod
    def of(cls, a: Analysis) -> AnalysisRecord:
        """The record of an analysis: the headline op set's rows and totals, the eager set's beside."""
        roof, implementation, eager = a.roofline, a.workload.implementation, a.eager()
        hardware = a.hardware.to_dict()
        hardware.update(
            compute_dtype=a.compute_dtype,
            roofline_peak_flops_per_s=roof.peak_flops_per_s,
            ridge_point_flops_per_byte=roof.ridge_point,
        )
        return cls(
            llmroof_version=__version__,
            model=ModelInfo.of(a),
            hardware=hardware,
            workload=AnalysisWorkload.of(a),
            ops=tuple(OpRow.of(op, roof, implementation) for op in (*a.prefill.ops, *a.decode.ops)),
            eager_ops=tuple(
                OpRow.of(op, roof, "eager") for op in (*eager.prefill.ops, *eager.decode.ops)
            ),
            phases=Phases.of(a, eager),
            memory=Memory.of(a),
            parallel=Parallel.of(a),
            warnings=tuple(a.warnings),
        )

    def to_pandas(self, *, ops: bool = False) -> Any:
        """One row per phase (``ops=True``: per op instance), units in the column names."""
        import pandas as pd

        w = self.workload
        context = {
            "model": self.model.name,
            "hardware": self.hardware.get("name"),
            "batch": w.batch,
            "prompt_len": w.prompt_len,
            "context_len": w.context_len,
            "tp": self.parallel.tp,
            "pp": self.parallel.pp,
        }
        if ops:
            return pd.DataFrame([context | op.to_dict() for op in self.ops])
        return pd.DataFrame(
            [
                context | {"phase": name} | getattr(self.phases, name).to_dict()
                for name in ("prefill", "decode")
            ]
        )
