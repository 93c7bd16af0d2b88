"""Overhead of the NVML sampler thread on a timed kernel.

Run: python benchmarks/bench_sampler.py [--json]

On a machine without an NVIDIA driver, the sampler runs against the test suite's fake pynvml (same calls,
same thread, same 100 ms interval), so what is measured is the sampler's own cost on the host: the Python
thread waking every interval, taking the GIL and making its NVML calls. A GPU kernel is unaffected by a
host thread except through launch latency, so on a GPU the overhead is at most this figure.
The kernel is a read of a 256 MiB buffer (memory-bound, like decode), timed with llmroof's timer;
medians of alternating rounds with and without the sampler.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fakes import FakeNvml  # noqa: E402

from llmroof.kernels.ceilings import read_probe  # noqa: E402
from llmroof.measure import nvml as nv  # noqa: E402
from llmroof.measure.device import open_device  # noqa: E402
from llmroof.measure.timer import bench  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()

    device = open_device("cpu")
    probe = read_probe(256 * 2**20, "cpu")
    real, status = nv.open_nvml(nv.load_pynvml(), index=0)
    source = "real NVML" if real is not None else f"fake pynvml ({status.label})"
    without, with_sampler = [], []
    for _ in range(args.rounds):
        without.append(statistics.median(bench(probe.fn, device, rep_ms=300, flush=False)))
        handle, st = (real, status) if real is not None else nv.open_nvml(FakeNvml(), index=0)
        sampler = nv.Sampler(handle, st, interval_s=0.1).start()
        try:
            with_sampler.append(statistics.median(bench(probe.fn, device, rep_ms=300, flush=False)))
        finally:
            sampler.stop()
    base, sampled = statistics.median(without), statistics.median(with_sampler)
    overhead = sampled / base - 1
    result = {"sampler": source, "kernel": "sum of a 256 MiB fp32 buffer", "rounds": args.rounds,
              "median_without_s": base, "median_with_s": sampled, "overhead_fraction": overhead}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"sampler: {source}; kernel: {result['kernel']}; {args.rounds} alternating rounds")
        print(f"median without sampler: {base * 1e3:.3f} ms, with: {sampled * 1e3:.3f} ms, "
              f"overhead {overhead * 100:+.2f}% (target < 1%)")


if __name__ == "__main__":
    main()
