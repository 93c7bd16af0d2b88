"""``llmroof profile``: time real prefill and decode kernels and set each beside the analytic roofline.

The flow: open the device, take its calibrated ceilings (``llmroof ceilings``, cached per machine) and check
them for drift, build N decoder layers of the model with random weights, then for every configuration
(prefill at each batch; decode at each batch and context) time the N-layer stack, one layer, and each op;
extrapolate to the model's full depth; and record measured figures next to the analytic ones (same names as
``llmroof analyze``), each op against the roof of the memory level its working set fits. The results file
is rewritten atomically after every configuration, so an interrupted or failing run keeps what it finished.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmroof.analytic import Roofline, Workload, analyze
from llmroof.errors import LlmroofError
from llmroof.labels import config_label
from llmroof.measure import nvtx, profile_record
from llmroof.measure.device import Device
from llmroof.measure.profile_record import ProfileRun, Save, timing_stats
from llmroof.measure.timer import bench
from llmroof.results.records.analysis import PhaseTotals
from llmroof.results.records.ceilings import CalibrationInfo, DriftChecks
from llmroof.results.records.profile import Ceilings as RunCeilings
from llmroof.results.records.profile import (
    ConfigResult,
    Crossover,
    CrossoverRow,
    NvmlReplay,
    NvmlSampling,
    ProfileRecord,
    ProfileWorkload,
    SimulatedTp,
    TimingStats,
)
from llmroof.specs.dtypes import Precision
from llmroof.specs.hardware import HardwareSpec, builtin_hardware
from llmroof.specs.model import ModelSpec

if TYPE_CHECKING:
    from llmroof.measure.ceilings import Ceilings as CalibratedCeilings
    from llmroof.measure.ceilings_cache import Calibration

TORCH_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}

Progress = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class ProfileConfig:
    """What to profile."""

    model: ModelSpec
    batches: tuple[int, ...]
    """Batch sizes, for prefill and for decode."""
    prompt_len: int
    """Prefill prompt tokens per sequence."""
    contexts: tuple[int, ...]
    """Decode KV-cache lengths (the new token included)."""
    dtype: str = "bf16"
    """Weights, activations and KV cache (the torch kernels compute in one dtype)."""
    layers: int | None = None
    """Decoder layers to instantiate; None: the model's full depth. Fewer are extrapolated."""
    per_op: bool = True
    """Also time every op of one layer."""
    warmup_ms: float = 25.0
    rep_ms: float = 100.0
    """Timing budget of each op; the whole steps (N-layer stack, one layer) get ``step_rep_factor`` times it."""
    step_rep_factor: float = 3.0
    """The whole-step timings that TPOT and TTFT come from get this multiple of ``rep_ms``."""
    step_min_reps: int = 7
    """At least this many timed calls of each whole step (a CPU decode step can outlast the budget, and
    three samples were all it got before)."""
    cuda_graphs: bool = False
    """Capture decode steps in a CUDA graph (GPU only), so launch overhead is not timed."""
    hardware: HardwareSpec | None = None
    """Datasheet entry for a GPU (matched by name when None); the CPU has none."""
    memory_headroom_fraction: float = 0.1
    """Share of free memory kept back when deciding whether a configuration fits."""
    nvml: bool = True
    """On a GPU, sample DRAM bandwidth through NVML while replaying each configuration."""
    nvml_window_s: float = 0.3
    """Shortest steady replay of a configuration for NVML sampling."""
    nvml_interval_ms: float = 100.0
    """NVML sampling interval (GPM needs at least 100 ms)."""
    tp_simulate: int = 1
    """Time one rank's shard of a tensor-parallel degree on this one device and add the analytic comm cost."""
    plan_rotation: int = 0
    """Start the configuration plan at this position (``--repeat``: process k starts at k, so slow drift
    over a run does not always land on the same configurations)."""
    refresh_ceilings: bool = False
    """Measure the machine's ceilings again even when the calibration cache holds them."""

    def __post_init__(self) -> None:
        if self.dtype not in TORCH_DTYPES:
            raise LlmroofError(
                f"--dtype {self.dtype}: the torch kernels run in {', '.join(TORCH_DTYPES)}",
                "quantised formats (fp8, int8, int4) can be modelled with `llmroof analyze`",
            )
        if not self.batches or min(self.batches) < 1 or not self.contexts or min(self.contexts) < 1:
            raise LlmroofError("--batch and --context take positive integers")
        if self.prompt_len < 1:
            raise LlmroofError("--prompt must be positive")
        if self.layers is not None and not 1 <= self.layers <= self.model.num_layers:
            raise LlmroofError(
                f"--layers {self.layers}: {self.model.name} has {self.model.num_layers} layers",
                f"choose 1..{self.model.num_layers}",
            )

    @property
    def num_layers(self) -> int:
        return self.layers or self.model.num_layers

    @property
    def precision(self) -> Precision:
        return Precision.uniform(self.dtype)


