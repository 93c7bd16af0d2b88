"""``llmroof.profile/1``: a measured run (``llmroof profile``'s ``results.json``), key by key in
``docs/results-schema.md``. Single-device and parallel runs share the schema; keys only one of them writes
are optional here."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmroof import schemas
from llmroof.labels import config_label
from llmroof.results.records.analysis import OpRow, PhaseTotals
from llmroof.results.records.base import Record, by_key, many, one, opt, seq
from llmroof.results.records.ceilings import (
    BandwidthFigure,
    CacheLevel,
    CalibrationInfo,
    ComputeFigure,
)


@dataclass(frozen=True, kw_only=True)
class TimingStats(Record):
    """``llmroof.measure.stats.summarize`` over a timer's raw samples."""

    samples_s: tuple[float, ...] = seq()
    """Every timed call, in order (warm-up and the first call excluded)."""
    n: int
    """Number of timed calls."""
    min_s: float
    """Fastest sample."""
    median_s: float
    """Median sample (what configurations and ops report)."""
    mean_s: float
    """Arithmetic mean."""
    p10_s: float
    """10th percentile."""
    p90_s: float
    """90th percentile."""
    iqr_s: float
    """Interquartile range."""
    max_s: float
    """Slowest sample."""
    cv: float
    """Coefficient of variation (sample standard deviation / mean)."""


@dataclass(frozen=True, kw_only=True)
class OpResult(Record):
    """One analytic op of a configuration's phase (one instance, on the measured ceilings), with the timing
    of the kernel of the same name where one was timed."""

    FIRST = (
        *(f.name for f in dataclasses.fields(OpRow) if f.name not in ("extra", "implementation")),
        *("roof_level", "roof_bandwidth_bytes_per_s", "roof_time_s", "launch_floor_s"),
    )
    """The analytic row in the order of ``llmroof analyze``'s op rows, then its roof, as profiles write
    them (the timing follows, as declared)."""

    phase: str
    """``prefill`` or ``decode``."""
    name: str
    """Op name (``attn.q``, ``mlp.down``...)."""
    count: int
    """Analytic instances in the phase."""
    flops: float
    """FLOPs of one instance."""
    bytes: float
    """Bytes of one instance."""
    time_s: float
    """Analytic time of one instance on the measured ceilings."""
    bound: str
    """Analytic bound, ``compute`` or ``memory``; ``launch`` where the calibrated dispatch floor is above the
    op's roofline time (the third wall, ``llmroof ceilings``)."""
    weight_bytes: float | None = opt()
    """Weights read."""
    act_read_bytes: float | None = opt()
    """Activations read."""
    act_write_bytes: float | None = opt()
    """Activations written."""
    kv_read_bytes: float | None = opt()
    """KV cache read."""
    kv_write_bytes: float | None = opt()
    """KV cache written."""
    intensity: float | None = opt()
    """flops / bytes, FLOP/byte."""
    roof_level: str | None = opt()
    """The memory level the op's working set fits (``L1``, ``L2``, ``L3``, ``DRAM``): its roof (hierarchical)."""
    roof_bandwidth_bytes_per_s: float | None = opt()
    """That level's measured roof."""
    roof_time_s: float | None = opt()
    """The op's roofline time on that roof (what ``roofline_fraction`` divides)."""
    compute_time_s: float | None = opt()
    """flops / measured peak."""
    memory_time_s: float | None = opt()
    """bytes / measured bandwidth."""
    samples_s: tuple[float, ...] | None = opt(seq_=True)
    """Timed kernel: every sample."""
    n: int | None = opt()
    """Timed kernel: number of samples."""
    min_s: float | None = opt()
    """Timed kernel: fastest sample."""
    median_s: float | None = opt()
    """Timed kernel: the measured time of one instance."""
    mean_s: float | None = opt()
    """Timed kernel: mean."""
    p10_s: float | None = opt()
    """Timed kernel: 10th percentile."""
    p90_s: float | None = opt()
    """Timed kernel: 90th percentile."""
    iqr_s: float | None = opt()
    """Timed kernel: interquartile range."""
    max_s: float | None = opt()
    """Timed kernel: slowest sample."""
    cv: float | None = opt()
    """Timed kernel: coefficient of variation."""
    achieved_bytes_per_s: float | None = opt()
    """Timed kernel: bytes / median_s."""
    achieved_flops_per_s: float | None = opt()
    """Timed kernel: flops / median_s."""
    roofline_fraction: float | None = opt()
    """Timed kernel: time_s / median_s."""
    launch_floor_s: float | None = opt()
    """Where the dispatch floor (one op's least time, ``llmroof ceilings``) is above the op's roof time:
    that floor (``bound`` is then ``launch``)."""


