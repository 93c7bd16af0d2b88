"""``llmroof trace`` on a large trace: writes a Kineto Chrome-trace JSON of the size asked for (default 2 GB,
under /tmp, deleted afterwards) and reads it with ``llmroof trace`` in a fresh process, reporting the wall time, the process's CPU time
(user + system: on a shared machine, the figure that does not depend on how many others run) and the peak
resident memory (``ru_maxrss`` of that process).

The trace is an eager vLLM-like run of llama-3.2-1b (16 layers, decode steps of batch 8): per kernel a
``cpu_op`` with its shapes, a ``cuda_runtime`` launch, an ``ac2g`` flow pair and the kernel, about 230 bytes
an event, each step under a vLLM ``execute_...`` annotation. Targets: < 60 s, < 1 GB peak RSS.

Run: ``python benchmarks/bench_trace.py [--gb 2] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from trace_gen import step_launches  # noqa: E402

from llmroof.specs.model import get_model  # noqa: E402


def write_trace(path: Path, target_bytes: int) -> dict[str, int]:
    """Stream a trace of about ``target_bytes`` to ``path`` (events written as they are made)."""
    model = get_model("llama-3.2-1b")
    launches = step_launches(model, phase="decode", tokens=8, batch=8)
    cpu_t, gpu_t, ext, corr, steps, kernels = 1000.0, 1100.0, 1, 1, 0, 0
    with path.open("w", buffering=1 << 22) as f:
        f.write(
            '{"schemaVersion": 1, "deviceProperties": [{"id": 0, "name": "NVIDIA H100 80GB HBM3"}],\n'
            '"traceEvents": [\n'
        )
        first = True
        while f.tell() < target_bytes:
            start = cpu_t
            parts = []
            for launch in launches:
                dims = json.dumps([list(d) for d in launch.dims]) if launch.dims else "[]"
                parts.append(
                    f'{{"ph": "X", "cat": "cpu_op", "name": "{launch.cpu_op}", "pid": 1, "tid": 1, '
                    f'"ts": {cpu_t:.3f}, "dur": 6, "args": {{"External id": {ext}, "Input Dims": {dims}}}}},\n'
                    f'{{"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 1, '
                    f'"ts": {cpu_t + 1:.3f}, "dur": 4, "args": {{"External id": {ext}, "correlation": {corr}}}}},\n'
                    f'{{"ph": "s", "id": {corr}, "pid": 1, "tid": 1, "ts": {cpu_t + 1:.3f}, "cat": "ac2g", '
                    f'"name": "ac2g"}},\n'
                    f'{{"ph": "X", "cat": "kernel", "name": {json.dumps(launch.kernel)}, "pid": 0, "tid": 7, '
                    f'"ts": {gpu_t:.3f}, "dur": {launch.dur_us}, "args": {{"External id": {ext}, '
                    f'"correlation": {corr}, "device": 0, "stream": 7}}}},\n'
                    f'{{"ph": "f", "id": {corr}, "pid": 0, "tid": 7, "ts": {gpu_t:.3f}, "cat": "ac2g", '
                    f'"name": "ac2g", "bp": "e"}}'
                )
                cpu_t += 7
                gpu_t += launch.dur_us + 2
                ext += 1
                corr += 1
                kernels += 1
            cpu_t = max(cpu_t, gpu_t) + 50
            parts.append(
                f'{{"ph": "X", "cat": "user_annotation", "name": "execute_context_0(0)_generation_8(8)", '
                f'"pid": 1, "tid": 1, "ts": {start:.3f}, "dur": {cpu_t - start - 10:.3f}}}'
            )
            f.write(("" if first else ",\n") + ",\n".join(parts))
            first = False
            steps += 1
        f.write("\n]}\n")
    return {"steps": steps, "kernels": kernels, "bytes": path.stat().st_size}


READER = """
import json, resource, sys, time
from llmroof.specs.model import get_model
from llmroof.trace import TraceOptions, run_trace
start = time.perf_counter()
record = run_trace([sys.argv[1]], TraceOptions(model=get_model("llama-3.2-1b"), context=1024))
elapsed = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"read_s": elapsed, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_bytes": usage.ru_maxrss * 1024,
                  "steps": len(record.steps), "attributed_fraction": record.coverage.attributed_fraction}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=2.0, help="trace size in GB (10^9 bytes)")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir="/tmp") as folder:
        path = Path(folder) / "big.pt.trace.json"
        t0 = time.perf_counter()
        written = write_trace(path, int(args.gb * 1e9))
        write_s = time.perf_counter() - t0
        out = subprocess.run(
            [sys.executable, "-c", READER, str(path)],
            capture_output=True,
            text=True,
            cwd=folder,
            check=True,
        )
        figures = json.loads(out.stdout.strip().splitlines()[-1])
    figures |= {
        "trace_bytes": written["bytes"],
        "kernels": written["kernels"],
        "write_s": write_s,
        "loadavg": os.getloadavg()[0],
        "cpus": os.cpu_count(),
        "child_maxrss_bytes": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
    }
    print(
        f"trace {figures['trace_bytes'] / 1e9:.2f} GB, {figures['kernels']} kernels, {figures['steps']} steps: "
        f"read and analysed in {figures['read_s']:.1f} s wall, {figures['cpu_s']:.1f} s CPU, peak RSS {figures['peak_rss_bytes'] / 2**20:.0f} MiB "
        f"(targets < 60 s, < 1 GiB); load average {figures['loadavg']:.2f} on {figures['cpus']} CPUs"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
