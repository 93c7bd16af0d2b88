"""Start-up of the CLI as fresh processes: ``llmroof --help`` (served from its cache, and rendered afresh)
and a single ``llmroof analyze --format json``, beside a bare ``python -c pass``; optionally beside another
source tree (a worktree of main) in the same run, interleaved.

Run: python benchmarks/bench_startup.py [--repeats 20] [--before TREE] [--json]

Every command runs ``--repeats`` times as a fresh process, the commands interleaved round by round (as
hyperfine's runs, but mixed, so that other processes' load falls on all of them alike); each figure is the
minimum and the median wall time, and the minimum CPU time (user + system) of the process, which a loaded
machine inflates least. Targets: ``--help`` <= 100 ms, ``analyze --format json`` <= 150 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

from timing import llmroof_command, machine, process_runs, summary  # benchmarks/timing.py

ANALYZE = ["analyze", "--format", "json"]


def measure(trees: dict[str, str], repeats: int) -> dict[str, dict[str, float]]:
    commands: dict[str, list[str]] = {"python -c pass": [sys.executable, "-c", "pass"]}
    environments: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as cache:
        for label, tree in trees.items():
            launch = llmroof_command(tree)
            commands[f"{label}: llmroof --help"] = [*launch, "--help"]
            environments[f"{label}: llmroof --help"] = {
                "XDG_CACHE_HOME": os.path.join(cache, label)
            }
            commands[f"{label}: llmroof --help, rendered"] = [*launch, "--help"]
            environments[f"{label}: llmroof --help, rendered"] = {
                "XDG_CACHE_HOME": "/dev/null/no-cache"
            }
            commands[f"{label}: llmroof analyze --format json"] = [*launch, *ANALYZE]
        runs = process_runs(
            commands, repeats + 1, environments
        )  # the first round fills the help cache
    return {name: summary(times[1:]) for name, times in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="fresh processes per command")
    parser.add_argument(
        "--before",
        metavar="TREE",
        default="",
        help="a source tree of another commit measured beside the installed llmroof",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    trees = {"now": "", **({"before": args.before} if args.before else {})}
    results = measure(trees, args.repeats)
    load = os.getloadavg()[0]
    if args.json:
        print(
            json.dumps(
                {"machine": machine(), "load_average_1min": load, "results": results}, indent=2
            )
        )
        return
    print(
        f"machine: {machine()} (1-minute load average {load:.1f}); {args.repeats} fresh processes each, "
        "interleaved"
    )
    print(f"{'command':48} {'wall min':>9} {'median':>9} {'CPU min':>9} {'peak RSS':>9}")
    for name, r in results.items():
        print(
            f"{name:48} {r['wall_min_s'] * 1e3:7.0f} ms {r['wall_median_s'] * 1e3:6.0f} ms "
            f"{r['cpu_min_s'] * 1e3:6.0f} ms {r['peak_rss_kib'] / 1024:6.0f} MiB"
        )


if __name__ == "__main__":
    main()