def match_hardware(device_name: str) -> HardwareSpec | None:
    """The catalog entry whose name best matches a CUDA device name such as "NVIDIA H100 80GB HBM3"."""
    tokens = set(device_name.lower().replace("-", " ").replace("_", " ").split())
    best, best_score = None, 0
    for spec in builtin_hardware():
        for candidate in (spec.display_name, spec.name, *spec.aliases):
            words = set(candidate.lower().replace("-", " ").split()) - {
                "nvidia",
                "geforce",
                "amd",
                "instinct",
            }
            if words and words <= tokens and len(words) > best_score:
                best, best_score = spec, len(words)
    return best


# --- ceilings -----------------------------------------------------------------------------------


def measure_ceilings(
    device: Device, config: ProfileConfig, torch: Any, progress: Progress
) -> tuple[RunCeilings, Calibration | None]:
    """The machine's calibrated ceilings (``llmroof ceilings``: cached per machine, measured when the cache
    lacks them or ``refresh_ceilings``) as the results file's ``ceilings``, and the calibration they came
    from (None for ceilings that are no calibration's)."""
    from llmroof.measure.ceilings_cache import calibrated

    threads = None if device.is_cuda else torch.get_num_threads()
    calibration = calibrated(
        device, threads=threads, refresh=config.refresh_ceilings, progress=progress
    )
    return ceilings_record(calibration.ceilings, config.dtype), calibration


def ceilings_record(ceilings: CalibratedCeilings, dtype: str) -> RunCeilings:
    """A results file's ``ceilings``: the calibration's roofs and figures, with the keys of earlier
    versions (``measured_bandwidth_bytes_per_s`` is the DRAM roof, ``measured_flops_per_s`` the roof
    of ``dtype``)."""
    from llmroof.measure.ceilings import PATTERNS

    compute = ceilings.compute_roofs()
    copy = ceilings.best_of_pattern("copy")
    if dtype not in compute or copy is None:
        missing = f"{dtype} compute roof" if dtype not in compute else "copy bandwidth"
        raise LlmroofError(f"the calibration holds no {missing}", "llmroof ceilings --refresh")
    memory = ceilings.memory_roof()
    return RunCeilings(
        method=ceilings.method(),
        measured_bandwidth_bytes_per_s=memory.best_bytes_per_s,
        measured_copy_bandwidth_bytes_per_s=copy,
        measured_flops_per_s=compute[dtype],
        compute_dtype=dtype,
        memory_bandwidth_bytes_per_s=memory.best_bytes_per_s,
        memory_bandwidth_pattern=memory.pattern,
        memory_bandwidth_working_set_bytes=memory.working_set_bytes,
        memory_bandwidth_spread_bytes_per_s=dict(
            zip(("min", "median", "max"), ceilings.spread(memory))
        ),
        memory_bandwidth_by_pattern_bytes_per_s={p: ceilings.best_of_pattern(p) for p in PATTERNS},
        cache_bandwidth_bytes_per_s={
            name: f.best_bytes_per_s for name, f in ceilings.cache_roofs().items()
        },
        overhead_bound_levels_bytes_per_s=ceilings.overhead_bound_levels(),
        dispatch_floor_s=ceilings.launch_floor_s,
        dispatch_rounds_s=ceilings.dispatch_rounds_s,
        dispatch_kind="kernel launch" if ceilings.device_kind == "cuda" else "op dispatch",
        cache_capacity_bytes={c.name: c.capacity_bytes for c in ceilings.caches},
        compute_flops_per_s=compute,
        device_kind=ceilings.device_kind,
        device_name=ceilings.device_name,
        threads=ceilings.threads,
        plan=ceilings.plan,
        method_version=ceilings.method_version,
        elapsed_s=ceilings.elapsed_s,
        caches=ceilings.caches,
        bandwidth=ceilings.bandwidth,
        compute=ceilings.compute,
        # optional keys that are null (no floor measured; no threads on a GPU): written last, as
        # the files have them
        extra={
            key: None
            for key, value in (
                ("dispatch_floor_s", ceilings.launch_floor_s),
                ("threads", ceilings.threads),
            )
            if value is None
        },
    )