@dataclass(frozen=True, kw_only=True)
class CriticalPath(Record):
    """Parallel runs: the pass's critical path over the pipeline stages."""

    stage_times_s: tuple[float, ...] = seq()
    """Each stage's time: its slowest rank's."""
    slowest_stage: int
    """The stage that sets the pace."""
    time_s: float
    """The pass: the slowest rank's pipeline time."""


@dataclass(frozen=True, kw_only=True)
class ParallelMeasured(Record):
    """Parallel runs: what the ranks measured for one configuration."""

    stage_times_s: tuple[float, ...] = seq()
    """Each stage's time: its slowest rank's."""
    bubble_fraction: float
    """Share of the pass's GPU-time the stages spent idle."""
    comm_time_s: float
    """Communication on one rank chain: all-reduces and pipeline sends, from their medians."""
    comm_share: float | None
    """comm_time_s / the pass's time (None for a pass of no time)."""
    allreduce_time_s: float | None
    """Median all-reduce over the ranks (None without tensor parallelism)."""
    p2p_time_s: float | None
    """Median pipeline send/receive over the ranks (None without pipeline stages)."""


@dataclass(frozen=True, kw_only=True)
class InstantiatedStack(Record):
    """Parallel runs: what the N instantiated layers measured, before the full depth is extrapolated."""

    stage_times_s: tuple[float, ...] = seq()
    """Each stage's time over its instantiated layers: its slowest rank's."""
    time_s: float
    """The pass over the instantiated layers: the slowest rank's pipeline time."""
    layers_per_stage: tuple[int, ...] = seq()
    """Layers each stage instantiated."""
    extra_stage_times_s: tuple[float, ...] = seq()
    """d_j per stage: the time of the layers it did not instantiate (zeros without ``--layers``)."""


@dataclass(frozen=True, kw_only=True)
class RankResult(Record):
    """Parallel runs: what one rank measured for one configuration."""

    rank: int
    stage: int
    """Its pipeline stage."""
    tp_rank: int
    """Its rank within the stage's tensor-parallel group."""
    layers: int
    """Decoder layers instantiated on it."""
    layers_total: int | None = opt()
    """Its stage's layers at full depth (absent in 0.1.0 files, which instantiated them all)."""
    layer_time_s: float | None = opt()
    """Median time of one sharded layer, all-reduces included (for the extrapolation; None when the
    stage is not extrapolated)."""
    stage_time_s: float
    """Median time of its stage's pass over one micro-batch."""
    stage_timing: TimingStats = one(TimingStats)
    """That pass's samples and statistics."""
    pipeline_time_s: float
    """Median time of the whole pipeline pass, as this rank saw it."""
    pipeline_timing: TimingStats = one(TimingStats)
    """That pass's samples and statistics."""
    allreduce_time_s: float | None
    """Median all-reduce of one activation over its tensor group (None without tensor parallelism)."""
    allreduce_bytes: int
    """Bytes of that activation."""
    p2p_time_s: float | None
    """Median one-way send of an activation to the next stage (None without pipeline stages)."""
    micro_batches: int
    """m used for this configuration."""
    ops: tuple[OpResult, ...] | None = opt(OpResult, many_=True)
    """``--per-op``: its shard's ops, timed."""


