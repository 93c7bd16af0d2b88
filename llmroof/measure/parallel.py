"""``llmroof profile --tp N --pp M``: every rank times its real shard; rank 0 gathers and writes.

Per configuration each rank measures, on its own shard (kernels/parallel.py):
- its stage's compute for one micro-batch (prefill) or one step (decode), tensor-parallel all-reduces
  included: the stage time;
- one all-reduce of the layer activations in its tensor group, and one pipeline send/recv between
  neighbouring stages (a ping-pong, halved);
- the whole pipelined pass: prefill of m micro-batches (GPipe schedule) or one decode step through every
  stage, timed between barriers.
Rank 0 sets the measured comm time, stage times and bubble beside the analytic ones on a roofline of the
measured ceilings and the measured link (bandwidth and latency fitted from all-reduces of two sizes).
All ranks agree on every repetition count, so no collective is left waiting.
"""

from __future__ import annotations

import contextlib
import dataclasses
import statistics
import time
from dataclasses import dataclass
from typing import Any

from llmroof.analytic import Workload, analyze
from llmroof.analytic import comm as analytic_comm
from llmroof.analytic.sharding import stage_layers
from llmroof.labels import config_label
from llmroof.measure import nvtx, profile_record
from llmroof.measure.distributed import Layout, init_group
from llmroof.measure.profile_record import ProfileRun, Save, timing_stats
from llmroof.results.records.analysis import PhaseTotals
from llmroof.results.records.profile import (
    ConfigResult,
    CriticalPath,
    InstantiatedStack,
    LinkFit,
    NvmlSampling,
    OpResult,
    ParallelMeasured,
    ParallelRun,
    ProfileWorkload,
    RankResult,
    TimingStats,
)

EXTRAPOLATION = (
    "N instantiated layers split over the stages as the full depth is; each stage's time grows by "
    "d_j = (L_j - n_j) x t(one sharded layer of stage j, its all-reduces included, slowest tensor "
    "rank); the pass grows by sum_j d_j + (m - 1) x max_j d_j (the GPipe critical path: the first "
    "micro-batch through every stage, the others behind the slowest)"
)


@dataclass(frozen=True)
class ParallelConfig:
    """A tensor- and pipeline-parallel profile."""

    profile: Any
    """The :class:`~llmroof.measure.profile.ProfileConfig` (model, batches, lengths, dtype, budgets)."""
    tp: int
    pp: int
    micro_batches: int = 1
    timeout_s: float = 120.0
    device: str = "cpu"
    """``cpu`` (gloo) or ``cuda`` (NCCL; each rank takes cuda:LOCAL_RANK)."""


def rank_main(
    rank: int, world_size: int, config: ParallelConfig, save: Save | None, argv: list[str]
) -> None:
    """Entry point of one rank (the launcher's target, or called directly under torchrun). Rank 0 hands the
    record to ``save`` after every step (a picklable callable: the launcher sends it to the rank)."""
    import os

    import torch

    layout = Layout(rank, world_size, config.tp, config.pp, int(os.environ.get("LOCAL_RANK", rank)))
    if config.device == "cpu":
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world_size))
        device_name, backend = "cpu", "gloo"
    else:
        torch.cuda.set_device(layout.local_rank)
        device_name, backend = f"cuda:{layout.local_rank}", "nccl"
    dist, tp_group = init_group(layout, backend, config.timeout_s)
    try:
        _run(layout, dist, tp_group, config, device_name, save, argv)
    finally:
        dist.destroy_process_group()


