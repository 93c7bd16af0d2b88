"""``llmroof simulate`` against a real engine: ``transformers serve`` with a tiny random Llama on
one CPU core.

At about 40% and 70% of the engine's capacity (its request throughput at concurrency 4, measured
just before), each level's seeded Poisson arrivals are sent by ``llmroof bench --rate R --seed S``
in BLOCKS blocks, each between two short concurrency-1 probes; the simulator replays each block's
arrivals calibrated by the probes on either side of it and by an open-loop bench at a low rate (the
idle engine's wake cost), so the simulation and the measurement see the engine at the same speed
within seconds. p50 and p90 TTFT and E2E over the level's pooled requests within 30% of the
measured is asserted with LLMROOF_ENGINE_ACCURACY=1 (see ASSERT_ACCURACY). The engine runs pinned
to core 0 with one thread, the load generator (this process) on the other core."""

from __future__ import annotations

import itertools
import json
import os
import sys

import pytest
from bench_servers import free_port, server
from cli_runner import run_cli

from llmroof.bench.traffic import arrival_offsets

pytest.importorskip("fastapi", reason="transformers[serving] (the test extra) is not installed")
pytestmark = pytest.mark.slow

PROMPT, OUTPUT, REQUESTS, SEED = 32, 16, 160, 7
TOLERANCE = 0.30
CALIBRATION_REQUESTS = 48  # per level of the concurrency-4,1 bench that sets a level's rate
IDLE_LOAD, IDLE_REQUESTS = 0.2, 40  # the open-loop bench whose lone requests give the wake cost
STEADY = 0.10
"""An attempt is conclusive when the engine's speed held still around every block: the throughputs
of the two concurrency-1 probes on either side of it within this of each other."""


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    pytest.importorskip("transformers.cli.transformers", reason="transformers has no CLI")
    busy, cores = os.getloadavg()[0], os.cpu_count() or 1
    if busy > 2 * cores and not os.environ.get("LLMROOF_ENGINE_TEST_ANY_LOAD"):
        pytest.skip(
            f"load average {busy:.1f} on {cores} cores: other jobs change the engine's speed within "
            "a minute (docs/simulate.md); LLMROOF_ENGINE_TEST_ANY_LOAD=1 runs it anyway"
        )
    if not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two CPU cores to pin the engine and the load generator apart")
    from test_bench_engine import save_tiny_llama

    folder = save_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))
    port = free_port()
    work = tmp_path_factory.mktemp("serve")
    cores = sorted(os.sched_getaffinity(0))
    engine_core, client_cores = cores[0], set(cores[1:])
    code = "import sys; from transformers.cli.transformers import main; sys.exit(main())"
    argv = [
        "env",
        "OMP_NUM_THREADS=1",
        "MKL_NUM_THREADS=1",
        "taskset",
        "-c",
        str(engine_core),
        sys.executable,
        "-c",
        code,
        "serve",
        str(folder),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--device",
        "cpu",
    ]
    before, here = os.sched_getaffinity(0), os.getcwd()
    os.chdir(work)  # the server's working directory: outside the checkout
    try:
        with server(argv, port, work / "serve.log"):
            os.sched_setaffinity(0, client_cores)
            try:
                yield f"http://127.0.0.1:{port}", folder
            finally:
                os.sched_setaffinity(0, before)
    finally:
        os.chdir(here)


def _bench(capsys, url, folder, out, *args):
    code, stdout, stderr = run_cli(
        capsys,
        "bench",
        "--url",
        url,
        "--model",
        str(folder),
        "--input-len",
        str(PROMPT),
        "--output-len",
        str(OUTPUT),
        "--dtype",
        "fp32",
        "--out",
        str(out),
        "--format",
        "json",
        "--no-nvml",
        *args,
    )
    assert code == 0, stderr
    return json.loads(stdout)


ATTEMPTS = 4
"""Fresh calibrations and levels at most this many times: the engine's speed can move by more than the
tolerance within a minute even on a quiet machine (docs/simulate.md); every attempt is printed."""

ASSERT_ACCURACY = os.environ.get("LLMROOF_ENGINE_ACCURACY") == "1"
"""The 30% is asserted only where asked (a quiet, dedicated machine): on a shared VM the engine's
service time moves 10-20% within seconds, even between the probes on either side of a block, which
the queue at 70% load amplifies about 4x (docs/simulate.md has the runs). Elsewhere one attempt runs, everything
but the accuracy is checked (the pipeline end to end, the same arrivals replayed), and an attempt
outside the tolerance skips with its figures rather than failing CI on the machine's noise."""


def test_simulation_matches_transformers_serve(engine, tmp_path, capsys):
    """Each rate is set from the capacity measured just before it; each block of its requests is
    simulated from the probes just before and just after it (their mean speed) and an open-loop run
    at a low rate (the wake cost): on a shared machine the engine's speed drifts within seconds, and
    the simulation must be compared with a measurement of the same speed."""
    reports, conclusive = [], 0
    for attempt in range(1, (ATTEMPTS if ASSERT_ACCURACY else 1) + 1):
        errors, speeds = _attempt(engine, tmp_path / f"attempt-{attempt}", capsys)
        steady = all(
            max(pair) <= (1 + STEADY) * min(pair)
            for probes in speeds.values()
            for pair in itertools.pairwise(probes)
        )
        conclusive += steady
        with open("/proc/loadavg") as f:
            load = f.read().split()[:3]
        report = ", ".join(f"{k} {v:+.0%}" for k, v in errors.items())
        said = "steady" if steady else "the engine's speed moved"
        reports.append(f"attempt {attempt} ({said}): {speeds} requests/s, load {load}: {report}")
        print(reports[-1], file=sys.__stderr__)  # past capsys, which the next attempt reads
        if all(abs(e) <= TOLERANCE for e in errors.values()):
            return
    if not ASSERT_ACCURACY:
        pytest.skip(
            f"outside {TOLERANCE:.0%}, not asserted (LLMROOF_ENGINE_ACCURACY=1 asserts it): "
            + "; ".join(reports)
        )
    if not conclusive:
        pytest.skip("the engine's speed moved in every attempt: " + "; ".join(reports))
    raise AssertionError(
        "a steady attempt missed and none passed (passes at the first attempt within the "
        "tolerance at both loads; skips when the engine's speed moved in every one): "
        + "; ".join(reports)
    )


