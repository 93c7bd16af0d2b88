"""llmroof history: does the change-point detection find real steps and stay quiet on noise, against Apache
Otava's defaults on the same series; and is the database fast enough.

Run: python benchmarks/bench_history.py [--quick] [--json [PATH]] [--no-speed] [--no-detection]

a. Steps: for each CV (2%, 5%, 10%), ``--series`` (200) seeded series of ``--points`` (300) log-normal
   values with three 10% steps (up or down at random) at random places at least 30 points apart and 20
   from the ends. A detected change is a hit when it lies within 3 points of a true step not yet hit;
   precision = hits / detections, recall = hits / steps.
b. False alarms: ``--stationary`` (1,000) series of independent noise and as many of AR(1) noise (phi 0.5,
   the same marginal CV of 5%): the share of series with any change point (must be <= 5%).
c. Otava: the same series through ``otava.analysis.compute_change_points`` at its defaults (window 50,
   p-value 0.001, no minimum magnitude), when ``apache-otava`` is importable (pip install
   apache-otava==0.8.0; or, from a throwaway venv: ``PYTHONPATH=. /tmp/otava/bin/python
   benchmarks/bench_history.py --no-speed``).
d. Speed: a SQLite history of ``--runs`` (10,000) runs x 20 metrics (one series per metric), then, in this
   process, ``history show`` of the last 100 runs of one series (median of 20 warm reads, through the same
   function the CLI calls, and one whole CLI process for reference) and ``history add`` of a profile
   (median of 10 adds of new files, each in its own transaction, as the CLI does it).

--quick: 40 series per CV, 200 stationary series of each kind, 2,000 runs. --alpha: llmroof's level (default
its own); --lengths: also AR(1) false alarms on series of 30 to 300 runs; --no-otava: llmroof alone.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import itertools

from llmroof.history.detect import DetectSettings, detect

HIT_WINDOW = 3


def step_series(
    rng: random.Random, cv: float, points: int, steps: int = 3, gap: int = 30
) -> tuple[list[float], list[int]]:
    while True:
        where = sorted(rng.sample(range(20, points - 20), steps))
        if all(b - a >= gap for a, b in itertools.pairwise(where)):
            break
    level, values, upcoming = 0.0, [], list(where)
    for i in range(points):
        if upcoming and i == upcoming[0]:
            level += math.log(1.10) * rng.choice((1, -1))
            upcoming.pop(0)
        values.append(math.exp(level + rng.gauss(0.0, cv)))
    return values, where


def ar1_series(rng: random.Random, cv: float, points: int, phi: float) -> list[float]:
    x, values = rng.gauss(0.0, 1.0), []
    for _ in range(points):
        x = phi * x + math.sqrt(1 - phi * phi) * rng.gauss(0.0, 1.0)
        values.append(math.exp(cv * x))
    return values


def score(found: list[int], truth: list[int]) -> tuple[int, int, int]:
    """(hits, false detections, missed steps)."""
    hit: set[int] = set()
    false = 0
    for index in found:
        match = [t for t in truth if abs(t - index) <= HIT_WINDOW and t not in hit]
        if match:
            hit.add(min(match, key=lambda t: abs(t - index)))
        else:
            false += 1
    return len(hit), false, len(truth) - len(hit)


def detectors(alpha: float) -> dict[str, object]:
    settings = DetectSettings(alpha=alpha)
    found: dict[str, object] = {
        "llmroof": lambda values: [c.index for c in detect(values, settings)]
    }
    try:
        from otava.analysis import compute_change_points
    except ImportError:
        print(
            "apache-otava is not installed: no Otava comparison (pip install apache-otava==0.8.0)"
        )
        return found
    found["otava (defaults)"] = lambda values: [cp.index for cp in compute_change_points(values)[0]]
    return found


def detection(args: argparse.Namespace) -> dict[str, object]:
    out: dict[str, object] = {"steps": {}, "false_alarms": {}}
    methods = detectors(args.alpha)
    if args.no_otava:
        methods = {k: v for k, v in methods.items() if k == "llmroof"}
    for cv in (0.02, 0.05, 0.10):
        rng = random.Random(int(cv * 1000))
        series = [step_series(rng, cv, args.points) for _ in range(args.series)]
        for name, method in methods.items():
            start = time.perf_counter()
            hits = false = missed = 0
            for values, truth in series:
                h, f, m = score(method(values), truth)  # type: ignore[operator]
                hits, false, missed = hits + h, false + f, missed + m
            row = {
                "precision": hits / max(hits + false, 1),
                "recall": hits / (hits + missed),
                "detections": hits + false,
                "steps": hits + missed,
                "seconds": time.perf_counter() - start,
            }
            out["steps"].setdefault(f"cv {cv:.0%}", {})[name] = row  # type: ignore[union-attr]
            print(
                f"steps, CV {cv:4.0%}, {name:17s}: precision {row['precision']:.3f}, recall {row['recall']:.3f} "
                f"({hits} hits, {false} false, {missed} missed; {row['seconds']:.1f} s)"
            )
    for kind, phi in (("iid", 0.0), ("AR(1) phi 0.5", 0.5)):
        rng = random.Random(7 if phi else 5)
        series = [ar1_series(rng, 0.05, args.points, phi) for _ in range(args.stationary)]
        for name, method in methods.items():
            alerts = sum(1 for values in series if method(values))  # type: ignore[operator]
            out["false_alarms"].setdefault(kind, {})[name] = alerts / len(series)  # type: ignore[union-attr]
            print(
                f"stationary {kind:14s}, {name:17s}: {alerts}/{len(series)} series with an alert "
                f"({alerts / len(series):.1%})"
            )
    if args.lengths:
        settings = DetectSettings(alpha=args.alpha)
        for points in (30, 60, 100, 200, 300):
            rng = random.Random(points)
            count = max(args.stationary // 2, 100)
            alerts = sum(
                1 for _ in range(count) if detect(ar1_series(rng, 0.05, points, 0.5), settings)
            )
            out.setdefault("ar1_by_length", {})[points] = alerts / count  # type: ignore[union-attr]
            print(
                f"stationary AR(1) phi 0.5 of {points:3d} runs, llmroof: {alerts}/{count} ({alerts / count:.1%})"
            )
    return out


def speed(args: argparse.Namespace) -> dict[str, float]:
    from history_fixtures import write_profile

    from llmroof.history.store import PointIn, Provenance, RunIn, open_store
    from llmroof.history.trend import Selection, add_files, trends

    folder = Path(tempfile.mkdtemp(prefix="bench-history-"))
    db = str(folder / "history.sqlite")
    rng = random.Random(3)
    metrics = [f"metric_{i:02d}" for i in range(20)]
    start = time.perf_counter()
    with open_store(db, create=True) as store:
        batch: list[RunIn] = []
        for i in range(args.runs):
            points = tuple(
                PointIn(
                    config="bench decode b=1 c=128",
                    metric=m,
                    better="lower",
                    unit="s",
                    value=1e-3 * rng.lognormvariate(0, 0.02),
                )
                for m in metrics
            )
            batch.append(
                RunIn(
                    content_hash=f"{i:064x}",
                    process=-1,
                    path=f"run{i}.json",
                    kind="profile",
                    machine="benchmachine0001",
                    points=points,
                )
            )
            if len(batch) == 500:
                # one provenance per batch: the times of a batch's runs tie, which the ordering breaks by id
                store.add(
                    batch,
                    Provenance(
                        commit=f"{i:040x}", branch="main", time_utc="2026-01-01T00:00:00+00:00"
                    ),
                )
                batch = []
        if batch:
            store.add(
                batch,
                Provenance(commit="f" * 40, branch="main", time_utc="2026-01-01T00:00:00+00:00"),
            )
    fill_s = time.perf_counter() - start
    print(f"speed: filled {args.runs} runs x 20 metrics in {fill_s:.1f} s (a temporary folder)")
    from llmroof.history.detect import DetectSettings as Settings

    show_ms = []
    with open_store(db, readonly=True) as store:
        selection = Selection(metrics=("metric_07",), last=100)
        trends(store, selection, Settings())  # warm
        for _ in range(20):
            t0 = time.perf_counter()
            record = trends(store, selection, Settings())
            show_ms.append((time.perf_counter() - t0) * 1e3)
        assert len(record.series[0].points) == 100
    add_ms = []
    with open_store(db, create=True) as store:
        for i in range(10):
            path = write_profile(folder / f"new{i}" / "results.json", seed=1000 + i)
            t0 = time.perf_counter()
            add_files(
                store,
                [path],
                Provenance(commit=f"{i:040x}", branch="main", time_utc="2026-02-01T00:00:00Z"),
            )
            add_ms.append((time.perf_counter() - t0) * 1e3)
    env = dict(os.environ)
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "llmroof",
            "history",
            "show",
            "--db",
            db,
            "-M",
            "metric_07",
            "--last",
            "100",
            "--format",
            "json",
        ],
        check=True,
        capture_output=True,
        cwd=folder,
        env=env,
    )
    cli_ms = (time.perf_counter() - t0) * 1e3
    extra = write_profile(folder / "cli" / "results.json", seed=5000)
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "llmroof",
            "history",
            "add",
            str(extra),
            "--db",
            db,
            "--commit",
            "e" * 40,
            "--branch",
            "main",
        ],
        check=True,
        capture_output=True,
        cwd=folder,
        env=env,
    )
    cli_add_ms = (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import llmroof.cli.main"],
        check=True,
        capture_output=True,
        cwd=folder,
        env=env,
    )
    import_ms = (time.perf_counter() - t0) * 1e3
    database_bytes = os.path.getsize(db)
    shutil.rmtree(folder)
    out = {
        "runs": args.runs,
        "show_last_100_median_ms": statistics.median(show_ms),
        "show_last_100_max_ms": max(show_ms),
        "add_profile_median_ms": statistics.median(add_ms),
        "add_profile_max_ms": max(add_ms),
        "cli_show_process_ms": cli_ms,
        "cli_add_process_ms": cli_add_ms,
        "cli_import_process_ms": import_ms,
        "fill_s": fill_s,
        "database_bytes": database_bytes,
    }
    print(
        f"speed: show last 100 of one series {out['show_last_100_median_ms']:.1f} ms median (max "
        f"{out['show_last_100_max_ms']:.1f}); add a profile {out['add_profile_median_ms']:.1f} ms median (max "
        f"{out['add_profile_max_ms']:.1f}); whole processes: `history show` {cli_ms:.0f} ms, `history add` "
        f"{cli_add_ms:.0f} ms, `import llmroof.cli.main` alone {import_ms:.0f} ms"
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--series", type=int, default=200)
    parser.add_argument("--points", type=int, default=300)
    parser.add_argument("--stationary", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument(
        "--alpha", type=float, default=DetectSettings().alpha, help="llmroof's --alpha"
    )
    parser.add_argument("--no-otava", action="store_true")
    parser.add_argument(
        "--lengths",
        action="store_true",
        help="also: false alarms on AR(1) series of 30 to 300 runs",
    )
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--no-detection", action="store_true")
    parser.add_argument("--json", nargs="?", const="-", default=None)
    args = parser.parse_args()
    if args.quick:
        args.series, args.stationary, args.runs = 40, 200, 2000
    result: dict[str, object] = {"load_average": os.getloadavg()[0]}
    print(f"load average {os.getloadavg()[0]:.2f}")
    if not args.no_detection:
        result["detection"] = detection(args)
    if not args.no_speed:
        result["speed"] = speed(args)
    result["load_average_end"] = os.getloadavg()[0]
    if args.json:
        text = json.dumps(result, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