class _Stage:
    """One rank's part of the model: its layers, plus the embedding (first stage) or head (last stage)."""

    def __init__(
        self,
        layout: Layout,
        config: ParallelConfig,
        dtype: Any,
        device: str,
        dist: Any,
        tp_group: Any,
    ) -> None:
        import torch

        from llmroof.kernels import weights
        from llmroof.kernels.layers import make_norm
        from llmroof.kernels.parallel import ShardedLayer, drop_replicated_row_biases, shard_spec

        model = config.profile.model
        self.layout, self.dist, self.group, self.dtype, self.device = (
            layout,
            dist,
            tp_group,
            dtype,
            device,
        )
        self.spec = shard_spec(model, config.tp)
        self.full = model
        # --layers N: N layers per pipeline, split over the stages as the full depth is; the rest extrapolated.
        self.full_layers_per_stage = stage_layers(model.num_layers, config.pp)
        self.layers_per_stage = stage_layers(config.profile.num_layers, config.pp)
        self.n_layers = self.layers_per_stage[layout.stage]
        self.extrapolated = self.layers_per_stage != self.full_layers_per_stage
        reduce = self.all_reduce if config.tp > 1 else (lambda x: x)
        self.layers = [
            drop_replicated_row_biases(
                ShardedLayer(self.spec, dtype, device, reduce), layout.tp_rank
            )
            for _ in range(self.n_layers)
        ]
        self.first = layout.stage == 0
        self.last = layout.stage == config.pp - 1
        self.vocab_start = layout.tp_rank * self.spec.vocab_size
        if self.first:
            self.embedding = weights.random(
                (self.spec.vocab_size, model.hidden_size), dtype, device
            )
        if self.last:
            self.final_norm = make_norm(model, dtype, device)
            self.lm_head = weights.random((self.spec.vocab_size, model.hidden_size), dtype, device)
        self.torch = torch

    def all_reduce(self, x: Any) -> Any:
        self.dist.all_reduce(x, group=self.group)
        return x

    def embed(self, tokens: Any) -> Any:
        """Vocab-parallel lookup: rows outside this rank's range are zero, and the all-reduce fills them."""
        torch = self.torch
        local = tokens - self.vocab_start
        inside = (local >= 0) & (local < self.spec.vocab_size)
        x = torch.nn.functional.embedding(local.clamp(0, self.spec.vocab_size - 1), self.embedding)
        x = x * inside.unsqueeze(-1).to(x.dtype)
        return self.all_reduce(x) if self.layout.tp > 1 else x

    def head(self, x: Any) -> Any:
        """Final norm and this rank's vocabulary slice of the logits, gathered across the tensor group."""
        torch = self.torch
        logits = torch.nn.functional.linear(self.final_norm(x)[:, -1], self.lm_head)
        if self.layout.tp == 1:
            return logits
        parts = [torch.empty_like(logits) for _ in range(self.layout.tp)]
        self.dist.all_gather(parts, logits, group=self.group)
        return torch.cat(parts, dim=-1)

    def new_cache(self, batch: int, length: int) -> Any:
        from llmroof.kernels.layers import KVCache

        return KVCache.allocate(self.spec, self.n_layers, batch, length, self.dtype, self.device)

    def forward(self, x: Any, cache: Any, phase: str, s: int, layers: int | None = None) -> Any:
        """This stage's layers (the first ``layers`` of them when given) on ``x``."""
        pairs = list(zip(self.layers, cache.layers))[:layers]
        if phase == "prefill":
            cos, sin = cache.cos[:s], cache.sin[:s]
            for layer, (k, v) in pairs:
                x = layer.prefill(x, cos, sin, k, v)
        else:
            cos, sin = cache.decode_rope()
            for layer, (k, v) in pairs:
                x = layer.decode(x, cos, sin, k, v)
        return x


def _agreed_reps(dist: Any, estimate_s: float, rep_ms: float, torch: Any) -> int:
    """One repetition count for every rank: from the slowest rank's estimate."""
    value = torch.tensor([estimate_s], dtype=torch.float64)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return int(min(50, max(3, rep_ms / 1e3 / max(float(value.item()), 1e-9))))


def _collective_samples(fn: Any, dist: Any, sync: Any, rep_ms: float, torch: Any) -> list[float]:
    """Time ``fn`` on every rank in lockstep: a barrier before each call, the same count everywhere."""
    fn()
    sync()
    dist.barrier()
    start = time.perf_counter()
    fn()
    sync()
    reps = _agreed_reps(dist, time.perf_counter() - start, rep_ms, torch)
    samples = []
    for _ in range(reps):
        dist.barrier()
        start = time.perf_counter()
        fn()
        sync()
        samples.append(time.perf_counter() - start)
    dist.barrier()
    return samples


