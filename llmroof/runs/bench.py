"""``llmroof bench``: the options as the command line gives them into a
:class:`~llmroof.bench.run.BenchConfig`, and the run (:func:`~llmroof.bench.run.run_bench`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmroof.bench.run import BenchConfig, preflight, run_bench

__all__ = ["bench_config", "run_bench"]


def bench_config(
    *,
    trace_file: Path | None = None,
    requests: int | None = None,
    duration_s: float | None = None,
    **options: Any,
) -> BenchConfig:
    """A :class:`BenchConfig` of ``options`` (its fields), with ``trace_file`` (Azure or BurstGPT CSV,
    Mooncake JSONL) read into its requests; without ``requests`` or ``duration_s``, 64 requests a level
    (or the trace's). Checked as far as it can be before any folder is made or request sent."""
    from llmroof.bench.traffic import read_trace

    trace = tuple(read_trace(trace_file, limit=requests)) if trace_file is not None else ()
    if requests is None and duration_s is None:
        requests = len(trace) or 64
    config = BenchConfig(**options, requests=requests, duration_s=duration_s, trace=trace)
    preflight(config, None)
    return config
