"""Benchmark ``llmroof profile`` on this machine: its bandwidth ceiling against a STREAM-class tool, the default
profile's wall time, and how repeatable its decode TPOT is from one run to the next.

Run: python benchmarks/bench_profile.py [--runs 5] [--rounds 3] [--json [PATH]] [--keep DIR]

It takes several minutes (``--runs`` default profiles of about half a minute each, plus ``--rounds`` rounds of
bandwidth probes) and is not part of the test suite. Three measurements:

a. Read bandwidth. llmroof's read probe (``llmroof.kernels.ceilings.read_probe``, timed by
   ``llmroof.measure.timer.bench`` with the profiler's own settings) against ``likwid-bench -t load_avx512``
   (``load_avx`` without AVX-512; also ``load``, ``copy_avx`` and ``copy_avx512``) on 1 GB with 2 threads, and
   against a STREAM-like load and triad compiled here with ``gcc -O3 -march=native -fopenmp`` (the reference
   when likwid-bench is missing or cannot run). The rounds interleave the tools, so a neighbour's load hits
   them alike. Target: llmroof's read figure within 10% of the best likwid load figure. The figure each
   profile run records (``ceilings.measured_bandwidth_bytes_per_s``) is reported too.
b. Wall time of ``llmroof profile --out DIR`` (defaults otherwise), process start to exit. Target <= 60 s.
c. Decode TPOT over the ``--runs`` profiles, per (batch, context): coefficient of variation (sample standard
   deviation / mean). Target <= 3%.

The machine is shared: for every measurement the script also records the CPU time other processes used
meanwhile (``others_cores``: /proc/stat busy time minus this process tree's own, per second of wall time)
and the hypervisor's steal time, so a missed target can be told apart from a busy neighbour.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

READ_TARGET_FRACTION = 0.10  # llmroof's read probe within 10% of the best likwid load
WALL_TARGET_S = 60.0
TPOT_CV_TARGET = 0.03
QUIET_CORES = 0.05  # a run is "quiet" when other processes used less than this many cores on average
LIKWID_SIZE = "1GB"
THREADS = 2

# STREAM-like load (sum) and triad (a = b + s*c) over arrays of 2^25 doubles (256 MiB, 8x a 32 MiB L3).
# Bytes counted as STREAM does: load 8 B per element, triad 24 B (the write-allocate read is not counted).
C_STREAM = r"""
#include <stdio.h>
#include <stdlib.h>
#include <omp.h>
#define N (1L << 25)
#define REPS 20
int main(void) {
    double *a = aligned_alloc(64, N * sizeof(double)), *b = aligned_alloc(64, N * sizeof(double)),
           *c = aligned_alloc(64, N * sizeof(double));
    #pragma omp parallel for
    for (long i = 0; i < N; i++) { a[i] = 1.0; b[i] = 2.0; c[i] = 0.5; }
    double best_load = 1e30, best_triad = 1e30, sink = 0.0;
    for (int k = 0; k < REPS; k++) {
        double s = 0.0, t = omp_get_wtime();
        #pragma omp parallel for simd reduction(+:s)
        for (long i = 0; i < N; i++) s += a[i];
        t = omp_get_wtime() - t;
        sink += s;
        if (t < best_load) best_load = t;
        t = omp_get_wtime();
        #pragma omp parallel for simd
        for (long i = 0; i < N; i++) a[i] = b[i] + 3.0 * c[i];
        t = omp_get_wtime() - t;
        if (t < best_triad) best_triad = t;
    }
    printf("load_bytes_per_s %.6e\ntriad_bytes_per_s %.6e\nsink %g\n",
           N * 8.0 / best_load, N * 24.0 / best_triad, sink);
    return 0;
}
"""


# --- the machine and its other tenants ------------------------------------------------------------

def cpu_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def machine() -> dict[str, Any]:
    import torch

    from llmroof.measure.device import cpu_llc_bytes, cpu_model_name

    flags = cpu_flags()
    return {
        "cpu": cpu_model_name(),
        "cores": os.cpu_count(),
        "llc_bytes": cpu_llc_bytes(),
        "avx512f": "avx512f" in flags,
        "avx512_bf16": "avx512_bf16" in flags,
        "hypervisor": "hypervisor" in flags,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def _cpu_jiffies() -> tuple[int, int]:
    """(busy, steal) jiffies of all CPUs since boot, from the first line of /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return user + nice + system + irq + softirq, steal