@dataclass(frozen=True)
class NvmlSample(Record):
    """One NVML sample (``llmroof.measure.nvml`` takes them); the bandwidth figures cover the window
    [start_s, end_s] (perf_counter seconds)."""

    start_s: float
    end_s: float
    source: str
    """The NVML source: ``gpm``, ``memory_utilization_samples`` or ``utilization_rates``."""
    dram_bw_util_percent: float | None = None
    """GPM: share of peak DRAM bandwidth used in the window, 0-100."""
    dram_bandwidth_bytes_per_s: float | None = None
    """GPM only: dram_bw_util_percent / 100 x peak_dram_bandwidth_bytes_per_s."""
    mem_busy_percent: float | None = None
    """Fallbacks: share of time the memory controller was busy (time-busy, not bytes)."""
    sm_clock_mhz: float | None = None
    mem_clock_mhz: float | None = None
    power_w: float | None = None
    temperature_c: float | None = None
    clock_event_reasons: tuple[str, ...] = seq(default=())
    """Why the clocks were held back (``sw_power_cap``...), as NVML names them."""


@dataclass(frozen=True, kw_only=True)
class NvmlSampling(Record):
    """A run's NVML sampling: whether it sampled, from which source, and its samples."""

    status: str
    """``sampling: <source>``, or ``off: <why>``."""
    source: str | None = None
    """The NVML source; None (null, written) when nothing sampled."""
    reason: str | None = opt()
    """Why this source (or none) was chosen."""
    interval_s: float | None = opt()
    """The sampling interval."""
    replay_window_s: float | None = opt()
    """How long each configuration's steady replay ran."""
    error: str | None = opt()
    """Why the sampler stopped, where it did."""
    peak_dram_bandwidth_bytes_per_s: float | None = opt()
    """The GPU's peak DRAM bandwidth from its bus width and memory clock (what GPM's share is of)."""
    memory_bus_width_bits: int | None = opt()
    max_memory_clock_mhz: float | None = opt()
    nvml_uuid: str | None = opt()
    samples: tuple[NvmlSample, ...] | None = opt(NvmlSample, many_=True)
    """Every sample of the run, in time order."""


@dataclass(frozen=True, kw_only=True)
class NvmlReplay(Record):
    """A configuration's steady replay of the N-layer stack, and what NVML saw during it."""

    start_s: float
    """When the replay began (the samples' clock)."""
    end_s: float
    source: str | None
    """The NVML source."""
    calls: int | None = opt()
    """Calls of the stack replayed."""
    samples: int | None = opt()
    """Samples that lie wholly inside the replay."""
    summary: Mapping[str, Any] | None = opt()
    """Their summary: mean, p50 and p95 of each figure, the sources and the clock-event reasons seen."""
    reason: str | None = opt()
    """Why no figure came out, where none did."""
    measured_dram_bandwidth_bytes_per_s: float | None = None
    """GPM: the samples' mean DRAM bandwidth (null with a fallback source)."""
    mem_busy_percent: float | None = None
    """Fallbacks: the samples' mean memory-busy share (null with GPM)."""
    measured_bytes_per_token: float | None = opt()
    """measured_dram_bandwidth_bytes_per_s x the stack's median time per call / tokens per call."""
    analytic_bytes_per_token: float | None = opt()
    """The instantiated stack's analytic bytes per token."""
    measured_to_analytic_bytes_ratio: float | None = opt()
    method: str | None = opt()
    """How the bytes per token were measured, in words."""


@dataclass(frozen=True, kw_only=True)
class ProcessValue(Record):
    """One process's value of a metric."""

    process: int
    """The process index."""
    value: float