def _run(
    layout: Layout,
    dist: Any,
    tp_group: Any,
    config: ParallelConfig,
    device: str,
    save: Save | None,
    argv: list[str],
) -> None:
    import torch

    from llmroof.measure.device import open_device
    from llmroof.measure.profile import (
        TORCH_DTYPES,
        config_plan,
        measure_ceilings,
        measured_hardware,
    )

    prof = config.profile
    dtype = getattr(torch, TORCH_DTYPES[prof.dtype])
    dev = open_device(device, torch)
    sync = dev.synchronize
    stage = _Stage(layout, config, dtype, device, dist, tp_group)
    model = prof.model

    # Ceilings on rank 0 alone (the others wait), and the link fitted from two all-reduce sizes.
    run: ProfileRun | None = None  # rank 0's record
    if layout.rank == 0:
        ceilings, source = measure_ceilings(dev, prof, torch, lambda _: None)
        run = ProfileRun(
            save,
            profile_record.header(
                dev,
                model,
                argv=argv,
                workload=ProfileWorkload(
                    batches=prof.batches,
                    prompt_len=prof.prompt_len,
                    contexts=prof.contexts,
                    dtype=prof.dtype,
                    layers_instantiated=prof.num_layers,
                    layers_total=model.num_layers,
                    extrapolated=stage.extrapolated,
                    extrapolation=EXTRAPOLATION if stage.extrapolated else None,
                ),
                nvml=NvmlSampling(status="off: not sampled in parallel runs", source=None),
                ceilings=ceilings,
                calibration=None if source is None else source.info(),
            ),
        )
    dist.barrier()
    link = (
        _fit_link(dist, tp_group, layout, torch, device, sync, prof.rep_ms)
        if layout.world_size > 1
        else None
    )
    if run is not None:
        assert run.record.ceilings is not None  # measured above
        hardware = measured_hardware(dev, run.record.ceilings, prof.dtype, None)
        if link is not None:
            hardware = dataclasses.replace(
                hardware,
                link_bandwidth_bytes_per_s=link.bandwidth_bytes_per_s,
                link_latency_s=link.latency_s,
                internode_bandwidth_bytes_per_s=link.bandwidth_bytes_per_s,
                internode_latency_s=link.latency_s,
                gpus_per_node=layout.world_size,
            )
        run.advance(
            parallel=ParallelRun(
                tp=config.tp,
                pp=config.pp,
                micro_batches=config.micro_batches,
                world_size=layout.world_size,
                backend="gloo" if device == "cpu" else "nccl",
                stage_layers=tuple(stage.full_layers_per_stage),
                stage_layers_instantiated=tuple(stage.layers_per_stage),
                link=link,
                layout="rank = stage * tp + tp_rank",
            ),
            roofline=profile_record.roofline(
                hardware.peak_flops_per_s[prof.dtype],
                hardware.memory_bandwidth_bytes_per_s,
                "measured ceilings and measured link",
            ),
        )
        run.save()
    with contextlib.nullcontext() if run is None else run.recording():
        for phase, batch, length in config_plan(prof):
            with nvtx.annotate(f"rank {layout.rank} {config_label(phase, batch, length)}"):
                mine = _measure_config(
                    stage, layout, dist, tp_group, config, torch, sync, phase, batch, length
                )
            gathered: list[Any] | None = [None] * layout.world_size if layout.rank == 0 else None
            dist.gather_object(mine, gathered, dst=0)
            if run is not None and gathered is not None:  # rank 0
                run.add(_combine(gathered, config, hardware, phase, batch, length))