def _check_drift(
    device: Device,
    calibration: CalibrationInfo,
    calibrated: CalibratedCeilings,
    when: str,
    dtype: str,
) -> tuple[CalibrationInfo, CalibratedCeilings]:
    """Run the drift check at ``when`` (``start``, ``end``) of the run: the calibration with that check
    in its ``drift``, and the ceilings to use. A probe faster than its figure's best raises the cached
    roof (for later runs; at the start, for this run too)."""
    from llmroof.measure.ceilings import drift_check, raise_roofs
    from llmroof.measure.ceilings_cache import drift_history, judge_drift, record_drift, save_raised

    drift = drift_check(device, calibrated, dtype=dtype)
    cache = Path(calibration.cache_path or "")
    # judged against this machine's recent probes
    drift = dataclasses.replace(drift, history=judge_drift(drift, drift_history(cache)))
    notes = [record_drift(cache, drift, when)]
    raised = raise_roofs(calibrated, drift)
    if raised is not None:
        drift = dataclasses.replace(drift, raised_roof=True)
        notes.append(save_raised(cache, raised))
    made = calibration.drift or DriftChecks(start=None, end=None)
    checks = (
        dataclasses.replace(made, start=drift)
        if when == "start"
        else dataclasses.replace(made, end=drift)
    )
    note = next((n for n in reversed(notes) if n), calibration.note)
    return (
        dataclasses.replace(calibration, drift=checks, note=note),
        calibrated if raised is None else raised,
    )


def drift_notes(calibration: CalibrationInfo | None) -> list[str]:
    """One line when a drift check left this machine's usual range (the spread of its recent drift probes,
    :func:`~llmroof.measure.ceilings_cache.judge_drift`; the calibration's spread in a record without that
    judgement): what moved, by how much, and against what."""
    if calibration is None:
        return []
    moved = []
    for when, drift in calibration.drift_checks():
        judged = drift.history
        if judged is None:
            if drift.beyond_spread and drift.drift_fraction is not None:
                moved.append(
                    f"memory bandwidth {drift.drift_fraction:+.0%} at the {when} of the run"
                )
            continue
        for pattern, fraction in judged.moved.items():
            low_high = judged.range.get(pattern)
            usual = (
                f"its last {judged.probes} probes {low_high[0]:+.0%} to {low_high[1]:+.0%}"
                if low_high
                else "beyond the calibration's spread across rounds"
            )
            moved.append(f"{pattern} bandwidth {fraction:+.0%} at the {when} of the run ({usual})")
    if not moved:
        return []
    return [
        f"the machine drifted: {'; '.join(moved)}, against the calibration of "
        f"{calibration.measured_at}; fractions of the roofline are uncertain (re-run on a quieter machine, "
        "or `llmroof ceilings --refresh`)"
    ]


def measured_hardware(
    device: Device, roofs: RunCeilings, dtype: str, datasheet: HardwareSpec | None
) -> HardwareSpec:
    """A hardware entry whose roofs are the measured ceilings (``roofs``: a results file's ``ceilings``,
    as :func:`measure_ceilings` gives them; the CPU's only roofline)."""
    _, total = device.memory_bytes()
    base = datasheet
    return HardwareSpec(
        name=f"{device.kind} (measured)",
        display_name=f"{device.name} (measured ceilings)",
        memory_bytes=base.memory_bytes if base else total,
        memory_bandwidth_bytes_per_s=roofs.measured_bandwidth_bytes_per_s,
        peak_flops_per_s={dtype: roofs.measured_flops_per_s},
        link_bandwidth_bytes_per_s=base.link_bandwidth_bytes_per_s if base else 1e9,
        link_latency_s=base.link_latency_s if base else 1e-5,
        internode_bandwidth_bytes_per_s=base.internode_bandwidth_bytes_per_s if base else 1e9,
        internode_latency_s=base.internode_latency_s if base else 1e-5,
        sources={
            "memory": "host RAM" if base is None else base.sources.get("memory", ""),
            "peak_flops": "calibrated by llmroof ceilings (best F.linear round)",
            "bandwidth": "calibrated by llmroof ceilings (best of read, write, copy, triad beyond the LLC)",
        },
    )


# --- memory estimate ----------------------------------------------------------------------------


def weights_bytes(config: ProfileConfig) -> float:
    """Bytes of the instantiated weights: N layers, embedding, and lm_head unless tied."""
    from llmroof.analytic.memory import layer_param_count

    spec, bpe = config.model, config.precision.weight.bytes_per_element
    table = spec.vocab_size * spec.hidden_size
    return bpe * (
        config.num_layers * layer_param_count(spec) + table * (1 if spec.tie_word_embeddings else 2)
    )


def run_bytes(config: ProfileConfig, phase: str, batch: int, length: int) -> float:
    """Working memory of one configuration beyond the weights: KV cache of N layers, activations, logits
    and the per-op inputs (a generous estimate: scores of eager decode, the MLP's widest tensors)."""
    spec, bpe = config.model, config.precision.activation.bytes_per_element
    tokens = batch * (length if phase == "prefill" else 1)
    from llmroof.analytic.memory import layer_kv_elements_per_token

    kv = (
        config.num_layers * batch * length * layer_kv_elements_per_token(spec) * bpe
    )  # MLA: the latent
    acts = tokens * (6 * spec.hidden_size + 4 * spec.intermediate_size + 3 * spec.q_dim) * bpe
    scores = batch * spec.num_heads * (length * length if phase == "prefill" else length) * 4
    logits = batch * spec.vocab_size * 4
    return kv * (2 if config.per_op else 1) + acts + scores + logits


