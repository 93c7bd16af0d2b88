"""``llmroof bench``: a serving engine under load, each level placed on the roofline (docs/bench.md)."""

from __future__ import annotations

import sys
from typing import Any

from llmroof.cli.options import Given


def _numbers(option: str, text: str | None, kind: type) -> tuple[Any, ...]:
    from llmroof.ranges import number_list

    return (
        () if text is None else number_list(option, text, kind, minimum=0 if kind is float else 1)
    )


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else ms / 1e3


def bench(given: Given) -> None:
    from llmroof.bench.run import BenchConfig
    from llmroof.report.console.bench import print_result
    from llmroof.results.save import results_folder
    from llmroof.runs.bench import bench_config, run_bench

    options = given.pick(
        BenchConfig,
        concurrency=_numbers("--concurrency", given.concurrency, int),
        rates=_numbers("--rate", given.rate, float),
        ttft_slo_s=_seconds(given.ttft_slo),
        tpot_slo_s=_seconds(given.tpot_slo),
        profile=given.profile or given.profile_dir is not None,
    )
    cfg = bench_config(trace_file=given.trace_file, **options)
    quiet = given.fmt != "table"
    path = results_folder(given.out, force=given.force, prefix="bench-") / "results.json"
    result = run_bench(
        cfg,
        path,
        progress=(lambda _: None) if quiet else (lambda m: print(m, file=sys.stderr)),
        warn=lambda m: print(f"llmroof: warning: {m}", file=sys.stderr),
    )
    print_result(result, path, given.fmt)
