"""Benchmark the analytic engine: one analyze call, a 10,000-configuration sweep, and CLI start-up.

Run: python benchmarks/bench_analyze.py [--json]

Each figure is the best (minimum) of several repeats: the machine is shared, and the minimum is the
least-disturbed measurement of the same deterministic work.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys

from llmroof.analytic import Workload, analyze
from llmroof.analytic.sweep import evaluate
from llmroof.specs import Precision, get_hardware, get_model
from timing import best_of, machine  # benchmarks/timing.py, beside this script
from llmroof.analytic.serialize import analysis_to_dict


def sweep_configurations() -> list[tuple]:
    """10,000 distinct (model, hardware, workload) configurations across every axis of the model."""
    models = [get_model(n) for n in ("llama-3-8b", "llama-3-70b", "llama-3.2-1b", "mistral-7b", "llama-2-7b", "llama-3.2-3b")]
    hardware = [get_hardware(n) for n in ("h100", "a100", "l40s", "h200")]
    batches = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    contexts = [128, 512, 2048, 4096, 8192, 32768, 131072]
    precisions = [Precision.uniform("bf16"), Precision.uniform("fp8")]
    tps = [1, 2, 4, 8]
    configs = []
    for model, hw, batch, context, precision, tp in itertools.product(models, hardware, batches, contexts,
                                                                      precisions, tps):
        configs.append((model, hw, Workload(batch=batch, context_len=context, precision=precision, tp=tp)))
        if len(configs) == 10_000:
            break
    return configs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    model, hw = get_model("llama-3-8b"), get_hardware("h100")
    workload = Workload()
    one_call_s = best_of(200, lambda: analyze(model, hw, workload))
    one_call_json_s = best_of(50, lambda: analysis_to_dict(analyze(model, hw, workload)))

    configs = sweep_configurations()
    # The rows are kept, as a sweep's caller does (keeping whole Analysis objects would cost the
    # garbage collector more than the analysis itself).
    sweep_s = best_of(3, lambda: [evaluate(m, h, w) for m, h, w in configs])

    exe = os.path.join(os.path.dirname(sys.executable), "llmroof")
    help_s = best_of(5, lambda: subprocess.run([exe, "--help"], capture_output=True, check=True))
    cli_s = best_of(5, lambda: subprocess.run([exe, "analyze", "--format", "json"], capture_output=True, check=True))

    results = {
        "machine": machine(),
        "analyze_call_s": one_call_s,
        "analyze_call_with_json_s": one_call_json_s,
        "sweep_configurations": len(configs),
        "sweep_s": sweep_s,
        "configurations_per_s": len(configs) / sweep_s,
        "cli_help_s": help_s,
        "cli_analyze_json_s": cli_s,
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"machine: {results['machine']}")
    print(f"one analyze() call:            {one_call_s * 1e6:8.0f} us")
    print(f"one analyze() + to_dict():     {one_call_json_s * 1e6:8.0f} us")
    print(f"sweep of {len(configs)} configurations: {sweep_s:8.3f} s = {len(configs) / sweep_s:,.0f} configurations/s"
          f" (target >= 10,000)")
    print(f"llmroof --help:                {help_s * 1e3:8.0f} ms (target < 500 ms)")
    print(f"llmroof analyze --format json: {cli_s * 1e3:8.0f} ms")


if __name__ == "__main__":
    main()