# --- the run ------------------------------------------------------------------------------------


def config_plan(config: ProfileConfig) -> list[tuple[str, int, int]]:
    """(phase, batch, length) of every configuration, in the order they are timed: prefill at each batch,
    then decode at each context and batch, rotated to start at ``plan_rotation``."""
    plan = [("prefill", b, config.prompt_len) for b in config.batches]
    plan += [("decode", b, c) for c in config.contexts for b in config.batches]
    start = config.plan_rotation % len(plan)
    return plan[start:] + plan[:start]


def _time(
    fn: Callable[[], Any], device: Device, config: ProfileConfig, label: str, step: bool = False
) -> TimingStats:
    """Time ``fn``; ``step``: a whole step (stack or layer), with the larger budget and sample floor."""
    rep_ms = config.rep_ms * config.step_rep_factor if step else config.rep_ms
    min_reps = config.step_min_reps if step else 3
    with nvtx.annotate(label):
        samples = bench(fn, device, warmup_ms=config.warmup_ms, rep_ms=rep_ms, min_reps=min_reps)
    return timing_stats(samples)


def _maybe_graph(
    fn: Callable[[], Any], device: Device, config: ProfileConfig
) -> tuple[Callable[[], Any], bool]:
    """On a GPU with ``cuda_graphs``, capture ``fn`` once and time its replays."""
    if not (config.cuda_graphs and device.is_cuda):
        return fn, False
    return device.capture_graph(fn), True


def profile(
    config: ProfileConfig,
    device: Device,
    save: Save | None,
    progress: Progress = lambda _: None,
    argv: list[str] | None = None,
    nvml_module: Any = "auto",
) -> ProfileRecord:
    """Run the profile; returns its record (whose JSON is also handed to ``save`` after each step, so
    nothing finished is lost when the run stops).

    ``nvml_module``: the ``pynvml`` module to sample with ("auto": the real one; tests pass a fake).
    """
    torch = device.torch
    torch_dtype = getattr(torch, TORCH_DTYPES[config.dtype])
    datasheet = (
        config.hardware
        if config.hardware is not None
        else (match_hardware(device.name) if device.is_cuda else None)
    )
    spec = config.model
    sampler = start_sampler(config, device, nvml_module)
    run = ProfileRun(
        save,
        profile_record.header(
            device,
            spec,
            argv=argv,
            hardware=datasheet,
            workload=profile_workload_record(config, device),
            nvml=nvml_record(sampler, device, config),
            timing=timing_record(config, device),
            notes=(),
        ),
    )
    run.save()

    def finish() -> None:
        if sampler is not None:
            sampler.stop()
            run.advance(nvml=nvml_record(sampler, device, config))

    with run.recording(finish):
        progress("ceilings")
        ceilings, source = measure_ceilings(device, config, torch, progress)
        run.advance(ceilings=ceilings)
        calibrated = None if source is None else source.ceilings
        calibration = None if source is None else source.info()
        if calibration is not None and calibrated is not None:
            progress("ceiling: drift check")
            calibration, calibrated = _check_drift(
                device, calibration, calibrated, "start", config.dtype
            )
            ceilings = ceilings_record(calibrated, config.dtype)
        run.advance(ceilings=ceilings, calibration=calibration)
        measured = measured_hardware(device, ceilings, config.dtype, datasheet)
        run.advance(
            roofline=profile_record.roofline(
                measured.peak_flops_per_s[config.dtype],
                measured.memory_bandwidth_bytes_per_s,
                "measured ceilings",
                datasheet,
                config.dtype,
            )
        )
        run.save()
        _check_weights_fit(config, device)
        progress(f"building {config.num_layers} of {spec.num_layers} layers of {spec.name}")
        from llmroof.kernels.layers import DecoderStack

        kernel_spec = spec
        if config.tp_simulate > 1:
            from llmroof.kernels.parallel import shard_spec

            kernel_spec = shard_spec(spec, config.tp_simulate)
        stack = DecoderStack(kernel_spec, config.num_layers, torch_dtype, device.torch_device)
        for phase, batch, length in config_plan(config):
            progress(config_label(phase, batch, length))
            run.add(
                _profile_config(
                    config,
                    device,
                    stack,
                    measured,
                    datasheet,
                    phase,
                    batch,
                    length,
                    sampler,
                    calibrated,
                )
            )
        configs = run.record.configs
        run.advance(crossover=crossover(configs, config, measured))
        if calibration is not None and calibrated is not None:
            del stack
            calibration, _ = _check_drift(device, calibration, calibrated, "end", config.dtype)
            run.advance(calibration=calibration)
        run.advance(notes=(*(run.record.notes or ()), *ceiling_notes(configs)))
    return run.record


