"""Benchmark HTML report generation: a typical GPU profile's report, an analytic run's, and `llmroof report`
as a whole process. Target: under 3 s for a typical run.

Run: python benchmarks/bench_report.py [--json]

The "typical run" is the default `llmroof profile` on a GPU: Llama-3-8B shapes, batches 1, 8 and 32, prompt
512, contexts 512 and 2048 (3 prefill and 6 decode configurations), every op timed, with a datasheet entry and
NVML samples. This machine may have no GPU, so the benchmark takes a real CPU profile of the same plan at tiny
shapes (the structure of the file is the profiler's own) and gives it what a GPU run adds: the H100 datasheet,
a replay region and NVML figures per configuration, 1,500 NVML samples (2.5 minutes at 100 ms), and as many
timing samples per op as a GPU run keeps (1,000, the timer's cap). Figures are the best of several repeats.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from llmroof.specs import get_hardware, get_model
from timing import best_of, machine  # benchmarks/timing.py, beside this script
from llmroof.results.records.analysis import AnalysisRecord

GPU_SAMPLES_PER_TIMING = 1000
NVML_SAMPLES = 1500


def cpu_profile(path: Path) -> dict[str, Any]:
    """A real profile of the default GPU plan (3 batches, prompt 512, 2 contexts) on a tiny model."""
    import torch

    from llmroof.measure.device import open_device
    from llmroof.measure.profile import ProfileConfig, profile

    tiny = dataclasses.replace(get_model("llama-3-8b"), name="llama-3-8b (tiny shapes)", hidden_size=64,
                               num_layers=32, num_heads=8, num_kv_heads=2, head_dim=8, intermediate_size=224,
                               vocab_size=512)
    device = open_device("cpu")
    device.cache_bytes = 2**20
    torch.set_num_threads(1)
    config = ProfileConfig(model=tiny, batches=(1, 8, 32), prompt_len=512, contexts=(512, 2048), layers=1,
                           dtype="bf16", warmup_ms=1.0, rep_ms=3.0)
    return profile(config, device, path)


def as_gpu_run(record: dict[str, Any]) -> dict[str, Any]:
    """What a GPU run adds to the file: the datasheet, NVML per configuration and over time, more samples."""
    rng = random.Random(0)
    sheet = get_hardware("h100").to_dict()
    bandwidth = sheet["memory_bandwidth_bytes_per_s"]
    record["hardware"] = sheet
    record["device"].update(kind="cuda", name="NVIDIA H100 80GB HBM3")
    record["roofline"]["datasheet"] = {"peak_flops_per_s": sheet["peak_flops_per_s"]["bf16"],
                                      "bandwidth_bytes_per_s": bandwidth, "label": "NVIDIA H100 SXM5 80GB datasheet"}
    start = 100.0
    for index, c in enumerate(record["configs"]):
        c["datasheet_roofline_time_s"] = c["roofline_time_s"] / 30
        c["datasheet_roofline_fraction"] = c["datasheet_roofline_time_s"] / c["time_s"]
        tokens = c["batch"] * (c.get("prompt_len") or 1)
        layers = record["workload"]["layers_instantiated"]
        analytic = sum(op["bytes"] * (layers if op["name"].startswith(("attn.", "mlp.")) else 1)
                       for op in c["ops"]) / tokens  # the instantiated stack, as llmroof profile computes it
        c["nvml"] = {"start_s": start + 16 * index, "end_s": start + 16 * index + 0.5, "samples": 4, "source": "gpm",
                     "measured_dram_bandwidth_bytes_per_s": 0.8 * bandwidth, "measured_bytes_per_token": 1.1 * analytic,
                     "analytic_bytes_per_token": analytic, "measured_to_analytic_bytes_ratio": 1.1}
        for timing in [c["stack"], c["layer"], *c.get("ops", [])]:
            timing["samples_s"] = [timing["median_s"] * rng.uniform(0.95, 1.1) for _ in range(GPU_SAMPLES_PER_TIMING)]
            timing["n"] = GPU_SAMPLES_PER_TIMING
    record["nvml"] = {"status": "sampling: gpm", "source": "gpm", "reason": None, "interval_s": 0.1,
                      "peak_dram_bandwidth_bytes_per_s": bandwidth,
                      "samples": [{"start_s": start + 0.1 * i, "end_s": start + 0.1 * (i + 1), "source": "gpm",
                                   "dram_bw_util_percent": 80.0, "dram_bandwidth_bytes_per_s": 0.8 * bandwidth,
                                   "mem_busy_percent": None, "sm_clock_mhz": 1980.0, "mem_clock_mhz": 2619.0,
                                   "power_w": 650.0, "temperature_c": 60.0, "clock_event_reasons": []}
                                  for i in range(NVML_SAMPLES)]}
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from llmroof.analytic import Workload, analyze
    from llmroof.report import render_report, report_file

    folder = Path(tempfile.mkdtemp(prefix="bench-report-"))
    gpu_path = folder / "results.json"
    gpu_path.write_text(json.dumps(as_gpu_run(cpu_profile(gpu_path)), indent=2) + "\n")
    gpu_record = json.loads(gpu_path.read_text())
    analysis = AnalysisRecord.of(analyze(get_model("llama-3-8b"), get_hardware("h100"), Workload())).to_dict()
    parallel = AnalysisRecord.of(analyze(get_model("llama-3-70b"), get_hardware("h100"),
                       Workload(batch=8, tp=4, pp=2, micro_batches=4))).to_dict()

    render_report(analysis)  # imports (matplotlib, jinja2) outside the timed repeats
    profile_s = best_of(args.repeats, lambda: report_file(gpu_path, folder / "report.html"))
    analysis_s = best_of(args.repeats, lambda: render_report(analysis))
    parallel_s = best_of(args.repeats, lambda: render_report(parallel))
    exe = os.path.join(os.path.dirname(sys.executable), "python")
    command = [exe, "-c", "import sys; from llmroof.report import report_file; report_file(sys.argv[1], sys.argv[2])",
               str(gpu_path), str(folder / "cli.html")]
    process_s = best_of(max(2, args.repeats // 2), lambda: subprocess.run(command, check=True))

    results = {
        "machine": machine(),
        "typical_results_bytes": gpu_path.stat().st_size,
        "typical_report_bytes": (folder / "report.html").stat().st_size,
        "configurations": len(gpu_record["configs"]),
        "typical_profile_report_s": profile_s,
        "typical_profile_report_process_s": process_s,
        "analysis_report_s": analysis_s,
        "parallel_analysis_report_s": parallel_s,
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"machine: {results['machine']}")
    print(f"typical GPU run: {results['configurations']} configurations, results "
          f"{results['typical_results_bytes'] / 1e6:.1f} MB, report {results['typical_report_bytes'] / 1e6:.1f} MB")
    print(f"report of it (read, render, write):        {profile_s:6.2f} s (target < 3 s)")
    print(f"the same as a fresh process (imports too): {process_s:6.2f} s (target < 3 s)")
    print(f"analytic report (llama-3-8b, H100):        {analysis_s:6.2f} s")
    print(f"analytic report, tp 4 x pp 2 (llama-3-70b): {parallel_s:6.2f} s")


if __name__ == "__main__":
    main()
