"""The Python API: what the CLI does, for notebooks and scripts (``docs/api.md``).

    import llmroof
    run = llmroof.load("llmroof-runs/20260101-120000")   # any results file, or a run's folder
    run.to_pandas()                                       # a row per configuration, units in column names

Each function runs one command through the library function the CLI calls, takes the command's options
as keyword arguments, and returns the record ``llmroof.load()`` reads from the JSON the CLI writes.
Nothing here prints. Every number is checked as the CLI checks it at parse time (finite, of sensible
size, within the option's bounds), and bad input raises the :class:`~llmroof.errors.LlmroofError` the CLI
prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmroof.errors import check_numbers
from llmroof.results.records import load

if TYPE_CHECKING:
    from llmroof.results.records import (
        AnalysisRecord,
        BenchResult,
        CeilingsRecord,
        CommRecord,
        CompareRecord,
        GridRecord,
        PlanRecord,
        ProfileRecord,
        SampleRecord,
        SimulateResult,
        SweepRecord,
        TraceCompareRecord,
        TraceRecord,
    )

__all__ = [
    "analyze",
    "bench",
    "ceilings",
    "comm",
    "compare",
    "load",
    "plan",
    "profile",
    "sample",
    "simulate",
    "sweep",
    "trace",
]


def analyze(**options: Any) -> AnalysisRecord:
    """``llmroof analyze``: the analytic roofline of one workload (the ``llmroof.analysis/1`` record).

    The options are the fields of :class:`llmroof.runs.analyze.AnalyzeOptions`: ``model`` (a preset or
    a config.json or its folder), ``hardware`` (a catalog name), ``batch``, ``prompt_len`` (tokens per
    sequence for prefill), ``context_len`` (the KV cache of the decode step), ``tp``, ``pp``, ``dtype``,
    ``weight_dtype``, ``kv_dtype``, ``implementation`` (``fused``, the minimum-traffic bound, or
    ``eager``); for mixture-of-experts models ``ep``, ``expert_dtype``, routing skewed by ``zipf`` or a
    measured ``expert_load`` histogram; for MLA models ``mla_absorbed``."""
    from llmroof.runs.analyze import AnalyzeOptions
    from llmroof.runs.analyze import analyze as run_analyze

    check_numbers(**options)
    return run_analyze(AnalyzeOptions(**options))


def sweep(
    sweeps: Sequence[str], *, out: str | Path | None = None, force: bool = False, **options: Any
) -> SweepRecord | GridRecord:
    """``llmroof analyze --sweep``: ``sweeps`` as the CLI's ``AXIS=VALUES`` texts (``"batch=1..256"``).
    One batch, prompt or context axis is a ``SweepRecord``; several axes (or ``out``, a .csv or .jsonl
    file every row is streamed to) a grid, whose ``GridRecord`` holds each layout's frontier. The other
    options are :func:`analyze`'s."""
    from llmroof.runs.analyze import AnalyzeOptions, GridSweep
    from llmroof.runs.analyze import sweep as run_sweep

    check_numbers(**options)
    target = None if out is None else Path(out)
    result = run_sweep(AnalyzeOptions(**options), list(sweeps), out=target, force=force)
    return result.record if isinstance(result, GridSweep) else result


def plan(**options: Any) -> PlanRecord:
    """``llmroof plan``: the capacity plan (the ``llmroof.plan/1`` record). The options are those of
    :func:`llmroof.plan.command.plan_command`: ``model``, ``hardware`` (a device, or several separated
    by commas), ``prompt`` and ``output`` tokens per request, ``rate`` (requests/s), ``ttft_slo`` and
    ``tpot_slo`` in ms, ``gpu_hour_cost``, ``calibrate`` (result files), ``top``, ``simulate``, ..."""
    from llmroof.plan.command import plan_command
    from llmroof.results.records import PlanRecord

    check_numbers(**options)
    return PlanRecord.from_dict(plan_command(**options).to_dict())


def simulate(**options: Any) -> SimulateResult:
    """``llmroof simulate``: a serving replica or fleet simulated under load (the ``llmroof.simulate/1``
    record, with every request, as ``--out`` writes it). The options are those of
    :func:`llmroof.simulate.command.simulate_command`: ``model``, ``hardware``, ``prompt``, ``output``,
    ``rate`` (text, as ``--rate``: ``"2,4,8"``), ``requests``, ``seed``, ``ttft_slo_ms``, ..."""
    from llmroof.simulate.command import simulate_command

    check_numbers(**options)
    return simulate_command(**options)


def trace(traces: Sequence[str | Path], **options: Any) -> TraceRecord:
    """``llmroof trace``: every kernel of a profiler trace (the files of one run) on the roofline (the
    ``llmroof.trace/1`` record). The options are those of :func:`llmroof.trace.run.trace_command`:
    ``model``, ``hardware``, ``batch``, ``context``, ``prompt``, ``dtype``, ``tp``, ``launch_floor_s``..."""
    from llmroof.trace.run import trace_command

    check_numbers(**options)
    return trace_command([Path(t) for t in traces], **options)