@dataclass(frozen=True, kw_only=True)
class Spread(Record):
    """``--repeat``: one value over the processes (``llmroof.measure.stats.spread``, with every process's
    value)."""

    by_process: tuple[ProcessValue, ...] = many(ProcessValue)
    """Every process's value, in process order."""
    n: int
    """Processes with a value."""
    median: float
    min: float
    max: float
    cv: float
    """Coefficient of variation (sample standard deviation / mean; 0 for one value)."""


@dataclass(frozen=True, kw_only=True)
class ConfigRepeat(Record):
    """``--repeat``: a configuration over the processes that ran it."""

    processes: int
    """Processes in which it finished (ok)."""
    process_index: int | None = opt()
    """The process whose figures the configuration shows (the median one)."""
    metrics: Mapping[str, Spread] | None = opt(Spread, by_key_=True)
    """Per metric (``time_s``, ``tpot_s``...): every process's value, the median, min, max, CV and n."""
    ops: Mapping[str, Spread] | None = opt(Spread, by_key_=True)
    """Per op: the same over the processes' op timings."""
    statuses: Mapping[str, str | None] | None = opt()
    """Each process's status for it, by process index, where any did not finish."""


@dataclass(frozen=True, kw_only=True)
class RepeatInfo(Record):
    """``--repeat``: the run's processes and how they were merged."""

    processes_requested: int
    """Fresh processes asked for."""
    processes_finished: int
    """Processes that finished."""
    method: str
    """How the processes ran and were merged, in words."""
    ceilings: Mapping[str, Spread] = by_key(Spread)
    """Per ceiling: its spread over the processes."""


@dataclass(frozen=True, kw_only=True)
class ProcessRun(Record):
    """``--repeat``: one finished process."""

    index: int
    """The process's index (0 first, one after another)."""
    rotation: int | None = opt()
    """Where in the configuration plan it started (``plan_rotation``)."""
    status: str | None = opt()
    """Its own record's status."""
    record: Mapping[str, Any]
    """Its complete record, an ``llmroof.profile/1`` file with every sample, kept as it wrote it."""


@dataclass(frozen=True, kw_only=True)
class SimulatedTp(Record):
    """``--tp-simulate``: one rank's shard timed here, the analytic communication of the degree added."""

    tp: int
    """The simulated tensor-parallel degree."""
    method: str
    comm_time_s: float
    """Analytic communication of ``tp`` ranks."""
    time_s: float
    """The shard's measured time plus that communication."""