def profile_workload_record(config: ProfileConfig, device: Device) -> ProfileWorkload:
    """What a single-device run was asked for, as its record's ``workload``."""
    spec = config.model
    return ProfileWorkload(
        batches=config.batches,
        prompt_len=config.prompt_len,
        contexts=config.contexts,
        dtype=config.dtype,
        kv_dtype=config.dtype,
        layers_instantiated=config.num_layers,
        layers_total=spec.num_layers,
        extrapolated=config.num_layers < spec.num_layers,
        cuda_graphs=bool(config.cuda_graphs and device.is_cuda),
        per_op=config.per_op,
        warmup_ms=config.warmup_ms,
        rep_ms=config.rep_ms,
        step_rep_ms=config.rep_ms * config.step_rep_factor,
        step_min_reps=config.step_min_reps,
        extrapolation=(
            "full-depth time = t(N-layer stack: embedding, N layers, final norm, lm_head) "
            "+ (L - N) x t(one layer)"
        ),
        analytic_attention={
            "prefill": "flash (one causal SDPA call)",
            "decode": "eager (scores, softmax, context)",
        },
        analytic_bound=(
            "fused: the minimum-traffic op set (flash attention, element-wise ops fused into "
            "neighbouring kernels); analytic_attention is the eager op set the kernels run, "
            "which the per-op rows and analytic.eager count"
        ),
        tp_simulate=config.tp_simulate,
    )


def timing_record(config: ProfileConfig, device: Device) -> dict[str, Any]:
    """How the timer measures, in words (the record's ``timing``)."""
    return {
        "clock": "CUDA events"
        if device.is_cuda
        else "perf_counter_ns around each call (CPU kernels are synchronous)",
        "cache_flush": f"a {2 * device.cache_bytes} B buffer zeroed before every timed call, "
        "outside the timed region",
        "budgets_ms": {"warmup": config.warmup_ms, "repeat": config.rep_ms},
        "first_call": "timed to size the budgets, then discarded",
        "reported": "median of the samples for configurations and ops (all samples kept in "
        "samples_s); the best sample for ceilings",
        "units": "seconds; bytes; FLOPs (2 per multiply-add); bytes/s and FLOP/s",
    }


def start_sampler(config: ProfileConfig, device: Device, nvml_module: Any) -> Any:
    """An NVML sampler on the profiled GPU (matched by UUID), or None on a CPU or with --no-nvml."""
    if not (device.is_cuda and config.nvml):
        return None
    from llmroof.measure import nvml as nv

    module = nv.load_pynvml() if nvml_module == "auto" else nvml_module
    props = device.torch.cuda.get_device_properties(device.index)
    uuid = str(getattr(props, "uuid", "") or "") or None
    handle, status = nv.open_nvml(module, uuid=uuid, index=None if uuid else device.index)
    return nv.Sampler(handle, status, interval_s=config.nvml_interval_ms / 1e3).start()


def nvml_record(sampler: Any, device: Device, config: ProfileConfig) -> NvmlSampling:
    """Which NVML source sampled, or why none did."""
    if sampler is None:
        reason = (
            "off: --no-nvml"
            if device.is_cuda
            else "off: NVML samples GPUs, and this run is on the CPU"
        )
        return NvmlSampling(status=reason, source=None)
    gpu = sampler.device
    written_null = {"reason": sampler.status.reason, "error": sampler.error}  # null, not left out
    return NvmlSampling(
        status=sampler.status.label,
        source=sampler.status.source,
        reason=sampler.status.reason,
        interval_s=sampler.interval_s,
        replay_window_s=config.nvml_window_s,
        error=sampler.error,
        peak_dram_bandwidth_bytes_per_s=None
        if gpu is None
        else gpu.peak_dram_bandwidth_bytes_per_s,
        memory_bus_width_bits=None if gpu is None else gpu.bus_width_bits,
        max_memory_clock_mhz=None if gpu is None else gpu.max_mem_clock_mhz,
        nvml_uuid=None if gpu is None else gpu.uuid,
        samples=tuple(sampler.snapshot()),
        extra={key: None for key, value in written_null.items() if value is None},
    )


def ceiling_notes(configs: Sequence[ConfigResult]) -> list[str]:
    """A run faster than its roofline means a ceiling was measured low (under load, or too few samples)."""
    notes = []
    over = [(c.roofline_fraction, c) for c in configs if c.ok and c.roofline_fraction is not None]
    over = [(fraction, c) for fraction, c in over if fraction > 1.05]
    if over:
        fraction, worst = max(over, key=lambda pair: pair[0])
        notes.append(
            f"{len(over)} configuration(s) ran faster than the measured roofline (up to "
            f"{fraction:.0%}, {worst.phase} b={worst.batch} at {worst.length}): a ceiling "
            "was measured low, probably under load; re-run on a quiet machine before trusting the fractions"
        )
    ops = [
        (op.roofline_fraction or 0.0, op, c)
        for c in configs
        if c.ok
        for op in c.ops or ()
        if (op.roofline_fraction or 0.0) > 1.10
    ]
    if ops:
        op_fraction, op, c = max(ops, key=lambda row: row[0])
        notes.append(
            f"{len(ops)} op(s) ran faster than the roof of their memory level (up to "
            f"{op_fraction:.0%}, {op.name} against {op.roof_level or 'DRAM'} in "
            f"{c.phase} b={c.batch}): the calibration is stale or was measured under load "
            "(`llmroof ceilings --refresh`)"
        )
    return notes