def compare(
    base: str | Path, new: str | Path, **settings: Any
) -> CompareRecord | TraceCompareRecord:
    """``llmroof compare BASE NEW``: two profile runs (or folders of repeated runs) metric by metric (the
    ``llmroof.compare/1`` record; ``record.verdict``), or two ``llmroof.trace/1`` results phase by phase
    and op by op (the ``llmroof.compare.trace/1`` record). The settings are the fields of
    :class:`llmroof.compare.comparison.CompareSettings`: ``threshold`` and ``noise_floor`` as fractions,
    ``metrics``, ``min_samples``, ``max_cv``, ``allow_mismatch``, ``gate_ops``."""
    from llmroof.compare.command import compare_command
    from llmroof.compare.comparison import CompareSettings

    check_numbers(**settings)
    return compare_command(Path(base), Path(new), CompareSettings(**settings)).record()


def ceilings(
    device: str = "auto", *, threads: int | None = None, refresh: bool = False
) -> CeilingsRecord:
    """``llmroof ceilings``: this machine's calibrated roofs (the ``llmroof.ceilings/1`` record), from the
    per-machine cache, or measured (about 10-20 s on a CPU) when none is cached or ``refresh``."""
    from llmroof.runs.ceilings import run_ceilings

    check_numbers(threads=threads)
    return run_ceilings(device, threads=threads, refresh=refresh)


def comm(**options: Any) -> CommRecord:
    """``llmroof comm``: all-reduce, all-gather and send/recv timed across message sizes on ``ranks``
    processes (the ``llmroof.comm/1`` record). The options are those of
    :func:`llmroof.runs.comm.run_comm`: ``ranks``, ``sizes`` (``"4K..64M"``), ``device``,
    ``iterations``, ``hardware``, ``timeout_s``, ``out`` (a file the record is written to)."""
    from llmroof.runs.comm import run_comm

    check_numbers(**options)
    record = run_comm(**options)
    assert record is not None, "outside torchrun, this process is rank 0"
    return record


def sample(**options: Any) -> SampleRecord:
    """``llmroof sample``: a GPU's HBM bandwidth through NVML for ``seconds``, or while ``command`` (a
    list of words) runs (the ``llmroof.sample/1`` record; without a driver it says why). The options are
    those of :func:`llmroof.runs.sample.run_sample`: ``gpu``, ``interval_s``, ``seconds``, ``command``."""
    from llmroof.runs.sample import run_sample

    check_numbers(**options)
    return run_sample(**options)


def bench(
    *, out: str | Path | None = None, trace_file: str | Path | None = None, **options: Any
) -> BenchResult:
    """``llmroof bench``: load a serving engine level by level (the ``llmroof.bench/1`` record). The
    options are the fields of :class:`llmroof.bench.run.BenchConfig`: ``url``, ``model``, ``endpoint``,
    ``concurrency`` or ``rates`` (sequences of levels), ``requests`` (default 64 without
    ``duration_s``), ``input_len``, ``output_len``, ``ttft_slo_s``, ``tpot_slo_s``, ``seed``, ...;
    ``trace_file`` replays a trace. With ``out`` (a folder), ``results.json`` is written there as the
    run goes, as the CLI does."""
    from llmroof.runs.bench import bench_config, run_bench

    check_numbers(**options)
    config = bench_config(trace_file=None if trace_file is None else Path(trace_file), **options)
    return run_bench(config, None if out is None else Path(out) / "results.json")


def profile(*, out: str | Path | None = None, **options: Any) -> ProfileRecord:
    """``llmroof profile`` on one device: time the kernels here and place them on the roofline.

    The options are those of :func:`llmroof.runs.profile.prepare_profile`: ``model``, ``device``,
    ``batches``, ``prompt_len``, ``contexts``, ``dtype``, ``layers``, ``threads``, ``per_op``,
    ``cuda_graphs``, ``nvml``, ``warmup_ms``, ``rep_ms``, ``hardware``, ``tp_simulate``. Defaults are the
    CLI's, sized for the device (on a CPU: Llama-3.2-1B, 2 layers, batches 1 and 4, prompt 128, contexts
    512 and 2048). With ``out`` (a folder), ``results.json`` is written there atomically after every
    finished configuration, as the CLI does. Parallel runs (``tp``/``pp``, ``repeat``) start processes:
    use the CLI for those."""
    check_numbers(**options)
    from llmroof.runs.profile import prepare_profile, run_profile

    job = prepare_profile(**options)
    path = None if out is None else Path(out) / "results.json"
    record = run_profile(job, path, argv=["llmroof.profile()"])
    assert record is not None, "a single-device run returns its record"
    return record
