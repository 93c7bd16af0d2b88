"""``llmroof profile --repeat N``: the configurations in N fresh processes, merged into one results file.

It sits in the results layer, above the measurement it repeats: it launches measuring processes, merges their
records and writes the one results file (the measurement layer writes nothing itself).

Why processes: timings within one process share its state (clock frequencies, the allocator's layout, the
page cache, whatever else ran then), so their spread understates how much a second run moves. Kalibera and
Jones ("Rigorous benchmarking in reasonable time", 2013) make the process the unit of replication; this
module runs N of them, one after another (never at once: they would measure each other).

Interleaving: process k times the configuration plan rotated to start at position k (``plan_rotation``), so a
slow drift over the run (heat, a neighbour's load) lands on different configurations in different processes
rather than always on the last ones.

Ceilings: each process gets them as a single ``llmroof profile`` does, so a repeated run is N ordinary runs.
Where the calibration cache of ``llmroof ceilings`` exists, that is one shared calibration (the roof is the
machine's, not the process's; the first process fills the cache and the rest reuse it), and every process's
roofline fractions are set against the same roof. Otherwise each process probes its own, every process's
fractions use its own, and the spread of the probes is recorded in ``repeat.ceilings``.

The results file: the record of the first finished process, with ``configs`` replaced by one entry per
configuration (the process whose time is the median, whole, so its figures agree with each other) carrying
``repeat``: per metric the value of every process (tagged with its index), median, min, max and CV; and
``processes``: every finished process's complete record (all its samples), tagged with ``index`` and
``rotation``. It is rewritten atomically as each process finishes; Ctrl-C keeps the finished processes.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from llmroof.errors import LlmroofError
from llmroof.measure.stats import spread
from llmroof.results.io import read_json, write_json_atomic
from llmroof.results.records.profile import (
    ConfigRepeat,
    ConfigResult,
    ProcessRun,
    ProfileRecord,
    RepeatInfo,
    Spread,
)
from llmroof.results.save import saver
from llmroof.writers import check_output_folder, write_bytes_atomic

WORKER_MODULE = "llmroof.results.repeat"
WORKER_CODE = (
    "import sys; sys.path.pop(0); "  # not the working directory: a source checkout there is no install
    f"from {WORKER_MODULE} import worker_main; sys.exit(worker_main(sys.argv[1]))"
)
"""What the worker interpreter runs. ``python -m`` (and ``-c``) put the working directory first on sys.path, so
in a source checkout the worker would import the uninstalled tree (where ``llmroof.kernels`` does not exist)
instead of the installed package that started it; dropping that entry makes it import what its parent did."""
METRICS = (
    "time_s",
    "tpot_s",
    "ttft_s",
    "tokens_per_s",
    "achieved_bytes_per_s",
    "roofline_fraction",
)
CEILING_KEYS = (
    "measured_bandwidth_bytes_per_s",
    "measured_copy_bandwidth_bytes_per_s",
    "measured_flops_per_s",
)
METHOD = (
    "N fresh processes, one after another; process k times the configurations in the plan's order "
    "rotated by k; per configuration, the entry is the process whose full-depth time is the median "
    "(the lower one for even N); spread: each process's value (from its median time), min, max, and "
    "CV = standard deviation / mean over the processes"
)


@dataclass(frozen=True, kw_only=True)
class Job:
    """What one worker process runs (pickled into a file it reads)."""

    config: Any
    """The ``ProfileConfig``, its ``plan_rotation`` set."""
    device: str
    threads: int | None
    out_path: str
    argv: list[str]


Launch = Callable[[Path], int]
"""Run the worker on a job file; returns its exit status."""


def launch_subprocess(job_path: Path) -> int:
    """``worker_main(JOB)`` in a fresh interpreter (this one, see :data:`WORKER_CODE`); on Ctrl-C (which the worker receives
    too, as part of the same process group) give it time to record what it finished. SIGTERM and SIGHUP come to
    this process alone (:class:`~llmroof.errors.Interrupted`): they are passed on to the worker, which stops as
    on Ctrl-C."""
    process = subprocess.Popen([sys.executable, "-c", WORKER_CODE, str(job_path)])
    try:
        return process.wait()
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", None)
        if signum is not None and process.poll() is None:
            process.send_signal(signum)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise


def run_repeated(
    config: Any,
    *,
    device: str,
    threads: int | None,
    path: Path,
    processes: int,
    argv: list[str],
    progress: Callable[[str], None] = lambda _: None,
    launch: Launch = launch_subprocess,
    plan_size: int,
) -> ProfileRecord:
    """Run ``processes`` workers one after another and merge them into ``path`` after each; returns the
    merged record (the file's, read as a :class:`ProfileRecord`). Ctrl-C writes what finished (status "interrupted") and re-raises; a failed worker
    writes what finished (status "failed") and raises LlmroofError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # the workers' records: a user's file under one of their names is kept (a link is replaced)
    check_output_folder(
        path.parent, [f".process-{index}.json" for index in range(processes)], force=False
    )
    finished: list[ProcessRun] = []
    for index in range(processes):
        rotation = index % plan_size
        worker_path = path.parent / f".process-{index}.json"
        job_path = path.parent / f".process-{index}.job"
        job = Job(
            config=replace(config, plan_rotation=rotation),
            device=device,
            threads=threads,
            out_path=str(worker_path),
            argv=argv,
        )
        write_bytes_atomic(job_path, pickle.dumps(job))
        progress(f"process {index + 1} of {processes} (configurations rotated by {rotation})")
        try:
            status = launch(job_path)
        except KeyboardInterrupt:
            _write_partial(path, finished, processes, worker_path, "interrupted")
            raise
        finally:
            job_path.unlink(missing_ok=True)
        if status != 0:
            _write_partial(
                path, finished, processes, worker_path, "failed", f"process {index} exited {status}"
            )
            raise LlmroofError(
                f"profile process {index + 1} of {processes} exited with status {status}",
                f"what finished is in {path}; the failed process's own record in {worker_path}",
            )
        record = read_json(worker_path, "llmroof.profile/")
        run = ProfileRecord.from_dict(record, str(worker_path))
        finished.append(
            ProcessRun(index=index, rotation=rotation, status=run.status, record=record)
        )
        merged = merge(finished, processes, "complete" if index + 1 == processes else "running")
        write_json_atomic(path, merged.to_dict())
        worker_path.unlink(missing_ok=True)  # now inside the results file
    return merge(finished, processes, "complete")


def _write_partial(
    path: Path,
    finished: list[ProcessRun],
    requested: int,
    worker_path: Path,
    status: str,
    error: str | None = None,
) -> None:
    """Keep what finished: the merged processes; with none, the unfinished worker's own record (it is a
    valid single-run results file, with what it measured)."""
    if finished:
        merged = merge(finished, requested, status)
        if error:
            merged = replace(merged, error=error)
        write_json_atomic(path, merged.to_dict())
    elif worker_path.exists():
        try:
            record = ProfileRecord.from_dict(
                read_json(worker_path, "llmroof.profile/"), str(worker_path)
            )
        except LlmroofError:
            return
        if record.status in ("running", "complete"):
            record = replace(record, status=status)
        write_json_atomic(path, record.to_dict())


Key = tuple[str, int, int | None]
"""A configuration's phase, batch and length (prompt or context)."""


def _key(config: ConfigResult) -> Key:
    return config.phase, config.batch, config.length


def merge(processes: list[ProcessRun], requested: int, status: str) -> ProfileRecord:
    """One results record from the finished processes (each ``record`` a whole ``llmroof.profile/1``
    file as written): the first process's record, with one configuration per (phase, batch, length)
    and the spread over the processes beside it."""
    if not processes:
        raise ValueError("nothing to merge")
    runs = [
        ProfileRecord.from_dict(process.record, f"process {process.index}") for process in processes
    ]
    order: list[Key] = []
    by_key: dict[Key, list[Found]] = {}
    for process, run in zip(processes, runs):
        for config in run.configs:
            key = _key(config)
            if key not in by_key:
                order.append(key)
                by_key[key] = []
            by_key[key].append(Found(process.index, config))
    # Process 0 ran the plan unrotated, so the order of first appearance is the plan's.
    return replace(
        runs[0],
        status=status,
        configs=tuple(_merge_config(by_key[key]) for key in order),
        repeat=RepeatInfo(
            processes_requested=requested,
            processes_finished=len(processes),
            method=METHOD,
            ceilings=_ceiling_spread([process.index for process in processes], runs),
        ),
        processes=tuple(processes),
    )


@dataclass(frozen=True)
class Found:
    """One process's entry for a configuration."""

    process: int
    config: ConfigResult


def _merge_config(found: list[Found]) -> ConfigResult:
    """The median process's entry for one configuration, with every process's values beside it."""
    statuses = {str(f.process): f.config.status for f in found}
    ok = [f for f in found if f.config.ok]
    if not ok:
        return replace(found[0].config, repeat=ConfigRepeat(processes=0, statuses=statuses))
    ranked = sorted(ok, key=lambda f: f.config.time_s or 0.0)
    chosen = ranked[(len(ranked) - 1) // 2]
    metrics: dict[str, Spread] = {}
    for name in METRICS:
        values = [
            (f.process, getattr(f.config, name))
            for f in ok
            if isinstance(getattr(f.config, name), (int, float))
        ]
        if values:
            metrics[name] = _by_process(values)
    ops: dict[str, list[tuple[int, float]]] = {}
    for f in ok:
        for op in f.config.ops or ():
            if op.median_s is not None:
                ops.setdefault(op.name, []).append((f.process, op.median_s))
    return replace(
        chosen.config,
        repeat=ConfigRepeat(
            processes=len(ok),
            process_index=chosen.process,
            metrics=metrics,
            ops={name: _by_process(values) for name, values in ops.items()},
            statuses=statuses if len(ok) < len(found) else None,
        ),
    )


def _by_process(values: list[tuple[int, float]]) -> Spread:
    """Every process's value, then their spread."""
    return Spread.from_dict(
        {
            "by_process": [{"process": i, "value": v} for i, v in values],
            **spread([v for _, v in values]),
        }
    )


def _ceiling_spread(indices: list[int], runs: list[ProfileRecord]) -> dict[str, Spread]:
    """Per ceiling: each process's figure (``indices[i]`` ran ``runs[i]``), then their spread."""
    result = {}
    for key in CEILING_KEYS:
        values = [
            (index, getattr(run.ceilings, key))
            for index, run in zip(indices, runs)
            if run.ceilings is not None
        ]
        if values:
            result[key] = _by_process(values)
    return result


# --- the worker -------------------------------------------------------------------------------------


def worker_main(job_path: str) -> int:
    """Run one process's profile from a job file; exit status 0 when it completed, 130 on Ctrl-C."""
    _stop_on_signals()
    import torch

    from llmroof.measure.device import open_device
    from llmroof.measure.profile import profile

    job: Job = pickle.loads(Path(job_path).read_bytes())
    if job.threads is not None:
        torch.set_num_threads(job.threads)
    device = open_device(job.device, torch)
    try:
        profile(job.config, device, saver(job.out_path), argv=job.argv)
    except KeyboardInterrupt:
        return 130
    except LlmroofError as exc:
        print(f"llmroof: error: {exc}", file=sys.stderr)
        return 2
    return 0


def _stop_on_signals() -> None:
    """SIGTERM and SIGHUP (passed on by the parent) stop the worker as Ctrl-C does: it records what it
    finished and exits."""
    import signal

    from llmroof.errors import Interrupted

    def stop(signum: int, frame: object) -> None:
        raise Interrupted(signum)

    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), stop)


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1]))