@dataclass(frozen=True, kw_only=True)
class ConfigResult(Record):
    """One configuration of a run: a phase at a batch and a prompt or context length."""

    phase: str
    """``prefill`` or ``decode``."""
    batch: int
    """b, sequences."""
    prompt_len: int | None = opt()
    """Prefill: s, tokens."""
    context_len: int | None = opt()
    """Decode: c, the KV-cache length in tokens, the new token included."""
    stack: TimingStats | None = opt(TimingStats)
    """Timing of the N-layer stack."""
    layer: TimingStats | None = opt(TimingStats)
    """Timing of one decoder layer."""
    cuda_graph: bool | None = opt()
    """Timed as CUDA-graph replays."""
    micro_batches: int | None = opt()
    """Parallel runs: m used for this configuration."""
    time_s: float | None = opt()
    """Measured full-depth time."""
    layer_time_s: float | None = opt()
    """layer.median_s."""
    status: str
    """``ok``, ``skipped`` or ``failed``."""
    reason: str | None = opt()
    """``skipped``/``failed``: why."""
    ranks: tuple[RankResult, ...] | None = opt(RankResult, many_=True)
    """Parallel runs: one object per rank."""
    critical_path: CriticalPath | None = opt(CriticalPath)
    """Parallel runs: the slowest rank's stage times."""
    measured: ParallelMeasured | None = opt(ParallelMeasured)
    """Parallel runs: measured figures."""
    analytic: PhaseTotals | None = opt(PhaseTotals)
    """The analytic phase totals on the measured ceilings."""
    roofline_time_s: float | None = opt()
    """Analytic phase time on the measured ceilings."""
    roofline_fraction: float | None = opt()
    """roofline_time_s / time_s; 1 is at the roofline."""
    achieved_bytes_per_s: float | None = opt()
    """analytic.bytes / time_s."""
    achieved_flops_per_s: float | None = opt()
    """analytic.flops / time_s."""
    bound_measured: str | None = opt()
    """``compute`` or ``memory``, as measured."""
    datasheet_roofline_time_s: float | None = opt()
    """Analytic phase time on the datasheet's peaks (GPU with a catalog entry)."""
    datasheet_roofline_fraction: float | None = opt()
    """datasheet_roofline_time_s / time_s."""
    repeat: ConfigRepeat | None = opt(ConfigRepeat)
    """``--repeat``: per metric (and per op) every process's value, median, min, max and CV."""
    instantiated: InstantiatedStack | None = opt(InstantiatedStack)
    """Parallel runs with ``--layers``: the instantiated stack's own measured times, before extrapolation."""
    eager_roofline_time_s: float | None = opt()
    """Analytic phase time of the eager op set (what the kernels timed run) on the measured ceilings."""
    simulated: SimulatedTp | None = opt(SimulatedTp)
    """``--tp-simulate``: the one-rank shard and the analytic communication."""
    ttft_s: float | None = opt()
    """Prefill: time to first token, measured."""
    tpot_s: float | None = opt()
    """Decode: time per output token, measured."""
    tokens_per_s: float | None = opt()
    """Measured tokens per second."""
    bytes_per_token: float | None = opt()
    """Analytic bytes per token."""
    nvml: NvmlReplay | None = opt(NvmlReplay)
    """GPU with NVML sampling: the steady replay and what NVML saw."""
    ops: tuple[OpResult, ...] | None = opt(OpResult, many_=True)
    """``--per-op``: every op of one layer, timed."""
    experts_touched: int | None = opt()
    """Mixture-of-experts models: distinct experts the pass's tokens were routed to in one MoE layer."""

    @property
    def length(self) -> int | None:
        """The prompt length (prefill) or the context length (decode), tokens (None in a file without it)."""
        return self.prompt_len if self.phase == "prefill" else self.context_len

    @property
    def label(self) -> str:
        """``prefill b=1 s=128`` or ``decode b=4 c=2048``."""
        return config_label(self.phase, self.batch, self.length)

    @property
    def ok(self) -> bool:
        """Ran and was timed."""
        return self.status == "ok"


@dataclass(frozen=True, kw_only=True)
class DeviceInfo(Record):
    """The device as the profiler saw it."""

    kind: str
    """``cpu`` or ``cuda``."""
    name: str
    """Device or CPU model name."""
    index: int | None = opt()
    """CUDA device index (single-device runs)."""
    cache_bytes: int
    """The cache a flush overwrites."""


@dataclass(frozen=True, kw_only=True)
class ProfileModel(Record):
    """The model profiled."""

    name: str
    """Preset name, or the name of an imported config."""
    attention: str
    """``mha``, ``gqa`` or ``mqa``."""
    spec: Mapping[str, Any]
    """The ``ModelSpec`` fields."""


