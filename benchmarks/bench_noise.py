"""Does ``llmroof compare`` cry wolf on this machine? Same-code runs against each other, and a real 1.3x slowdown.

Run: python benchmarks/bench_noise.py [--pairs 5] [--repeat-pairs 3] [--repeat 3] [--keep DIR] [--json [PATH]]
     python benchmarks/bench_noise.py --reuse DIR     # compare the runs of an earlier --keep DIR again

Every profile is ``llmroof profile --device cpu --layers 1 --batch 1 --context 128 --prompt 128`` in a fresh
process (this interpreter, ``-m llmroof``), BASE and NEW runs interleaved (A1 B1 A2 B2 ...) so that a drift of
the machine hits both sides alike. Measured:

a. ``--pairs`` pairs of same-code single runs, compared with the default gate: how many exit 1 (must be 0).
   Beside it, the same pairs with ``--noise-floor 0`` (the within-process intervals trusted, as compare did
   before issue 11) and with ``--gate-ops``, to show what the floor and the user-level gate are worth.
b. ``--repeat-pairs`` pairs of same-code ``--repeat N`` runs (N processes each): how many exit 1 (must be 0).
c. NEW = a real ``--repeat N`` BASE with every per-configuration and per-op time x1.3 (samples, medians,
   full-depth times; rates / 1.3; ceilings unchanged): must exit 1. Also NEW = the *other* run of the same
   pair x1.3 (real process noise on both sides), and the single-run case (a single run x1.3 against another).
d. The run-to-run noise: per user-level metric, the CV over all single runs (one value per process) and the
   largest |NEW/BASE - 1| of a same-code single pair (what the default ``--noise-floor`` must cover); the
   process-level CV inside each ``--repeat`` run.

The load on the machine (1-minute load average) is sampled before every profile and reported.
It runs 2 x pairs + 2 x repeat-pairs x repeat profile processes (28 by default): about 5 minutes where one
takes 10 s, 36 minutes on the shared VM under heavy load (docs/performance.md).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROFILE_ARGS = ["--device", "cpu", "--layers", "1", "--batch", "1", "--context", "128", "--prompt", "128"]
SCALE = 1.3
USER_METRICS = ("tpot_s", "ttft_s")
TIME_KEYS = ("min_s", "median_s", "mean_s", "p10_s", "p90_s", "iqr_s", "max_s")


def llmroof(*args: str) -> subprocess.CompletedProcess:
    # Outside the checkout: `python -m` puts the working directory first on sys.path.
    return subprocess.run([sys.executable, "-m", "llmroof", *args], capture_output=True, text=True,
                          cwd=tempfile.gettempdir())


def profile(out: Path, repeat: int, loads: list[float]) -> float:
    loads.append(os.getloadavg()[0])
    start = time.perf_counter()
    args = [*PROFILE_ARGS, "--out", str(out), "--format", "json"] + (["--repeat", str(repeat)] if repeat > 1 else [])
    result = llmroof("profile", *args)
    if result.returncode != 0:
        raise SystemExit(f"profile failed ({result.returncode}): {result.stderr[-2000:]}")
    return time.perf_counter() - start


def compare(base: Path, new: Path, *extra: str) -> int:
    result = llmroof("compare", str(base), str(new), "--no-step-summary", "--format", "json", *extra)
    if result.returncode not in (0, 1, 3):
        raise SystemExit(f"compare failed ({result.returncode}): {result.stderr[-2000:]}")
    return result.returncode


# --- a real run x1.3 ----------------------------------------------------------------------------------

def _scale_timing(block: dict[str, Any], factor: float) -> None:
    if "samples_s" in block:
        block["samples_s"] = [s * factor for s in block["samples_s"]]
    for key in TIME_KEYS:
        if isinstance(block.get(key), (int, float)):
            block[key] *= factor


def scale_config(config: dict[str, Any], factor: float) -> None:
    """Every time of one configuration x factor, every rate / factor; the analytic figures stay."""
    if config.get("status") != "ok":
        return
    for key in ("stack", "layer"):
        _scale_timing(config[key], factor)
    for key in ("time_s", "layer_time_s", "tpot_s", "ttft_s"):
        if key in config:
            config[key] *= factor
    for key in ("tokens_per_s", "achieved_bytes_per_s", "achieved_flops_per_s", "roofline_fraction",
                "datasheet_roofline_fraction"):
        if isinstance(config.get(key), (int, float)):
            config[key] /= factor
    for op in config.get("ops") or []:
        if "median_s" in op:
            _scale_timing(op, factor)
            for key in ("achieved_bytes_per_s", "achieved_flops_per_s", "roofline_fraction"):
                if isinstance(op.get(key), (int, float)):
                    op[key] /= factor
    config.pop("repeat", None)  # the spread summary is rebuilt below


def scaled(record: dict[str, Any], factor: float) -> dict[str, Any]:
    """A results record (single or --repeat) with every configuration and op time x factor."""
    out = copy.deepcopy(record)
    if "processes" in out:
        from llmroof.results.repeat import merge

        for process in out["processes"]:
            for config in process["record"]["configs"]:
                scale_config(config, factor)
        merged = merge(out["processes"], out["repeat"]["processes_requested"], out["status"])
        return merged
    for config in out["configs"]:
        scale_config(config, factor)
    return out


def write_scaled(source: Path, target: Path, factor: float) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(scaled(json.loads(source.read_text()), factor)))
    return target


# --- noise ---------------------------------------------------------------------------------------------

def metric_values(path: Path) -> dict[str, list[float]]:
    """Per user-level metric, one value per process of a results file (every configuration's value)."""
    record = json.loads(path.read_text())
    records = [p["record"] for p in record["processes"]] if "processes" in record else [record]
    values: dict[str, list[float]] = {m: [] for m in USER_METRICS}
    for r in records:
        for config in r["configs"]:
            for metric in USER_METRICS:
                if config.get("status") == "ok" and metric in config:
                    values[metric].append(config[metric])
    return values


def cv(values: list[float]) -> float:
    return statistics.stdev(values) / statistics.fmean(values) if len(values) > 1 else 0.0


def processes_needed(process_cv: float, change: float, threshold: float = 0.05, most: int = 50) -> int | None:
    """The fewest processes a side whose 95% Welch interval, at this process-level CV, clears the threshold
    for a real ``change`` (e.g. 0.3): t(2n - 2) * cv * sqrt(2 / n) < ln((1 + change) / (1 + threshold))."""
    from llmroof.compare.stats import t_quantile

    margin = math.log((1 + change) / (1 + threshold))
    for n in range(2, most + 1):
        if t_quantile(0.975, 2 * n - 2) * process_cv * math.sqrt(2 / n) < margin:
            return n
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--repeat-pairs", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep the runs in this folder (default: a temporary one)")
    parser.add_argument("--reuse", type=Path, help="compare the runs kept in this folder, profiling nothing")
    parser.add_argument("--json", nargs="?", const="-", help="also write the figures as JSON (to PATH or stdout)")
    args = parser.parse_args()
    root = (args.reuse or args.keep or Path(tempfile.mkdtemp(prefix="bench-noise-"))).resolve()
    started = datetime.datetime.now(datetime.timezone.utc)
    loads: list[float] = []
    walls: dict[str, list[float]] = {"single": [], "repeat": []}
    singles = [(root / f"single{i}" / "a" / "results.json", root / f"single{i}" / "b" / "results.json")
               for i in range(args.pairs)]
    repeats = [(root / f"repeat{i}" / "a" / "results.json", root / f"repeat{i}" / "b" / "results.json")
               for i in range(args.repeat_pairs)]
    if args.reuse is None:
        for a, b in singles:  # interleaved: A1 B1 A2 B2 ...
            for path in (a, b):
                walls["single"].append(profile(path.parent, 1, loads))
                print(f"single run {path.parent}: {walls['single'][-1]:.0f} s, load {loads[-1]:.1f}", file=sys.stderr)
        for a, b in repeats:
            for path in (a, b):
                walls["repeat"].append(profile(path.parent, args.repeat, loads))
                print(f"--repeat {args.repeat} run {path.parent}: {walls['repeat'][-1]:.0f} s, load {loads[-1]:.1f}",
                      file=sys.stderr)
    rows: list[tuple[str, str, int, str]] = []
    single_codes = [compare(a, b) for a, b in singles]
    rows.append(("a", f"{args.pairs} same-code single pairs, default gate", sum(c == 1 for c in single_codes),
                 " ".join(map(str, single_codes))))
    trusted = [compare(a, b, "--noise-floor", "0") for a, b in singles]
    rows.append(("a", "  the same, --noise-floor 0 (within-process intervals trusted)", sum(c == 1 for c in trusted),
                 " ".join(map(str, trusted))))
    ops = [compare(a, b, "--gate-ops", "--noise-floor", "0") for a, b in singles]
    rows.append(("a", "  the same, --noise-floor 0 --gate-ops", sum(c == 1 for c in ops), " ".join(map(str, ops))))
    repeat_codes = [compare(a, b) for a, b in repeats]
    rows.append(("b", f"{args.repeat_pairs} same-code --repeat {args.repeat} pairs, default gate",
                 sum(c == 1 for c in repeat_codes), " ".join(map(str, repeat_codes))))
    repeat_ops = [compare(a, b, "--gate-ops") for a, b in repeats]
    rows.append(("b", "  the same, --gate-ops", sum(c == 1 for c in repeat_ops), " ".join(map(str, repeat_ops))))
    own = [compare(a, write_scaled(a, a.parent.parent / "a-x1.3" / "results.json", SCALE)) for a, _ in repeats]
    rows.append(("c", f"--repeat {args.repeat} BASE vs BASE x{SCALE}", sum(c == 1 for c in own), " ".join(map(str, own))))
    other = [compare(a, write_scaled(b, b.parent.parent / "b-x1.3" / "results.json", SCALE)) for a, b in repeats]
    rows.append(("c", f"--repeat {args.repeat} BASE vs the other run x{SCALE}", sum(c == 1 for c in other),
                 " ".join(map(str, other))))
    single_scaled = [compare(a, write_scaled(b, b.parent.parent / "b-x1.3" / "results.json", SCALE))
                     for a, b in singles]
    rows.append(("c", f"single BASE vs the other single run x{SCALE}", sum(c == 1 for c in single_scaled),
                 " ".join(map(str, single_scaled))))

    # Every same-code process of the BASE sides (singles and repeats) as one folder, against the same x1.3:
    # the repeat count the measured noise needs, in one comparison. --max-cv is lifted: with this many
    # processes the interval itself carries the noise.
    pooled = root / "pooled" / "a"
    scaled_pool = root / "pooled" / "a-x1.3"
    for i, (a, _) in enumerate(singles + repeats):
        (pooled / f"run{i}").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(a, pooled / f"run{i}" / "results.json")
        write_scaled(a, scaled_pool / f"run{i}" / "results.json", SCALE)
    n_pooled = len(singles) + args.repeat * len(repeats)
    pooled_code = compare(pooled, scaled_pool, "--max-cv", "10")
    rows.append(("c", f"{n_pooled} BASE processes vs the same x{SCALE} (--max-cv 10)", int(pooled_code == 1),
                 str(pooled_code)))

    noise: dict[str, Any] = {}
    for metric in USER_METRICS:
        per_run = [metric_values(p)[metric] for pair in singles for p in pair]
        flat = [v[0] for v in per_run if v]
        # Either order of a pair is as likely: the change as the larger factor of b/a and a/b, minus 1.
        ratios = [metric_values(b)[metric][0] / metric_values(a)[metric][0] for a, b in singles]
        pair_changes = [max(r, 1 / r) - 1 for r in ratios]
        repeat_cvs = [cv(metric_values(p)[metric]) for pair in repeats for p in pair]
        noise[metric] = {"single_run_cv": cv(flat), "single_values": flat, "max_pair_change": max(pair_changes),
                         "pair_changes": pair_changes, "repeat_process_cvs": repeat_cvs,
                         "median_repeat_process_cv": statistics.median(repeat_cvs) if repeat_cvs else None}
    finished = datetime.datetime.now(datetime.timezone.utc)
    print(f"bench_noise: {started:%Y-%m-%d %H:%M} to {finished:%H:%M} UTC, {os.cpu_count()} cores, load average "
          f"(1 min) before each profile: min {min(loads, default=math.nan):.1f}, median "
          f"{statistics.median(loads) if loads else math.nan:.1f}, max {max(loads, default=math.nan):.1f}")
    if walls["single"]:
        print(f"profile wall time: single {statistics.median(walls['single']):.0f} s (median), --repeat "
              f"{args.repeat} {statistics.median(walls['repeat']):.0f} s (median)")
    print(f"{'':2} {'comparison':70} {'exit 1':>6}  exit codes")
    for part, label, ones, codes in rows:
        print(f"{part:2} {label:70} {ones:>6}  {codes}")
    print("run-to-run noise (one value per process; CV = stdev / mean):")
    for metric, n in noise.items():
        print(f"  {metric}: CV over {len(n['single_values'])} single runs {n['single_run_cv']:.1%}; same-code pair "
              f"changes (larger of b/a, a/b, - 1): {', '.join(f'{c:.0%}' for c in n['pair_changes'])}, largest "
              f"{n['max_pair_change']:.1%}; process CV inside each --repeat run: "
              + ", ".join(f"{c:.1%}" for c in n["repeat_process_cvs"]))
    cvs = [n["median_repeat_process_cv"] for n in noise.values() if n["median_repeat_process_cv"] is not None]
    if cvs:
        worst_cv = max(cvs)
        print(f"processes a side for a 95% interval to clear the 5% threshold at the measured process CV "
              f"({worst_cv:.1%}, the larger median over TPOT and TTFT): x1.3 needs {processes_needed(worst_cv, 0.3)}, "
              f"x1.1 needs {processes_needed(worst_cv, 0.1)}")
    if args.json:
        data = {"started_utc": started.isoformat(), "finished_utc": finished.isoformat(), "loads": loads,
                "walls_s": walls, "rows": rows, "noise": noise, "root": str(root)}
        text = json.dumps(data, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text)
    if args.keep is None and args.reuse is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