def _check_weights_fit(config: ProfileConfig, device: Device) -> None:
    free, _ = device.memory_bytes()
    need = weights_bytes(config)
    if need > free * (1 - config.memory_headroom_fraction):
        where = "device memory" if device.is_cuda else "host RAM"
        raise LlmroofError(
            f"{config.num_layers} layers of {config.model.name} need {need / 2**30:.1f} GiB of weights, "
            f"{free / 2**30:.1f} GiB of {where} is free",
            "instantiate fewer with --layers N (the rest is extrapolated)",
        )


def _profile_config(
    config: ProfileConfig,
    device: Device,
    stack: Any,
    measured: HardwareSpec,
    datasheet: HardwareSpec | None,
    phase: str,
    batch: int,
    length: int,
    sampler: Any = None,
    calibrated: CalibratedCeilings | None = None,
) -> ConfigResult:
    torch = device.torch
    head = profile_record.config_head(phase, batch, length)
    free, _ = device.memory_bytes()
    need = run_bytes(config, phase, batch, length)
    if need > free * (1 - config.memory_headroom_fraction):
        return ConfigResult(
            **head,
            status="skipped",
            reason=(
                f"needs about {need / 2**30:.1f} GiB beyond the weights, {free / 2**30:.1f} GiB free"
            ),
        )
    try:
        timed = _measure(config, device, stack, phase, batch, length, sampler)
    except Exception as exc:  # an OOM (or any kernel failure) is recorded, and the run goes on
        if not device.is_out_of_memory(exc):
            raise
        if device.is_cuda:
            torch.cuda.empty_cache()
        return ConfigResult(
            **head, status="failed", reason=f"out of memory: {str(exc).splitlines()[0]}"
        )
    return _analysed(
        head,
        timed,
        config,
        measured,
        datasheet,
        phase,
        batch,
        length,
        calibrated.hierarchy() if calibrated is not None else None,
        calibrated.launch_floor_s if calibrated is not None else None,
    )


@dataclass(frozen=True, kw_only=True)
class Timed:
    """What one configuration's kernels measured, before the analytic figures are set beside it."""

    stack: TimingStats
    """The N-layer stack."""
    layer: TimingStats
    """One decoder layer."""
    cuda_graph: bool
    """Timed as CUDA-graph replays."""
    time_s: float
    """Full depth: the stack's median plus (L - N) one-layer medians."""
    nvml: NvmlReplay | None = None
    """The stack's steady replay, where NVML sampled."""
    experts_touched: int | None = None
    """Mixture-of-experts models: distinct experts routed to in one MoE layer."""
    op_timings: dict[str, TimingStats] | None = None
    """``per_op``: each op's kernel, by op name."""


def _measure(
    config: ProfileConfig,
    device: Device,
    stack: Any,
    phase: str,
    batch: int,
    length: int,
    sampler: Any = None,
) -> Timed:
    torch = device.torch
    tag = config_label(phase, batch, length)
    nvml: NvmlReplay | None = None
    experts_touched: int | None = None
    op_timings: dict[str, TimingStats] | None = None
    with torch.inference_mode():
        if phase == "prefill":
            cache = stack.new_cache(batch, length)
            tokens = torch.randint(
                0, stack.spec.vocab_size, (batch, length), device=device.torch_device
            )
            x = stack.embedding[tokens]
            layer, (k_cache, v_cache) = stack.layers[0], cache.layers[0]
            cos, sin = cache.cos, cache.sin
            stack_fn = lambda: stack.prefill(tokens, cache)  # noqa: E731
            layer_fn = lambda: layer.prefill(x, cos, sin, k_cache, v_cache)  # noqa: E731
            graphs = False
        else:
            cache = stack.new_cache(batch, length)
            tokens = torch.randint(0, stack.spec.vocab_size, (batch, 1), device=device.torch_device)
            x = stack.embedding[tokens]
            layer, (k_cache, v_cache) = stack.layers[0], cache.layers[0]
            cos, sin = cache.decode_rope()
            stack_fn, graphs = _maybe_graph(lambda: stack.decode(tokens, cache), device, config)
            layer_fn, _ = _maybe_graph(
                lambda: layer.decode(x, cos, sin, k_cache, v_cache), device, config
            )
        stack_stats = _time(
            stack_fn, device, config, f"{tag} stack x{config.num_layers}", step=True
        )
        if sampler is not None and sampler.running:
            from llmroof.measure.nvml import measure_region

            with nvtx.annotate(f"{tag} stack x{config.num_layers} nvml replay", color="red"):
                nvml = measure_region(
                    stack_fn,
                    device.synchronize,
                    sampler,
                    window_s=config.nvml_window_s,
                    call_s=stack_stats.median_s,
                )
        layer_stats = _time(layer_fn, device, config, f"{tag} layer", step=True)
        moe = next((each.moe for each in stack.layers if each.moe is not None), None)
        if moe is not None:
            from llmroof.kernels.ops import moe_input

            # Distinct experts the pass's b*s tokens (normal inputs, the random router) are routed to in one layer.
            tokens_in_pass = length if phase == "prefill" else 1
            experts_touched = moe.experts_touched(
                moe_input(
                    batch, tokens_in_pass, stack.spec.hidden_size, stack.dtype, device.torch_device
                )
            )
        if config.per_op:
            from llmroof.kernels.ops import op_kernels

            op_timings = {
                name: _time(fn, device, config, f"{tag} {name}")
                for name, fn in op_kernels(stack, phase, batch, length).items()
            }
    extra = config.model.num_layers - config.num_layers
    return Timed(
        stack=stack_stats,
        layer=layer_stats,
        cuda_graph=graphs,
        time_s=stack_stats.median_s + extra * layer_stats.median_s,
        nvml=nvml,
        experts_touched=experts_touched,
        op_timings=op_timings,
    )