@dataclass(frozen=True, kw_only=True)
class ProfileWorkload(Record):
    """What was asked for (parallel runs write only the required keys)."""

    batches: tuple[int, ...] = seq()
    """Batch sizes, in the order given."""
    prompt_len: int
    """s, tokens."""
    contexts: tuple[int, ...] = seq()
    """Decode KV-cache lengths, tokens."""
    dtype: str
    """Weights, activations and KV cache dtype."""
    kv_dtype: str | None = opt()
    """KV-cache dtype."""
    layers_instantiated: int
    """N, decoder layers built and timed."""
    layers_total: int
    """L, the model's depth."""
    extrapolated: bool
    """N < L: full-depth times are extrapolated."""
    cuda_graphs: bool | None = opt()
    """Decode steps captured in CUDA graphs."""
    per_op: bool | None = opt()
    """Every op of one layer was timed."""
    warmup_ms: float | None = opt()
    """Warm-up budget per timed kernel."""
    rep_ms: float | None = opt()
    """Timing budget per timed kernel."""
    extrapolation: str | None = opt()
    """The extrapolation formula, in words."""
    analytic_attention: Mapping[str, str] | None = opt()
    """Which analytic attention model each phase is compared with."""
    tp_simulate: int | None = opt()
    """``--tp-simulate``: the simulated tensor-parallel degree."""
    step_rep_ms: float | None = opt()
    """Timing budget of the stack and one-layer steps (TPOT and TTFT come from them)."""
    step_min_reps: int | None = opt()
    """Fewest samples of a stack or layer step."""
    analytic_bound: str | None = opt()
    """The op set of the headline bound: ``fused`` (minimum traffic); older files are eager."""


@dataclass(frozen=True, kw_only=True)
class Ceilings(Record):
    """The machine's calibrated ceilings (``llmroof ceilings``; older files: three probes of the run itself)."""

    method: str
    """How they were measured, in words."""
    measured_bandwidth_bytes_per_s: float
    """The roofline's bandwidth: the DRAM/HBM roof (older files: the read probe's best)."""
    measured_copy_bandwidth_bytes_per_s: float
    """The copy pattern's best beyond the last-level cache (bytes read plus written)."""
    measured_flops_per_s: float
    """The roofline's compute peak in ``compute_dtype``."""
    compute_dtype: str
    """Dtype of the compute roof the roofline uses."""
    probes: tuple[Mapping[str, Any], ...] | None = opt(seq_=True)
    """Files of llmroof 0.1.0: one per probe (read, copy, matmul), with their timing statistics."""
    memory_bandwidth_bytes_per_s: float | None = opt()
    """The DRAM/HBM roof: the best bandwidth of any pattern at working sets of 4x the last-level cache or more."""
    memory_bandwidth_pattern: str | None = opt()
    """The pattern that set the DRAM roof (read, write, copy, triad)."""
    memory_bandwidth_working_set_bytes: int | None = opt()
    """The working set at which it was set."""
    memory_bandwidth_spread_bytes_per_s: Mapping[str, Any] | None = opt()
    """The DRAM roof's spread over the calibration's rounds (best, median, min)."""
    memory_bandwidth_by_pattern_bytes_per_s: Mapping[str, float | None] | None = opt()
    """Each pattern's best beyond the last-level cache (None: not measured there)."""
    cache_bandwidth_bytes_per_s: Mapping[str, float] | None = opt()
    """Each cache level's roof (``L1``, ``L2``, ``L3``), from the working sets that fit that level."""
    overhead_bound_levels_bytes_per_s: Mapping[str, float] | None = opt()
    """Levels measured slower than a level outside them (their probes time dispatch): not roofs."""
    dispatch_floor_s: float | None = opt()
    """The third wall: least time of one op dispatch (CPU) or kernel launch (GPU); absent where not
    measured."""
    dispatch_rounds_s: tuple[float, ...] | None = opt(seq_=True)
    """The dispatch floor of every round (the floor is the best)."""
    dispatch_kind: str | None = opt()
    """``op dispatch`` (CPU) or ``kernel launch`` (GPU)."""
    cache_capacity_bytes: Mapping[str, int] | None = opt()
    """Each cache level's capacity."""
    compute_flops_per_s: Mapping[str, float] | None = opt()
    """The compute roof per dtype."""
    device_kind: str | None = opt()
    """``cpu`` or ``cuda``."""
    device_name: str | None = opt()
    """The calibrated device."""
    threads: int | None = opt()
    """CPU threads the calibration ran with."""
    plan: str | None = opt()
    """``quick`` or ``full`` (``LLMROOF_CALIBRATION``)."""
    method_version: int | None = opt()
    """Version of the calibration method (part of the cache's fingerprint)."""
    elapsed_s: float | None = opt()
    """Wall time the calibration took."""
    caches: tuple[CacheLevel, ...] | None = opt(CacheLevel, many_=True)
    """The cache levels found (sysfs on a CPU; the L2 on a GPU)."""
    bandwidth: tuple[BandwidthFigure, ...] | None = opt(BandwidthFigure, many_=True)
    """Every (pattern, working set) figure: best, median and min over the rounds."""
    compute: tuple[ComputeFigure, ...] | None = opt(ComputeFigure, many_=True)
    """Every (dtype, size) compute figure: best, median and min over the rounds."""