def _fit_link(
    dist: Any, group: Any, layout: Layout, torch: Any, device: str, sync: Any, rep_ms: float
) -> LinkFit:
    """Fit the ring model t = 2(n-1)/n * S/B + 2(n-1) * L to all-reduces of 4 KiB and 16 MiB over the
    whole world (the tensor group when pp = 1)."""
    n = layout.world_size
    sizes = (4 * 2**10, 16 * 2**20)
    times = []
    for size in sizes:
        buffer = torch.zeros(size // 4, dtype=torch.float32, device=device)
        samples = _collective_samples(
            lambda buffer=buffer: dist.all_reduce(buffer), dist, sync, rep_ms, torch
        )
        times.append(statistics.median(samples))
    small, large = sizes
    # times that do not grow with the size: no measurable bandwidth cost (an infinite bandwidth, null in JSON)
    fit = analytic_comm.fit_ring_allreduce(sizes, times, n)
    bandwidth, latency = fit or (float("inf"), min(times) / (2 * (n - 1)))
    return LinkFit(
        method=f"ring all-reduce model fitted to all-reduces of {small} and {large} bytes over {n} ranks",
        sizes_bytes=sizes,
        times_s=tuple(times),
        bandwidth_bytes_per_s=bandwidth,
        latency_s=latency,
    )


def _measure_config(
    stage: _Stage,
    layout: Layout,
    dist: Any,
    tp_group: Any,
    config: ParallelConfig,
    torch: Any,
    sync: Any,
    phase: str,
    batch: int,
    length: int,
) -> tuple[RankResult, dict[str, TimingStats] | None]:
    """This rank's measurements of one configuration, and its ops' timings with ``--per-op``."""
    prof = config.profile
    model = prof.model
    m = config.micro_batches if phase == "prefill" else 1
    if batch % m:
        m = 1
    mb = batch // m
    s = length if phase == "prefill" else 1
    h = model.hidden_size
    caches = [stage.new_cache(mb, length) for _ in range(m)]
    torch.manual_seed(0)
    tokens = [torch.randint(0, model.vocab_size, (mb, s), device=stage.device) for _ in range(m)]
    activation = torch.zeros((mb, s, h), dtype=stage.dtype, device=stage.device)
    prev_peer = layout.peer_in_stage(layout.stage - 1) if not stage.first else None
    next_peer = layout.peer_in_stage(layout.stage + 1) if not stage.last else None

    def stage_pass(index: int) -> Any:
        x = stage.embed(tokens[index]) if stage.first else activation
        x = stage.forward(x, caches[index], phase, s)
        return stage.head(x) if stage.last else x

    def pipeline() -> None:
        """GPipe: each stage runs micro-batches in order; sends are asynchronous so stages overlap."""
        pending = []  # (work, tensor): the tensor must live until its send completes
        for index in range(m):
            if prev_peer is not None:
                dist.recv(activation, src=prev_peer)
            out = stage_pass(index)
            if next_peer is not None:
                out = out.contiguous()
                pending.append((dist.isend(out, dst=next_peer), out))
        for work, _ in pending:
            work.wait()

    with torch.inference_mode():
        stage_samples = _collective_samples(lambda: stage_pass(0), dist, sync, prof.rep_ms, torch)
        pipeline_samples = _collective_samples(pipeline, dist, sync, prof.rep_ms, torch)
        message = torch.zeros((mb, s, h), dtype=stage.dtype, device=stage.device)
        allreduce_samples = (
            _collective_samples(
                lambda: dist.all_reduce(message, group=tp_group), dist, sync, prof.rep_ms, torch
            )
            if layout.tp > 1
            else []
        )
        p2p_samples = (
            _p2p_samples(layout, dist, message, sync, prof.rep_ms, torch) if layout.pp > 1 else []
        )
        # One sharded layer (its all-reduces included), for the extrapolation to full depth.
        layer_samples = (
            _collective_samples(
                lambda: stage.forward(activation, caches[0], phase, s, layers=1),
                dist,
                sync,
                prof.rep_ms,
                torch,
            )
            if stage.extrapolated
            else []
        )
    result = RankResult(
        rank=layout.rank,
        stage=layout.stage,
        tp_rank=layout.tp_rank,
        layers=stage.n_layers,
        layers_total=stage.full_layers_per_stage[layout.stage],
        layer_time_s=statistics.median(layer_samples) if layer_samples else None,
        stage_time_s=statistics.median(stage_samples),
        stage_timing=timing_stats(stage_samples),
        pipeline_time_s=statistics.median(pipeline_samples),
        pipeline_timing=timing_stats(pipeline_samples),
        allreduce_time_s=statistics.median(allreduce_samples) if allreduce_samples else None,
        allreduce_bytes=message.numel() * message.element_size(),
        p2p_time_s=statistics.median(p2p_samples) if p2p_samples else None,
        micro_batches=m,
    )
    timings = _shard_op_timings(stage, prof, phase, mb, length) if prof.per_op else None
    return result, timings


def _shard_op_timings(
    stage: _Stage, prof: Any, phase: str, batch: int, length: int
) -> dict[str, Any]:
    """Each op of one shard layer (and this stage's embedding or head), timed locally without collectives:
    the shard's compute alone. A plain (non-reducing) layer of the shard's widths stands in for the sharded
    one, so no rank waits on another while the repetition counts differ."""
    from types import SimpleNamespace

    from llmroof.kernels.layers import DecoderLayer
    from llmroof.kernels.ops import op_kernels
    from llmroof.measure.device import open_device
    from llmroof.measure.timer import bench

    device = open_device(stage.device, stage.torch)
    local: Any = SimpleNamespace(
        spec=stage.spec,
        dtype=stage.dtype,
        device=stage.device,
        layers=[DecoderLayer(stage.spec, stage.dtype, stage.device)],
        embedding=getattr(stage, "embedding", None),
        final_norm=getattr(stage, "final_norm", None),
        lm_head=getattr(stage, "lm_head", None),
    )
    on_stage = {"embed"} if stage.first else set()
    on_stage |= {"final_norm", "lm_head"} if stage.last else set()
    timings: dict[str, TimingStats] = {}
    with stage.torch.inference_mode():
        for name, fn in op_kernels(local, phase, batch, length).items():
            if name in ("embed", "final_norm", "lm_head") and name not in on_stage:
                continue
            samples = bench(fn, device, warmup_ms=prof.warmup_ms, rep_ms=prof.rep_ms)
            timings[name] = timing_stats(samples)
    return timings


def _p2p_samples(
    layout: Layout, dist: Any, message: Any, sync: Any, rep_ms: float, torch: Any
) -> list[float]:
    """One-way send time between stage 0 and stage 1 (the same tensor position): a ping-pong, halved.
    Every rank joins the barriers; only that pair moves data."""
    a, b = layout.peer_in_stage(0), layout.peer_in_stage(1)

    def ping_pong() -> None:
        if layout.rank == a:
            dist.send(message, dst=b)
            dist.recv(message, src=b)
        elif layout.rank == b:
            dist.recv(message, src=a)
            dist.send(message, dst=a)

    return [t / 2 for t in _collective_samples(ping_pong, dist, sync, rep_ms, torch)]


def _combine(
    gathered: list[tuple[RankResult, dict[str, TimingStats] | None]],
    config: ParallelConfig,
    hardware: Any,
    phase: str,
    batch: int,
    length: int,
) -> ConfigResult:
    """Rank 0: per-rank rows, the critical path, and the analytic figures beside them."""
    prof = config.profile
    ranks = [rank for rank, _ in gathered]
    m = ranks[0].micro_batches
    workload = Workload(
        batch=batch,
        prompt_len=length if phase == "prefill" else 1,
        context_len=length if phase == "decode" else 1,
        precision=prof.precision,
        tp=config.tp,
        pp=config.pp,
        micro_batches=m,
        attention_kernel="flash" if phase == "prefill" else "eager",
    )
    analysis = analyze(prof.model, hardware, workload)
    ph, eager = (
        getattr(analysis, phase),
        getattr(analysis.eager(), phase),
    )  # the bound; the ops the ranks timed
    stages = [max(r.stage_time_s for r in ranks if r.stage == j) for j in range(config.pp)]
    time_s = max(r.pipeline_time_s for r in ranks)
    extra = extrapolation_s(ranks, config.pp)
    instantiated = InstantiatedStack(
        stage_times_s=tuple(stages),
        time_s=time_s,
        layers_per_stage=tuple(
            next(r.layers for r in ranks if r.stage == j) for j in range(config.pp)
        ),
        extra_stage_times_s=tuple(extra),
    )
    stages = [t + d for t, d in zip(stages, extra)]
    time_s += sum(extra) + (m - 1) * max(extra)
    pp = config.pp
    bubble = analytic_comm.pass_bubble_fraction(stages, m, time_s)
    ar = [r.allreduce_time_s for r in ranks if r.allreduce_time_s is not None]
    p2p = [r.p2p_time_s for r in ranks if r.p2p_time_s is not None]
    model = prof.model
    per_pass_allreduces = (
        2 * model.num_layers + 1
    )  # two per layer and the embedding's, per micro-batch
    comm_measured = (m * per_pass_allreduces * statistics.median(ar) if ar else 0.0) + (
        m * (pp - 1) * statistics.median(p2p) if p2p else 0.0
    )
    return ConfigResult(
        **profile_record.config_head(phase, batch, length),
        status="ok",
        micro_batches=m,
        time_s=time_s,
        ranks=tuple(
            rank if not timings else dataclasses.replace(rank, ops=_rank_ops(eager, timings))
            for rank, timings in gathered
        ),
        critical_path=CriticalPath(
            stage_times_s=tuple(stages),
            slowest_stage=stages.index(max(stages)),
            time_s=time_s,
        ),
        measured=ParallelMeasured(
            stage_times_s=tuple(stages),
            bubble_fraction=bubble,
            comm_time_s=comm_measured,
            comm_share=comm_measured / time_s if time_s else None,
            allreduce_time_s=statistics.median(ar) if ar else None,
            p2p_time_s=statistics.median(p2p) if p2p else None,
        ),
        analytic=PhaseTotals.of(
            ph,
            gpipe_bubble_fraction=analytic_comm.bubble_fraction(pp, m),
            # Like for like with the measured pass: one pass through the pipeline (a GPipe prefill of m
            # micro-batches, or a single decode step with no other batch in flight).
            pass_bubble_fraction=(1 - m * sum(ph.stage_times_s) / (pp * ph.time_s))
            if pp > 1
            else 0.0,
            eager=PhaseTotals.of(eager).to_dict(),
        ),
        instantiated=instantiated,
        roofline_time_s=ph.time_s,
        eager_roofline_time_s=eager.time_s,
        roofline_fraction=ph.time_s / time_s,
        achieved_bytes_per_s=ph.bytes / time_s,
        achieved_flops_per_s=ph.flops / time_s,
        **profile_record.per_token(phase, batch, length, time_s, ph.bytes),
    )


def extrapolation_s(ranks: list[RankResult], pp: int) -> list[float]:
    """Per stage, the time of the layers not instantiated: (L_j - n_j) x the slowest tensor rank's layer."""
    extra = []
    for j in range(pp):
        rows = [r for r in ranks if r.stage == j]
        total = rows[0].layers if rows[0].layers_total is None else rows[0].layers_total
        missing = total - rows[0].layers
        extra.append(missing * max(r.layer_time_s or 0.0 for r in rows) if missing else 0.0)
    return extra


def _rank_ops(ph: Any, timings: dict[str, TimingStats]) -> tuple[OpResult, ...]:
    """One rank's op rows: the analytic per-rank instance (same keys as ``llmroof analyze``) beside its
    measured shard time."""
    # ops of another stage (embedding, head) were not timed on this rank
    return tuple(
        profile_record.op_row(op, ph.roofline, timings[op.name])
        for op in ph.ops
        if op.name in timings
    )
