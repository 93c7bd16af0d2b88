"""``llmroof sample``: open NVML, sample for some seconds or while a command runs, return the
``llmroof.sample/1`` record."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from llmroof.errors import LlmroofError
from llmroof.results.records.sample import NvmlSample, SampleRecord, SampleSummary

View = Callable[[Any], AbstractContextManager[Callable[[], None]]]
"""A live view of a running sampler: entered around the wait, it yields the function to call on every tick."""

NOTES = {
    "gpm": "DRAM bandwidth: GPM's share of peak x peak (bytes)",
    "memory_utilization_samples": "time-busy, not bytes: share of time the memory controller was busy",
    "utilization_rates": "time-busy, not bytes: share of time the memory controller was busy",
}
"""What each NVML source measures, in words."""


def run_sample(
    *,
    gpu: int = 0,
    interval_s: float = 0.1,
    seconds: float = 10.0,
    command: Sequence[str] = (),
    view: View | None = None,
) -> SampleRecord:
    """Sample GPU ``gpu`` through NVML every ``interval_s`` for ``seconds``, or while ``command`` runs (its exit
    code is the record's ``exit_code``). Without a driver the record says why and the command still runs.

    ``view`` (when the sampler has a source) is entered around the wait and ticked every interval; Ctrl-C
    ends the sampling early (and stops the command), and the record still comes back."""
    from llmroof.measure import nvml as nv

    device, status = nv.open_nvml(nv.load_pynvml(), index=gpu)
    sampler = nv.Sampler(device, status, interval_s=interval_s)
    live = view(sampler) if view is not None and sampler.status.source is not None else None
    started = time.time()
    code = None
    with sampler:
        if command:
            code = _run_command(list(command), sampler, live)
        elif sampler.status.source is not None:
            _wait(seconds, sampler, live)
    return _record(sampler, device, list(command), code, time.time() - started, gpu)


def exit_status(returncode: int) -> int:
    """A child's exit code as a shell reports it: a child killed by signal N (Popen's -N) gives 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def _run_command(command: list[str], sampler: Any, live: AbstractContextManager | None) -> int:
    try:
        process = subprocess.Popen(command)
    except OSError as exc:
        raise LlmroofError(
            f"cannot run {command[0]!r}: {exc.strerror}", "check the command after `--`"
        ) from None
    try:
        if live is not None:
            with live as tick:
                while process.poll() is None:
                    time.sleep(sampler.interval_s)
                    tick()
        return exit_status(process.wait())
    except KeyboardInterrupt:
        process.terminate()
        return exit_status(process.wait())


def _wait(seconds: float, sampler: Any, live: AbstractContextManager | None) -> None:
    end = time.monotonic() + seconds
    try:
        if live is None:
            time.sleep(seconds)
            return
        with live as tick:
            while time.monotonic() < end:
                time.sleep(min(sampler.interval_s, max(0.0, end - time.monotonic())))
                tick()
    except KeyboardInterrupt:
        pass  # Ctrl-C ends sampling early; the record still comes back


def _record(
    sampler: Any, device: Any, command: list[str], code: int | None, duration_s: float, gpu: int
) -> SampleRecord:
    from llmroof.measure.nvml import summarize_samples

    samples = sampler.snapshot()
    return SampleRecord(
        gpu_index=gpu,
        gpu_name=device.name if device else None,
        status=sampler.status.label,
        source=sampler.status.source,
        source_note=NOTES.get(sampler.status.source or ""),
        fallback_reason=sampler.status.reason or None,
        error=sampler.error,
        peak_dram_bandwidth_bytes_per_s=device.peak_dram_bandwidth_bytes_per_s if device else None,
        interval_s=sampler.interval_s,
        command=tuple(command) or None,
        exit_code=code if command else None,
        duration_s=duration_s,
        summary=SampleSummary.from_dict(summarize_samples(samples)),
        samples=tuple(NvmlSample.from_dict(s.to_dict()) for s in samples),
    )