@dataclass(frozen=True, kw_only=True)
class RooflineInfo(Record):
    """One roofline the configurations are compared with."""

    peak_flops_per_s: float | None
    """Compute peak; None if unpublished."""
    bandwidth_bytes_per_s: float
    """Memory bandwidth."""
    label: str
    """``measured ceilings`` or ``<display name> datasheet``."""


@dataclass(frozen=True, kw_only=True)
class Rooflines(Record):
    """The measured roofline and, on a GPU with a catalog entry, the datasheet one."""

    measured: RooflineInfo = one(RooflineInfo)
    """Of the measured ceilings."""
    datasheet: RooflineInfo | None = one(RooflineInfo, default=None)
    """Of the datasheet; None on a CPU."""


@dataclass(frozen=True, kw_only=True)
class CrossoverRow(Record):
    """One decode context: the first batch measured compute-bound, beside the roofline's."""

    context_len: int
    measured_batch: int | None
    """None: no batch measured was compute-bound."""
    analytic_batch: int | None
    """The roofline's compute-bound batch on the measured ceilings; None: never."""
    batches_measured: tuple[int, ...] = seq()
    """The batches that finished at this context."""


@dataclass(frozen=True, kw_only=True)
class Crossover(Record):
    """Measured against analytic decode crossover."""

    method: str | None = opt()
    """How a measured run is called compute-bound, in words."""
    decode: tuple[CrossoverRow, ...] | None = opt(CrossoverRow, many_=True)
    """One row per decode context."""


@dataclass(frozen=True, kw_only=True)
class LinkFit(Record):
    """The link between ranks, fitted from all-reduces of two sizes (a ring all-reduce model)."""

    method: str
    """How it was fitted, in words."""
    sizes_bytes: tuple[int, ...] = seq()
    """The all-reduce sizes timed."""
    times_s: tuple[float, ...] = seq()
    """Median time of each size."""
    bandwidth_bytes_per_s: float
    latency_s: float
    """Per ring step."""


@dataclass(frozen=True, kw_only=True)
class ParallelRun(Record):
    """A ``--tp``/``--pp`` run: its layout over the ranks and the measured link."""

    tp: int
    pp: int
    micro_batches: int | None = opt()
    """Pipeline micro-batches (absent: 1)."""
    world_size: int
    backend: str
    """``gloo`` (CPU) or ``nccl``."""
    stage_layers: tuple[int, ...] = seq()
    """Layers per pipeline stage at full depth."""
    stage_layers_instantiated: tuple[int, ...] | None = opt(seq_=True)
    """Layers per stage actually built (fewer: the full depth extrapolated); absent in 0.1.0 files."""
    link: LinkFit | None = one(LinkFit)
    """None without tensor parallelism (nothing to all-reduce)."""
    layout: str | None = opt()
    """How ranks map to (stage, tp rank), in words."""