def _own_cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # waited-for subprocesses
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def wait_for_idle(max_wait_s: float, threshold_cores: float = 0.2, window_s: float = 2.0) -> dict[str, float]:
    """Sleep until other processes use less than ``threshold_cores`` over a ``window_s`` window (or
    ``max_wait_s`` has passed); returns how long it waited and the last window's load."""
    hz = os.sysconf("SC_CLK_TCK")
    start = time.perf_counter()
    while True:
        busy0, _ = _cpu_jiffies()
        time.sleep(window_s)
        busy1, _ = _cpu_jiffies()
        others = (busy1 - busy0) / hz / window_s  # this process sleeps: the busy time is the others'
        waited = time.perf_counter() - start
        if others < threshold_cores or waited >= max_wait_s:
            return {"waited_s": waited, "others_cores_before": others}


def metered(fn: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    """Run ``fn``; also return its wall time and the CPU other processes (and the hypervisor) took meanwhile."""
    hz = os.sysconf("SC_CLK_TCK")
    busy0, steal0 = _cpu_jiffies()
    own0, start = _own_cpu_s(), time.perf_counter()
    result = fn()
    wall_s = time.perf_counter() - start
    busy1, steal1 = _cpu_jiffies()
    others_s = max(0.0, (busy1 - busy0) / hz - (_own_cpu_s() - own0))
    return result, {"wall_s": wall_s, "others_cores": others_s / wall_s, "steal_cores": (steal1 - steal0) / hz / wall_s}


# --- a. bandwidth ---------------------------------------------------------------------------------

def likwid_tests(flags: set[str]) -> list[str]:
    loads = ["load_avx512", "load_avx", "load"] if "avx512f" in flags else ["load_avx", "load"]
    copies = ["copy_avx512", "copy_avx"] if "avx512f" in flags else ["copy_avx"]
    return loads + copies


def likwid_bench(test: str, workgroup: str | None = None) -> dict[str, Any]:
    """One ``likwid-bench -t TEST -w S0:1GB:2`` run (or another ``-w`` workgroup): its MByte/s (decimal; loads
    only for load tests, loads plus stores for copies) as bytes/s, or why it did not run."""
    cmd = ["likwid-bench", "-t", test, "-w", workgroup or f"S0:{LIKWID_SIZE}:{THREADS}"]
    if shutil.which(cmd[0]) is None:
        return {"command": " ".join(cmd), "error": "likwid-bench not installed (apt-get install -y likwid)"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    match = re.search(r"^MByte/s:\s*([0-9.]+)", proc.stdout, re.MULTILINE)
    if proc.returncode != 0 or match is None:
        text = (proc.stderr or proc.stdout).strip().splitlines()
        return {"command": " ".join(cmd), "error": f"exit {proc.returncode}: {text[-1] if text else 'no output'}"}
    return {"command": " ".join(cmd), "bytes_per_s": float(match.group(1)) * 1e6}


def build_c_stream(folder: Path) -> Path | str:
    """Compile the STREAM-like load/triad; returns the binary, or why it could not be built."""
    source, binary = folder / "stream_load.c", folder / "stream_load"
    source.write_text(C_STREAM)
    cmd = ["gcc", "-O3", "-march=native", "-fopenmp", str(source), "-o", str(binary)]
    if shutil.which("gcc") is None:
        return "gcc not found"
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return binary if proc.returncode == 0 else f"gcc failed: {proc.stderr.strip()[:200]}"


def c_stream(binary: Path) -> dict[str, float]:
    env = {**os.environ, "OMP_NUM_THREADS": str(THREADS), "OMP_PROC_BIND": "spread"}
    out = subprocess.run([str(binary)], capture_output=True, text=True, env=env, check=True).stdout
    values = dict(line.split() for line in out.splitlines())
    return {kind: float(values[kind]) for kind in ("load_bytes_per_s", "triad_bytes_per_s")}


class LlmroofProbes:
    """llmroof's read and copy probes, built and timed exactly as ``measure_ceilings`` does."""

    def __init__(self) -> None:
        from llmroof.kernels import ceilings
        from llmroof.measure.device import open_device

        self.device = open_device("cpu")
        self.nbytes = ceilings.bandwidth_buffer_bytes(self.device.cache_bytes)
        self.read = ceilings.read_probe(self.nbytes, self.device.torch_device)
        self.copy = ceilings.copy_probe(self.nbytes, self.device.torch_device)

    def time(self, probe: Any) -> dict[str, float]:
        from llmroof.measure.stats import summarize
        from llmroof.measure.timer import bench

        # The profiler's settings: warm-up 25 ms, budget max(rep_ms, 200) ms, no flush (the buffer is >= 4x the LLC).
        stats = summarize(bench(probe.fn, self.device, warmup_ms=25.0, rep_ms=200.0, flush=False))
        return {"best_bytes_per_s": probe.bytes / stats["min_s"], "median_bytes_per_s": probe.bytes / stats["median_s"],
                "n": stats["n"], "cv": stats["cv"]}


def bandwidth_rounds(rounds: int, work: Path, wait_idle_s: float) -> dict[str, Any]:
    flags = cpu_flags()
    tests = likwid_tests(flags)
    binary = build_c_stream(work)
    probes = LlmroofProbes()
    rows: list[dict[str, Any]] = []
    for round_index in range(rounds):
        if wait_idle_s > 0:
            wait_for_idle(wait_idle_s)
        for test in tests:
            result, meter = metered(lambda: likwid_bench(test))
            rows.append({"round": round_index, "tool": "likwid-bench", "test": test, **result, **meter})
        if isinstance(binary, Path):
            result, meter = metered(lambda: c_stream(binary))
            for kind in ("load", "triad"):
                rows.append({"round": round_index, "tool": "gcc-stream", "test": kind,
                             "bytes_per_s": result[f"{kind}_bytes_per_s"], **meter})
        for name, probe in (("read", probes.read), ("copy", probes.copy)):
            result, meter = metered(lambda: probes.time(probe))
            rows.append({"round": round_index, "tool": "llmroof", "test": name,
                         "bytes_per_s": result["best_bytes_per_s"], **result, **meter})
        print(f"  bandwidth round {round_index + 1}/{rounds} done", file=sys.stderr, flush=True)
    buffer_bytes = probes.nbytes
    del probes  # free the probe buffers before the profiles run
    return {"llmroof_buffer_bytes": buffer_bytes, "likwid_size": LIKWID_SIZE, "threads": THREADS, "rows": rows,
            "c_stream": None if isinstance(binary, Path) else binary}


def best(rows: list[dict[str, Any]], tool: str, tests: list[str] | None = None,
         key: str = "bytes_per_s") -> dict[str, Any] | None:
    """The row with the highest ``key`` among a tool's (successful) rows."""
    mine = [r for r in rows if r["tool"] == tool and key in r and (tests is None or r["test"] in tests)]
    return max(mine, key=lambda r: r[key]) if mine else None


# --- b, c. the default profile ----------------------------------------------------------------------

def profile_run(exe: str, folder: Path) -> dict[str, Any]:
    """One default ``llmroof profile --out FOLDER``, and what its results file says."""
    command = [exe, "profile", "--out", str(folder)]
    proc, meter = metered(lambda: subprocess.run(command, capture_output=True, text=True))
    run: dict[str, Any] = {**meter, "exit_code": proc.returncode}
    path = folder / "results.json"
    if not path.exists():
        run["error"] = proc.stderr.strip()[-500:]
        return run
    record = json.loads(path.read_text())
    ceilings = record.get("ceilings", {})
    run.update(status=record["status"], results=str(path),
               read_bytes_per_s=ceilings.get("measured_bandwidth_bytes_per_s"),
               copy_bytes_per_s=ceilings.get("measured_copy_bandwidth_bytes_per_s"),
               compute_flops_per_s=ceilings.get("measured_flops_per_s"))
    run["tpot_s"], run["ttft_s"], run["lm_head_bytes_per_s"] = {}, {}, {}
    for config in record.get("configs", []):
        if config.get("status") != "ok":
            continue
        if config["phase"] == "decode":
            key = f"b={config['batch']} c={config['context_len']}"
            run["tpot_s"][key] = config["tpot_s"]
            lm_head = next((op for op in config.get("ops", []) if op["name"] == "lm_head" and "median_s" in op), None)
            if lm_head is not None:
                run["lm_head_bytes_per_s"][key] = lm_head["achieved_bytes_per_s"]
        else:
            run["ttft_s"][f"b={config['batch']} s={config['prompt_len']}"] = config["ttft_s"]
    return run


def spread(values: list[float]) -> dict[str, float]:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"n": len(values), "mean": mean, "min": min(values), "max": max(values),
            "median": statistics.median(values), "cv": std / mean if mean else 0.0}


# --- the whole benchmark ------------------------------------------------------------------------------

def summarize_results(bandwidth: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    rows = bandwidth["rows"]
    likwid_load = best(rows, "likwid-bench", [t for t in likwid_tests(cpu_flags()) if t.startswith("load")])
    likwid_copy = best(rows, "likwid-bench", [t for t in likwid_tests(cpu_flags()) if t.startswith("copy")])
    c_load = best(rows, "gcc-stream", ["load"])
    reference = likwid_load or c_load
    read = best(rows, "llmroof", ["read"])
    read_median = best(rows, "llmroof", ["read"], key="median_bytes_per_s")
    copy = best(rows, "llmroof", ["copy"])
    ok = [r for r in runs if r.get("status") == "complete"]
    recorded = [r["read_bytes_per_s"] for r in ok if r.get("read_bytes_per_s")]
    summary: dict[str, Any] = {
        "reference": None if reference is None else {"tool": reference["tool"], "test": reference["test"],
                                                     "bytes_per_s": reference["bytes_per_s"]},
        "likwid_best_load": likwid_load and {"test": likwid_load["test"], "bytes_per_s": likwid_load["bytes_per_s"]},
        "likwid_best_copy": likwid_copy and {"test": likwid_copy["test"], "bytes_per_s": likwid_copy["bytes_per_s"]},
        "gcc_stream_best_load_bytes_per_s": c_load and c_load["bytes_per_s"],
        "llmroof_read_best_bytes_per_s": read and read["bytes_per_s"],
        "llmroof_read_median_bytes_per_s": read_median and read_median["median_bytes_per_s"],
        "llmroof_copy_best_bytes_per_s": copy and copy["bytes_per_s"],
        "profile_recorded_read_bytes_per_s": spread(recorded) if recorded else None,
        "profile_wall_s": spread([r["wall_s"] for r in runs]),
        "profile_runs_complete": len(ok),
        "tpot": {},
    }
    if reference:
        same = [r["bytes_per_s"] for r in rows if r["tool"] == reference["tool"] and r["test"] == reference["test"]
                and "bytes_per_s" in r]
        summary["reference_spread"] = spread(same)  # how much the machine itself moves between rounds
    if reference and read:
        summary["read_vs_reference"] = read["bytes_per_s"] / reference["bytes_per_s"]
        summary["read_target_met"] = abs(summary["read_vs_reference"] - 1) <= READ_TARGET_FRACTION
        summary["read_median_vs_reference"] = read_median["median_bytes_per_s"] / reference["bytes_per_s"]
        if recorded:
            summary["recorded_read_vs_reference"] = statistics.median(recorded) / reference["bytes_per_s"]
    summary["read_vs_reference_by_round"] = paired_ratios(rows)
    summary["wall_target_met"] = all(r["wall_s"] <= WALL_TARGET_S for r in runs)
    keys = sorted({k for r in ok for k in r["tpot_s"]}, key=lambda k: tuple(int(p[2:]) for p in k.split()[::-1]))
    quiet = [r for r in ok if r["others_cores"] < QUIET_CORES]
    summary["quiet_runs"] = len(quiet)
    summary["tpot_quiet"] = {}
    for key in keys:
        summary["tpot"][key] = spread([r["tpot_s"][key] for r in ok if key in r["tpot_s"]])
        if len(quiet) > 1:
            summary["tpot_quiet"][key] = spread([r["tpot_s"][key] for r in quiet if key in r["tpot_s"]])
    summary["tpot_target_met"] = bool(keys) and all(s["cv"] <= TPOT_CV_TARGET for s in summary["tpot"].values())
    return summary


def paired_ratios(rows: list[dict[str, Any]]) -> list[dict[str, float]]:
    """Per round: llmroof's read probe (best and median) / the best likwid load of the same round, and how
    busy the machine was. Rounds pair the tools in time, so slow drifts of the host's bandwidth cancel."""
    out = []
    for round_index in sorted({r["round"] for r in rows}):
        mine = [r for r in rows if r["round"] == round_index]
        loads = [r["bytes_per_s"] for r in mine if r["tool"] == "likwid-bench" and r["test"].startswith("load")
                 and "bytes_per_s" in r]
        loads = loads or [r["bytes_per_s"] for r in mine if r["tool"] == "gcc-stream" and r["test"] == "load"]
        read = next((r for r in mine if r["tool"] == "llmroof" and r["test"] == "read"), None)
        if loads and read:
            out.append({"round": round_index, "best_ratio": read["best_bytes_per_s"] / max(loads),
                        "median_ratio": read["median_bytes_per_s"] / max(loads),
                        "others_cores": max(r["others_cores"] for r in mine)})
    return out


def gb(value: float | None) -> str:
    return "-" if value is None else f"{value / 1e9:6.2f} GB/s"


def print_report(results: dict[str, Any]) -> None:
    m, s = results["machine"], results["summary"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, LLC {m['llc_bytes'] / 2**20:.0f} MiB, "
          f"avx512f={m['avx512f']}, {m['os']}, Python {m['python']}, torch {m['torch']} ({m['torch_threads']} threads)")
    print("\na. bandwidth (best of each tool's rounds; others = CPU cores other processes used meanwhile)")
    print(f"  {'tool':13s} {'test':12s} {'best':>12s} {'rounds':>40s}")
    rows = results["bandwidth"]["rows"]
    for tool, test in dict.fromkeys((r["tool"], r["test"]) for r in rows):
        mine = [r for r in rows if r["tool"] == tool and r["test"] == test and "bytes_per_s" in r]
        if not mine:
            failed = next(r for r in rows if r["tool"] == tool and r["test"] == test)
            print(f"  {tool:13s} {test:12s} {'failed':>12s}  {failed['command']}: {failed['error']}")
            continue
        values = " ".join(f"{r['bytes_per_s'] / 1e9:5.1f}({r['others_cores']:.1f})" for r in mine)
        print(f"  {tool:13s} {test:12s} {gb(max(r['bytes_per_s'] for r in mine)):>12s}  {values}")
    if results["bandwidth"].get("c_stream"):
        print(f"  gcc STREAM-like reference not built: {results['bandwidth']['c_stream']}")
    ref = s["reference"]
    if ref and s.get("read_vs_reference") is not None:
        print(f"  llmroof read probe, best:   {gb(s['llmroof_read_best_bytes_per_s'])} = "
              f"{s['read_vs_reference']:.2%} of {ref['tool']} {ref['test']} {gb(ref['bytes_per_s']).strip()} "
              f"(target 90-110%: {'met' if s['read_target_met'] else 'MISSED'})")
        print(f"  llmroof read probe, median: {gb(s['llmroof_read_median_bytes_per_s'])} = "
              f"{s['read_median_vs_reference']:.1%}")
    by_round = s.get("read_vs_reference_by_round") or []
    if by_round:
        print("  per round, llmroof read / the round's best reference load (others = the busiest tool's): "
              + ", ".join(f"{r['best_ratio']:.0%} best, {r['median_ratio']:.0%} median ({r['others_cores']:.1f})"
                          for r in by_round))
    if s.get("reference_spread"):
        r = s["reference_spread"]
        print(f"  {ref['tool']} {ref['test']} across rounds: min {gb(r['min']).strip()}, max {gb(r['max']).strip()}, "
              f"CV {r['cv']:.1%} (same test each round: the machine's own variation, neighbours included)")
    rec = s["profile_recorded_read_bytes_per_s"]
    if rec:
        print(f"  recorded by llmroof profile (ceilings.measured_bandwidth_bytes_per_s) over {rec['n']} runs: "
              f"median {gb(rec['median']).strip()}, min {gb(rec['min']).strip()}, max {gb(rec['max']).strip()}"
              + (f" = {s['recorded_read_vs_reference']:.1%} of the reference"
                 if "recorded_read_vs_reference" in s else ""))
    print("\nb, c. default profile runs (llmroof profile --out DIR)")
    keys = list(s["tpot"])
    print(f"  {'run':>3s} {'waited':>6s} {'wall':>7s} {'others':>6s} {'steal':>5s} {'read BW':>11s} {'matmul':>13s}  "
          + " ".join(f"{'TPOT ' + k:>18s}" for k in keys))
    for i, r in enumerate(results["profile_runs"]):
        tpots = " ".join(f"{r.get('tpot_s', {}).get(k, float('nan')) * 1e3:15.1f} ms" for k in keys)
        flops = r.get("compute_flops_per_s")
        print(f"  {i + 1:3d} {r.get('waited_s', 0):5.0f}s {r['wall_s']:6.1f}s {r['others_cores']:6.2f} "
              f"{r['steal_cores']:5.2f} "
              f"{gb(r.get('read_bytes_per_s')):>11s} {'-' if not flops else f'{flops / 1e9:.0f} GFLOP/s':>13s}  {tpots}"
              + ("" if r.get("status") == "complete" else f"  status={r.get('status')} {r.get('error', '')}"))
    w = s["profile_wall_s"]
    print(f"  wall time: median {w['median']:.1f} s, max {w['max']:.1f} s (target <= {WALL_TARGET_S:.0f} s: "
          f"{'met' if s['wall_target_met'] else 'MISSED'})")
    for key, t in s["tpot"].items():
        print(f"  TPOT {key:13s} mean {t['mean'] * 1e3:6.1f} ms, min {t['min'] * 1e3:6.1f}, max {t['max'] * 1e3:6.1f}, "
              f"CV {t['cv']:.1%} over {t['n']} runs (target <= {TPOT_CV_TARGET:.0%}: "
              f"{'met' if t['cv'] <= TPOT_CV_TARGET else 'MISSED'})")
    for key, t in s["tpot_quiet"].items():
        print(f"  TPOT {key:13s} quiet runs only (others < {QUIET_CORES} cores): mean {t['mean'] * 1e3:6.1f} ms, "
              f"CV {t['cv']:.1%} over {t['n']} runs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="default profiles to run (wall time, TPOT spread)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of bandwidth probes")
    parser.add_argument("--json", nargs="?", const="-", metavar="PATH",
                        help="write the results as JSON to PATH (or stdout with no PATH, instead of the table)")
    parser.add_argument("--wait-idle", type=float, default=120.0, metavar="S",
                        help="before each round and run, wait up to S s for other processes to go idle (0: never)")
    parser.add_argument("--keep", type=Path,
                        help="keep the profiles' results folders here (default: a temporary folder)")
    args = parser.parse_args()

    exe = os.path.join(os.path.dirname(sys.executable), "llmroof")
    with tempfile.TemporaryDirectory(prefix="bench_profile.") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        results: dict[str, Any] = {"machine": machine(), "load_average_start": os.getloadavg()}
        results["bandwidth"] = bandwidth_rounds(args.rounds, Path(tmp), args.wait_idle)
        runs = []
        for i in range(args.runs):
            idle = wait_for_idle(args.wait_idle) if args.wait_idle > 0 else {}
            runs.append({**profile_run(exe, work / f"run{i + 1}"), **idle})
            print(f"  profile run {i + 1}/{args.runs}: {runs[-1]['wall_s']:.1f} s", file=sys.stderr, flush=True)
        results["profile_runs"] = runs
        results["load_average_end"] = os.getloadavg()
        results["summary"] = summarize_results(results["bandwidth"], runs)
    if args.json == "-":
        print(json.dumps(results, indent=2))
        return
    print_report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nJSON: {args.json}")


if __name__ == "__main__":
    main()