def _analysed(
    head: dict[str, Any],
    timed: Timed,
    config: ProfileConfig,
    measured: HardwareSpec,
    datasheet: HardwareSpec | None,
    phase: str,
    batch: int,
    length: int,
    hierarchy: Any = None,
    launch_floor_s: float | None = None,
) -> ConfigResult:
    """The configuration as measured, with the analytic figures (measured-ceiling roofline, and the
    datasheet one where known) beside. The bound is the minimum-traffic (fused) op set; the eager op
    set, the one the kernels timed here run (SDPA in prefill, three attention ops in decode), sits beside
    it and places the per-op timings and the NVML bytes. ``head``: :func:`profile_record.config_head`."""
    workload = profile_workload(config, phase, batch, length)
    analysis = analyze(config.model, measured, workload)
    ph, eager = getattr(analysis, phase), getattr(analysis.eager(), phase)
    measured_s = t = timed.time_s
    compute_roofline_s = ph.time_s - ph.comm_time_s  # with tp_simulate, the shard's own work
    tp = config.tp_simulate
    simulated = None
    if tp > 1:
        simulated = SimulatedTp(
            tp=tp,
            method=(
                "one rank's shard timed on this device without collectives; the analytic comm cost of "
                f"tp={tp} on {measured.name} added"
            ),
            comm_time_s=ph.comm_time_s,
            time_s=t + ph.comm_time_s,
        )
        t += ph.comm_time_s  # the predicted tp-rank time: the shard's measured work plus the comm
    # Achieved rates of this device: its own (per-rank) bytes and FLOPs over its own measured time.
    achieved_bytes_per_s = ph.bytes / tp / measured_s
    achieved_flops_per_s = ph.flops / tp / measured_s
    sheet_s = (
        None
        if datasheet is None
        else getattr(analyze(config.model, datasheet, workload), phase).time_s
    )
    nvml = timed.nvml
    if nvml is not None:
        nvml = nvml_bytes(nvml, timed.stack.median_s, config, eager, phase, batch, length)
    ops = None
    if timed.op_timings:
        timings = timed.op_timings
        ops = tuple(
            profile_record.op_row(
                op,
                eager.roofline,
                timings.get(op.name),
                **place_op(op.flops, op.bytes, hierarchy, measured, config.dtype, launch_floor_s),
            )
            for op in eager.ops
        )
    return ConfigResult(
        **head,
        stack=timed.stack,
        layer=timed.layer,
        cuda_graph=timed.cuda_graph,
        time_s=measured_s,
        layer_time_s=timed.layer.median_s,
        status="ok",
        analytic=PhaseTotals.of(ph, eager=PhaseTotals.of(eager).to_dict()),
        roofline_time_s=compute_roofline_s,
        eager_roofline_time_s=eager.time_s - eager.comm_time_s,  # the same bound for the ops timed
        roofline_fraction=compute_roofline_s / measured_s,
        simulated=simulated,
        achieved_bytes_per_s=achieved_bytes_per_s,
        achieved_flops_per_s=achieved_flops_per_s,
        bound_measured=_measured_bound(
            achieved_flops_per_s, achieved_bytes_per_s, measured, config.dtype
        ),
        datasheet_roofline_time_s=sheet_s,
        datasheet_roofline_fraction=None if sheet_s is None else sheet_s / t,
        **profile_record.per_token(phase, batch, length, t, ph.bytes),
        nvml=nvml,
        ops=ops,
        experts_touched=timed.experts_touched,
    )


