"""Benchmark ``llmroof simulate``: 100,000 requests through one simulated replica (target: < 10 s).

Run: python benchmarks/bench_simulate.py [--json] [--requests N]

Llama-3-8B on one H100 (roofline step times), 1024 prompt / 256 output tokens, vLLM V1 defaults
(max_num_seqs 256, 8192 batched tokens, chunked prefill), Poisson arrivals at 50% and 90% of the
replica's throughput (about 15 and 27 requests/s): at low load every request is decoded in small
batches (many steps per request), near capacity in large ones. Each figure is the best of several
repeats (the machine is shared); the load average is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from timing import best_of, machine  # benchmarks/timing.py, beside this script

from llmroof.analytic import Workload
from llmroof.bench.traffic import synthetic
from llmroof.simulate.run import Simulation, run_level
from llmroof.simulate.steps import StepModel
from llmroof.specs import get_hardware, get_model

RATES = (15.0, 27.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    workload = Workload(implementation="fused", attention_kernel="flash", fused_qkv=True)
    model, hardware = get_model("llama-3-8b"), get_hardware("h100-sxm")
    sim = Simulation(
        model=model,
        hardware=hardware,
        workload=workload,
        prompt_tokens=1024,
        output_tokens=256,
        requests=args.requests,
        keep_requests=False,
    )
    steps = StepModel.of(model, hardware, workload)
    results = []
    for rate in RATES:
        traffic = synthetic(rate, args.requests, 1024, 256, seed=0)
        level = run_level(sim, steps, traffic, rate)
        seconds = best_of(args.repeats, lambda: run_level(sim, steps, traffic, rate))  # noqa: B023
        cpu = time.process_time()
        run_level(sim, steps, traffic, rate)
        cpu = (
            time.process_time() - cpu
        )  # this process's CPU time: what the run costs without the other load
        results.append(
            {
                "rate": rate,
                "requests": args.requests,
                "seconds": seconds,
                "cpu_seconds": cpu,
                "steps": level.steps,
                "requests_per_s_served": level.request_throughput_per_s,
                "ttft_p90_s": level.ttft_s.p90,
                "tpot_p90_s": level.tpot_s.p90,
                "load_average": os.getloadavg()[0],
            }
        )
    if args.json:
        print(json.dumps({"machine": machine(), "results": results}, indent=2))
        return
    print(f"machine: {machine()}")
    for r in results:
        print(
            f"rate {r['rate']:g}/s: {r['requests']:,} requests, {r['steps']:,} steps in "
            f"{r['seconds']:.2f} s (best of {args.repeats}; CPU time {r['cpu_seconds']:.2f} s; "
            f"load average {r['load_average']:.1f}); "
            f"served {r['requests_per_s_served']:.1f} requests/s, "
            f"p90 TTFT {r['ttft_p90_s'] * 1e3:.0f} ms, p90 TPOT {r['tpot_p90_s'] * 1e3:.1f} ms"
        )


if __name__ == "__main__":
    main()