@dataclass(frozen=True, kw_only=True)
class ProfileRecord(Record):
    """A whole ``llmroof.profile/1`` file."""

    SCHEMA = schemas.PROFILE

    status: str
    """``running``, ``complete``, ``interrupted`` or ``failed``."""
    error: str | None = opt()
    """``failed``: the error that stopped the run."""
    environment: Mapping[str, Any]
    """What the run ran on (``llmroof_version``, ``command_line``, ``time_utc``, ``torch``...)."""
    device: DeviceInfo = one(DeviceInfo)
    """The device."""
    hardware: Mapping[str, Any] | None
    """The datasheet entry of a GPU; None (null in the file) on a CPU."""
    model: ProfileModel = one(ProfileModel)
    """The model."""
    workload: ProfileWorkload = one(ProfileWorkload)
    """What was asked for."""
    timing: Mapping[str, Any] | None = opt()
    """How the timer measured, in words (single-device runs)."""
    configs: tuple[ConfigResult, ...] = many(ConfigResult)
    """Every finished configuration, in run order."""
    notes: tuple[str, ...] | None = opt(seq_=True)
    """Warnings about the run as a whole."""
    nvml: NvmlSampling = one(NvmlSampling)
    """Whether NVML sampled, from which source, and its samples."""
    ceilings: Ceilings | None = opt(Ceilings)
    """The ceilings the roofline uses, once measured or read from the calibration cache."""
    calibration: CalibrationInfo | None = opt(CalibrationInfo)
    """Where the ceilings came from (cache path, fingerprint, measured_at, status) and the drift checks."""
    repeat: RepeatInfo | None = opt(RepeatInfo)
    """``--repeat``: processes requested and finished, the method, the ceilings' spread."""
    processes: tuple[ProcessRun, ...] | None = opt(ProcessRun, many_=True)
    """``--repeat``: every finished process's complete record, tagged with ``index`` and ``rotation``."""
    roofline: Rooflines | None = opt(Rooflines)
    """The rooflines, once the ceilings are measured."""
    crossover: Crossover | None = opt(Crossover)
    """Measured against analytic decode crossover (complete single-device runs)."""
    parallel: ParallelRun | None = opt(ParallelRun)
    """Parallel runs: tp, pp, micro-batches, the measured link."""

    @property
    def is_parallel(self) -> bool:
        return self.parallel is not None

    def config(self, phase: str, batch: int, length: int) -> ConfigResult | None:
        """The configuration of ``phase`` at ``batch`` and prompt/context ``length``, if the run has it."""
        return next(
            (c for c in self.configs if (c.phase, c.batch, c.length) == (phase, batch, length)),
            None,
        )

    def to_pandas(self, *, ops: bool = False) -> Any:
        """One row per configuration (``ops=True``: per op of each configuration), units in the column names.

        Timing statistics become ``stack_median_s``, ``layer_cv``...; analytic totals ``analytic_flops``,
        ``analytic_time_s``...; op rows carry their configuration's ``phase``, ``batch`` and length."""
        import pandas as pd

        rows = []
        for c in self.configs:
            head = {
                "phase": c.phase,
                "batch": c.batch,
                "prompt_len": c.prompt_len,
                "context_len": c.context_len,
                "status": c.status,
            }
            if ops:
                rows += [
                    head
                    | {"op": op.name}
                    | _flat(op.to_dict(), skip=("phase", "name", "samples_s"))
                    for op in c.ops or ()
                ]
                continue
            row = head | _flat(
                c.to_dict(),
                skip=(
                    "phase",
                    "batch",
                    "prompt_len",
                    "context_len",
                    "status",
                    "ops",
                    "ranks",
                    "samples_s",
                ),
            )
            rows.append(row)
        return pd.DataFrame(rows)


def _flat(data: Mapping[str, Any], skip: tuple[str, ...], prefix: str = "") -> dict[str, Any]:
    """Nested objects flattened to ``outer_inner`` columns; lists (raw samples, per-rank rows) left out."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in skip:
            continue
        if isinstance(value, Mapping):
            out |= _flat(value, skip, f"{prefix}{key}_")
        elif not isinstance(value, list):
            out[f"{prefix}{key}"] = value
    return out