def profile_workload(config: ProfileConfig, phase: str, batch: int, length: int) -> Workload:
    """The analytic workload of one profiled pass; its eager op set is what ``kernels/`` times (SDPA, the
    ``attn.flash`` op, in prefill; ``attn.scores``, ``attn.softmax``, ``attn.context`` in decode)."""
    return Workload(
        batch=batch,
        prompt_len=length if phase == "prefill" else 1,
        context_len=length if phase == "decode" else 1,
        precision=config.precision,
        attention_kernel="flash" if phase == "prefill" else "eager",
        tp=config.tp_simulate,
    )


def place_op(
    flops: float,
    bytes_moved: float,
    hierarchy: Any,
    measured: HardwareSpec,
    dtype: str,
    launch_floor_s: float | None = None,
) -> dict[str, Any]:
    """The op's roof on the hierarchical roofline: the level its working set fits (``roof_level``), that
    level's measured roof, and the roofline time on it (``roof_time_s``, which ``roofline_fraction`` divides).
    Without a calibrated hierarchy every op is set against the DRAM roof. The third wall: where the dispatch
    floor (one op's least time, ``llmroof ceilings``) is above that roofline time, the floor explains the op:
    ``bound`` is ``launch``."""
    from llmroof.analytic.hierarchy import MemoryHierarchy, op_roof_time_s

    if hierarchy is None:
        hierarchy = MemoryHierarchy(
            caches=(), memory_bandwidth_bytes_per_s=measured.memory_bandwidth_bytes_per_s
        )
    time_s, level = op_roof_time_s(
        flops=flops,
        bytes_moved=bytes_moved,
        hierarchy=hierarchy,
        peak_flops_per_s=measured.peak_flops_per_s[dtype],
    )
    placed = {
        "roof_level": level.name,
        "roof_bandwidth_bytes_per_s": level.bandwidth_bytes_per_s,
        "roof_time_s": time_s,
    }
    if launch_floor_s is not None and launch_floor_s > time_s:
        placed |= {"bound": "launch", "launch_floor_s": launch_floor_s}
    return placed


def nvml_bytes(
    sampled: NvmlReplay,
    per_call_s: float,
    config: ProfileConfig,
    ph: Any,
    phase: str,
    batch: int,
    length: int,
) -> NvmlReplay:
    """NVML's measured DRAM bytes per token of the N-layer stack (``per_call_s``: its median time per call)
    beside the analytic bytes of that stack; the replay as it was where NVML measured no bandwidth."""
    bandwidth = sampled.measured_dram_bandwidth_bytes_per_s
    if not bandwidth:
        return sampled
    layers = config.num_layers
    stack_bytes = sum(
        op.bytes * (layers if op.name.startswith(("attn.", "mlp.")) else 1) for op in ph.ops
    )
    tokens = batch if phase == "decode" else batch * length
    measured = bandwidth * per_call_s / tokens
    analytic = stack_bytes / tokens
    return dataclasses.replace(
        sampled,
        measured_bytes_per_token=measured,
        analytic_bytes_per_token=analytic,
        measured_to_analytic_bytes_ratio=measured / analytic,
        method=(
            "DRAM bytes/s from NVML GPM (share of peak x peak) during a steady replay of the "
            f"{layers}-layer stack, x its median time per call, / tokens per call"
        ),
    )


def _measured_bound(
    achieved_flops_per_s: float, achieved_bytes_per_s: float, measured: HardwareSpec, dtype: str
) -> str:
    """Which measured ceiling the run is closer to: achieved bandwidth or achieved FLOP/s, as shares."""
    roof = Roofline(measured.peak_flops_per_s[dtype], measured.memory_bandwidth_bytes_per_s)
    return roof.bound(achieved_flops_per_s, achieved_bytes_per_s)  # rates in, shares compared


def crossover(
    configs: Sequence[ConfigResult], config: ProfileConfig, measured: HardwareSpec
) -> Crossover:
    """Per decode context: the first batch whose measured run is compute-bound, beside the analytic batch."""
    rows = []
    for context in config.contexts:
        done = sorted(
            (c for c in configs if c.phase == "decode" and c.context_len == context and c.ok),
            key=lambda c: c.batch,
        )
        workload = Workload(context_len=context, prompt_len=1, precision=config.precision)
        rows.append(
            CrossoverRow(
                context_len=context,
                measured_batch=next((c.batch for c in done if c.bound_measured == "compute"), None),
                analytic_batch=analyze(config.model, measured, workload).compute_bound_batch(),
                batches_measured=tuple(c.batch for c in done),
            )
        )
    return Crossover(
        method=(
            "decode is compute-bound where achieved FLOP/s is a larger share of the measured compute "
            "ceiling than achieved bytes/s of the measured bandwidth; analytic: the roofline's "
            "compute-bound batch on the measured ceilings"
        ),
        decode=tuple(rows),
    )