BLOCKS, PROBE_REQUESTS = 4, 16
"""Each level is measured in BLOCKS blocks of REQUESTS / BLOCKS requests (seeds SEED, SEED + 1, ...),
each block between two concurrency-1 probes of PROBE_REQUESTS requests that calibrate its simulation:
the engine's speed is known within seconds of the requests it predicts."""


def _attempt(engine, tmp_path, capsys):
    """One attempt at the two loads: (errors by level, metric and percentile over the pooled
    requests of the level's blocks; the engine's concurrency-1 throughput at the first and last
    probe of each level)."""
    url, folder = engine
    tmp_path.mkdir(parents=True)
    errors, speeds = {}, {}
    per_block = REQUESTS // BLOCKS
    for fraction in (0.4, 0.7):
        closed = _closed(capsys, url, folder, tmp_path / f"capacity-{fraction}")
        capacity = closed["levels"][0]["request_throughput_per_s"]
        idle = tmp_path / f"idle-{fraction}"  # lone requests after idle gaps: the wake cost
        quiet = f"--rate {round(IDLE_LOAD * capacity, 3)} --requests {IDLE_REQUESTS} --seed 1"
        _bench(capsys, url, folder, idle, *quiet.split(), "--warmup", "0")
        rate = round(fraction * capacity, 3)
        probes = [_probe(capsys, url, folder, tmp_path / f"probe-{fraction}-0")]
        measured = {"ttft_s": [], "e2e_s": []}
        simulated = {"ttft_s": [], "e2e_s": []}
        for block in range(BLOCKS):
            seed = SEED + block
            traffic = f"--rate {rate} --requests {per_block} --seed {seed}".split()
            out = tmp_path / f"rate-{fraction}-{block}"
            real = _bench(capsys, url, folder, out, *traffic, "--warmup", "0")["levels"][0]
            probes.append(_probe(capsys, url, folder, tmp_path / f"probe-{fraction}-{block + 1}"))
            sim_out = tmp_path / f"sim-{fraction}-{block}.json"
            code, stdout, stderr = run_cli(
                capsys, "simulate", "--model", str(folder), "--one-at-a-time", "--dtype", "fp32",
                "--calibrate", str(probes[-2][1]), "--calibrate", str(probes[-1][1]),
                "--calibrate", str(idle / "results.json"), "--out", str(sim_out),
                *f"--prompt {PROMPT} --output {OUTPUT} --format json".split(), *traffic,
            )  # fmt: skip
            assert code == 0, stderr
            assert json.loads(stdout)["levels"][0]["rate"] == real["rate"] == rate
            saved = json.loads((out / "results.json").read_text())["levels"][0]["records"]
            _same_arrivals(saved, rate, seed)
            for r in saved:
                measured["ttft_s"].append(r["first_token_s"] - r["start_s"])
                measured["e2e_s"].append(r["end_s"] - r["start_s"])
            sim = json.loads(sim_out.read_text())["levels"][0]["records"]
            for _, arrival, first, end, *_ in sim:
                simulated["ttft_s"].append(first - arrival)
                simulated["e2e_s"].append(end - arrival)
        speeds[f"{fraction:.0%} c=1"] = tuple(round(p[0], 1) for p in probes)
        for metric in ("ttft_s", "e2e_s"):
            for q in (50, 90):
                error = _percentile(simulated[metric], q) / _percentile(measured[metric], q) - 1
                errors[f"{fraction:.0%} {metric} p{q}"] = error
    return errors, speeds


def _percentile(values, q):
    """numpy's default (linear) percentile, as bench and simulate report theirs."""
    import numpy

    return float(numpy.percentile(values, q))


def _same_arrivals(records, rate, seed):
    """The bench sent the seed's arrivals, which the simulation replays (up to a constant shift)."""
    starts = sorted(r["start_s"] for r in records)
    times = arrival_offsets(rate, seed)
    shifts = sorted(start - next(times) for start in starts)
    lags = sorted(abs(shift - shifts[len(shifts) // 2]) for shift in shifts)
    assert lags[len(lags) // 2] < 0.02, lags


def _probe(capsys, url, folder, out):
    """A concurrency-1 bench of PROBE_REQUESTS requests: (its request throughput, results.json)."""
    probe = f"--concurrency 1 --requests {PROBE_REQUESTS} --warmup 1".split()
    level = _bench(capsys, url, folder, out, *probe)["levels"][0]
    return level["request_throughput_per_s"], out / "results.json"


def _closed(capsys, url, folder, out):
    concurrency = f"--concurrency 4,1 --requests {CALIBRATION_REQUESTS}".split()
    return _bench(capsys, url, folder, out, *concurrency)
