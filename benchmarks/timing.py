"""What the benchmark scripts share: the best-of-N wall-clock timer and a one-line machine description.

Each figure is the best (minimum) of several repeats: the machine is shared, and the minimum is the
least-disturbed measurement of the same deterministic work."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from typing import Any


def best_of(repeats: int, fn: Callable[[], Any]) -> float:
    """The shortest of ``repeats`` wall-clock timings of ``fn()``, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


LAUNCH = ("import sys; tree = sys.argv.pop(1)\n"
          "if tree: sys.path.insert(0, tree)\n"
          "from llmroof.cli.main import main; main()")
"""``python -c LAUNCH TREE ARGS...``: the llmroof CLI as the console script starts it, from the source tree TREE
(a checkout of another commit, for a before/after comparison in the same run) or, with TREE empty, installed."""
PROBE = ("import resource, subprocess, sys, time\n"
         "t = time.perf_counter(); done = subprocess.run(sys.argv[1:], capture_output=True)\n"
         "wall = time.perf_counter() - t; u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
         "print(wall, u.ru_utime + u.ru_stime, u.ru_maxrss, done.returncode)\n")


def llmroof_command(tree: str = "") -> list[str]:
    """The command that starts llmroof from ``tree`` (empty: the installed package)."""
    import sys

    return [sys.executable, "-c", LAUNCH, tree]


def process_runs(commands: dict[str, list[str]], repeats: int,
                 environments: dict[str, dict[str, str]] | None = None) -> dict[str, list[tuple[float, float, int]]]:
    """Each command as a fresh process, ``repeats`` times, interleaved (round k runs every command once, in an
    order rotated by k, so that load from other processes falls on all of them alike), from a working
    directory outside any checkout, with ``environments[name]`` added to its environment: (wall s, CPU s of
    the process, peak RSS KiB) per run, as hyperfine does."""
    import subprocess
    import sys
    import tempfile

    runs: dict[str, list[tuple[float, float, int]]] = {name: [] for name in commands}
    names = list(commands)
    with tempfile.TemporaryDirectory() as cwd:
        for k in range(repeats):
            for name in names[k % len(names):] + names[:k % len(names)]:
                env = {**os.environ, **(environments or {}).get(name, {})}
                out = subprocess.run([sys.executable, "-c", PROBE, *commands[name]], cwd=cwd, check=True,
                                     capture_output=True, text=True, env=env).stdout.split()
                if out[3] != "0":
                    raise RuntimeError(f"{name}: {commands[name]} exited with {out[3]}")
                runs[name].append((float(out[0]), float(out[1]), int(out[2])))
    return runs


def summary(runs: list[tuple[float, float, int]]) -> dict[str, float]:
    """Minimum and median wall and CPU seconds of a command's runs, and its largest peak RSS."""
    import statistics

    walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
    return {"wall_min_s": min(walls), "wall_median_s": statistics.median(walls), "cpu_min_s": min(cpus),
            "cpu_median_s": statistics.median(cpus), "peak_rss_kib": max(r[2] for r in runs)}
