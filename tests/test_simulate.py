"""The simulator checked against what is known exactly: queueing theory (M/D/1, M/M/1, Little's
law), the analytic model it takes its step times from, the scheduler's invariants, speculative
decoding's closed form against a Monte Carlo, the prefix cache against a brute-force LRU, and the
trace formats against each other."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import random

import pytest
from cli_runner import run_cli

from llmroof import load
from llmroof.analytic.analysis import analyze
from llmroof.analytic.workload import Workload
from llmroof.bench.metrics import distribution
from llmroof.bench.traffic import TraceRequest, arrival_offsets, parse_trace, synthetic
from llmroof.simulate.engine import Replica, SchedulerConfig, run_fleet
from llmroof.simulate.features import (
    PrefixCache,
    speculative_monte_carlo,
    speculative_tokens_per_step,
)
from llmroof.simulate.run import summarize, weighted_distribution
from llmroof.simulate.steps import StepModel
from llmroof.specs.hardware import get_hardware
from llmroof.specs.model import get_model

FUSED = Workload(implementation="fused", attention_kernel="flash", fused_qkv=True)


def _single_server(requests, service_of):
    """One request at a time (FCFS), service time ``service_of(prompt)`` (each request: one prefill,
    one token)."""
    config = SchedulerConfig(max_num_seqs=1, max_num_batched_tokens=1 << 30, chunked_prefill=False)
    replica = Replica(config, lambda shape, prefill: service_of(shape.tokens))
    run_fleet(requests, [replica])
    return replica


def _mean_wait(replica, service_of):
    return sum(s.first_s - s.arrival_s - service_of(s.prompt) for s in replica.finished) / len(
        replica.finished
    )


N = 100_000


def test_md1_mean_wait():
    rate, service = 0.7, 1.0  # rho 0.7: Wq = rho * S / (2 (1 - rho))
    requests = synthetic(rate, N, 100, 1, seed=1)
    replica = _single_server(requests, lambda tokens: service)
    expected = rate * service**2 / (2 * (1 - rate * service))
    assert _mean_wait(replica, lambda _: service) == pytest.approx(expected, rel=0.02)


def test_mm1_mean_wait_and_littles_law():
    rate, mean_service = (
        0.5,
        1.0,
    )  # exponential service: prompt tokens ~ Exp (mean 10,000), 1e-4 s per token
    rng = random.Random(2)
    times = arrival_offsets(rate, seed=3)
    requests = [TraceRequest(next(times), 1 + int(rng.expovariate(1e-4)), 1) for _ in range(N)]
    service_of = lambda tokens: tokens * 1e-4
    replica = _single_server(requests, service_of)
    served = [service_of(r.prompt_tokens) for r in requests]
    s1 = sum(served) / N
    s2 = sum(x * x for x in served) / N
    expected = (
        rate * s2 / (2 * (1 - rate * s1))
    )  # Pollaczek-Khinchine; M/M/1: rho / (mu - lambda) = 1.0
    assert expected == pytest.approx(rate * mean_service / (1 - rate * mean_service), rel=0.02)
    assert _mean_wait(replica, service_of) == pytest.approx(expected, rel=0.02)
    level = summarize([replica], rate=rate, trace=None, ttft_slo_s=None, tpot_slo_s=None)
    # Little: time-average requests in the system = throughput x mean time in it
    assert level.mean_in_system == pytest.approx(
        level.request_throughput_per_s * level.e2e_s.mean, rel=0.01
    )
    assert level.mean_in_system == pytest.approx(rate * (expected + s1), rel=0.03)


@pytest.fixture(scope="module")
def llama8b():
    return StepModel.of(get_model("llama-3-8b"), get_hardware("h100-sxm"), FUSED)


@pytest.mark.parametrize("batch,context", [(1, 100), (8, 1000), (64, 3000)])
def test_step_model_reproduces_analyze(llama8b, batch, context):
    """A decode step's time is the analytic model's for the same batch and context, and a prefill's
    within 0.1% (the analytic prefill counts the logits of the last token only, as the step
    does)."""
    m, h = get_model("llama-3-8b"), get_hardware("h100-sxm")
    a = analyze(
        m, h, dataclasses.replace(FUSED, batch=batch, context_len=context, prompt_len=context)
    )
    assert llama8b.step_s(llama8b.decode_shape(batch, context)) == pytest.approx(
        sum(a.decode.stage_times_s), rel=1e-9
    )
    one = analyze(m, h, dataclasses.replace(FUSED, batch=1, prompt_len=context))
    assert llama8b.step_s(llama8b.prefill_shape(context)) == pytest.approx(
        sum(one.prefill.stage_times_s), rel=1e-3
    )


def _replica(steps, **knobs):
    config = SchedulerConfig(kv_blocks=steps.kv_capacity_tokens // 16, **knobs)
    return Replica(config, lambda shape, prefill: steps.step_s(shape))


def _traffic(rate=20.0, n=400, seed=0):
    """Mostly short prompts, every 10th one long (8,000 tokens)."""
    requests = synthetic(rate, n, 512, 128, seed=seed)
    return [r._replace(prompt_tokens=8000) if i % 10 == 5 else r for i, r in enumerate(requests)]


def _recording(step_time, seen):
    def time_s(shape, prefill):
        seen.append(shape)
        return step_time(shape, prefill)

    return time_s


def test_chunking_respects_the_budget_and_trades_ttft_for_itl(llama8b):
    traffic = _traffic()
    p99_itl, long_ttft = [], []
    for budget in (8192, 2048, 512):
        replica = _replica(llama8b, max_num_seqs=64, max_num_batched_tokens=budget)
        seen: list = []
        replica.step_time = _recording(replica.step_time, seen)
        run_fleet(traffic, [replica])
        assert max(s.tokens for s in seen) <= budget and max(s.sequences for s in seen) <= 64
        assert replica.max_step_tokens <= budget and len(replica.finished) == len(traffic)
        level = summarize([replica], rate=20.0, trace=None, ttft_slo_s=None, tpot_slo_s=None)
        p99_itl.append(level.itl_s.p99)
        long_ttft.append(sum(s.first_s - s.arrival_s for s in replica.finished if s.prompt == 8000))
    assert p99_itl == sorted(p99_itl, reverse=True)  # a smaller budget: p99 ITL does not rise
    assert long_ttft == sorted(long_ttft)  # ... and a long prompt's TTFT does not fall


def test_kv_exhaustion_preempts_and_still_finishes_every_request(llama8b):
    replica = Replica(SchedulerConfig(kv_blocks=2000), lambda shape, prefill: llama8b.step_s(shape))
    run_fleet(synthetic(50.0, 300, 1024, 512, seed=4), [replica])
    assert replica.preemptions > 0 and len(replica.finished) == 300
    assert all(s.end_s >= s.first_s >= s.arrival_s for s in replica.finished)


def test_speculative_closed_form_matches_monte_carlo():
    for k, a in ((4, 0.7), (2, 0.5), (6, 0.9)):
        assert speculative_monte_carlo(k, a, 10**6, seed=k) == pytest.approx(
            speculative_tokens_per_step(k, a), rel=0.005
        )
    assert speculative_tokens_per_step(3, 1.0) == 4 and speculative_tokens_per_step(5, 0.0) == 1


def test_speculative_decoding_shortens_tpot(llama8b):
    def tpot(**knobs):
        replica = _replica(llama8b, **knobs)
        run_fleet(synthetic(2.0, 50, 256, 256, seed=5), [replica])
        return summarize(
            [replica], rate=2.0, trace=None, ttft_slo_s=None, tpot_slo_s=None
        ).tpot_s.mean

    plain, spec = tpot(), tpot(speculative_k=4, acceptance_rate=0.8)
    assert spec < plain / 2  # 3.36 tokens per step for a slightly longer verify step


def _brute_lru(requests, capacity, block):
    cache: list[int] = []
    hits = []
    for hashes, prompt in requests:
        full = hashes[: prompt // block]
        n = 0
        while n < len(full) and full[n] in cache:
            n += 1
        hits.append(min(n * block, prompt - 1))
        for h in full:
            if h in cache:
                cache.remove(h)
            cache.append(h)
        del cache[: max(0, len(cache) - capacity)]
    return hits


def test_prefix_cache_hits_equal_a_brute_force_lru():
    rng = random.Random(6)
    requests = []
    for _ in range(2000):
        prompt = rng.randint(1, 12 * 16)
        shared = rng.randint(0, 4)  # a few families of shared prefixes
        hashes = [
            shared * 100 + i if i < rng.randint(0, 12) else rng.randrange(10**6) for i in range(12)
        ]
        requests.append((tuple(hashes), prompt))
    cache = PrefixCache(capacity_blocks=40, block_tokens=16)
    hits = [cache.lookup(h, p) for h, p in requests]
    assert hits == _brute_lru(requests, 40, 16)
    assert sum(hits) > 0
    short = PrefixCache(capacity_blocks=40, block_tokens=16)
    assert [short.lookup((1, 2), 15) for _ in range(3)] == [
        0,
        0,
        0,
    ]  # shorter than a block: never a hit


def test_weighted_itl_distribution_equals_the_expanded_one():
    rng = random.Random(7)
    values = [rng.random() for _ in range(300)]
    weights = [rng.randint(0, 9) for _ in range(300)]
    expanded = [v for v, w in zip(values, weights) for _ in range(w)]
    assert weighted_distribution(values, weights).to_dict() == pytest.approx(
        distribution(expanded).to_dict()
    )


AZURE = """TIMESTAMP,ContextTokens,GeneratedTokens
2023-11-16 18:15:46.6805900,374,44
2023-11-16 18:15:50.9951690,396,109
2023-11-16 18:15:51.0000000,879,20
"""
BURSTGPT = """Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type
1000.0,ChatGPT,374,44,418,Conversation log
1004.314579,ChatGPT,396,109,505,Conversation log
1004.31941,GPT-4,879,20,899,Conversation log
"""
MOONCAKE = "\n".join(
    json.dumps(r)
    for r in [
        {"timestamp": 5000, "input_length": 374, "output_length": 44, "hash_ids": [0]},
        {"timestamp": 9314.579, "input_length": 396, "output_length": 109, "hash_ids": [0]},
        {"timestamp": 9319.41, "input_length": 879, "output_length": 20, "hash_ids": [0, 1]},
    ]
)


def test_trace_formats_parse_to_the_same_requests():
    azure, burst, mooncake = (parse_trace(text) for text in (AZURE, BURSTGPT, MOONCAKE))
    strip = lambda rows: [(round(r.arrival_s, 6), r.prompt_tokens, r.output_tokens) for r in rows]
    assert (
        strip(azure)
        == strip(burst)
        == strip(mooncake)
        == [(0.0, 374, 44), (4.314579, 396, 109), (4.31941, 879, 20)]
    )
    assert mooncake[2].hash_ids == (0, 1)


def test_bench_open_loop_and_simulate_share_the_arrivals():
    from llmroof.bench import load as bench_load

    assert bench_load.arrival_offsets is arrival_offsets
    times = arrival_offsets(3.0, seed=11)
    assert [next(times) for _ in range(4)] == [
        r.arrival_s for r in synthetic(3.0, 4, 1, 1, seed=11)
    ]
    fixed = arrival_offsets(2.0, seed=0, cv=0)
    assert [next(fixed) for _ in range(3)] == [0.0, 0.5, 1.0]
    bursty = synthetic(1.0, 20001, 1, 1, seed=1, cv=3.0)
    gaps = [b.arrival_s - a.arrival_s for a, b in itertools.pairwise(bursty)]
    mean = sum(gaps) / len(gaps)
    cv = math.sqrt(sum((g - mean) ** 2 for g in gaps) / len(gaps)) / mean
    assert mean == pytest.approx(1.0, rel=0.1) and cv == pytest.approx(3.0, rel=0.1)


def test_fleet_routers_spread_the_load(llama8b):
    requests = synthetic(40.0, 400, 512, 64, seed=8)
    for router in ("round-robin", "least-loaded"):
        replicas = [_replica(llama8b) for _ in range(4)]
        run_fleet(requests, replicas, router)
        counts = [len(r.finished) for r in replicas]
        assert sum(counts) == 400 and min(counts) > 60


def test_cli_json_contract_and_load(capsys, tmp_path):
    out = tmp_path / "sim.json"
    code, stdout, stderr = run_cli(
        capsys,
        "simulate",
        "--model",
        "llama-3-8b",
        "--hardware",
        "h100",
        "--prompt",
        "512",
        "--output",
        "64",
        "--rate",
        "5,20",
        "--requests",
        "200",
        "--seed",
        "3",
        "--max-num-seqs",
        "64",
        "--max-num-batched-tokens",
        "2048",
        "--ttft-slo",
        "100",
        "--tpot-slo",
        "20",
        "--out",
        str(out),
        "--format",
        "json",
    )
    assert code == 0, stderr
    data = json.loads(stdout)
    assert data["schema"] == "llmroof.simulate/1"
    assert [level["rate"] for level in data["levels"]] == [5.0, 20.0]
    for level in data["levels"]:
        assert level["requests"] == 200
        for metric in ("ttft_s", "tpot_s", "itl_s", "e2e_s"):
            assert set(level[metric]) >= {"mean", "p50", "p90", "p95", "p99"}
        assert level["output_tokens_per_s"] > 0 and level["goodput_per_s"] is not None
    assert data["max_rate_meeting_slo"] > 5
    record = load(out)
    assert record.levels[0].ttft_s.p90 == data["levels"][0]["ttft_s"]["p90"]
    assert len(record.to_pandas(per_request=True)) == 400 and len(record.to_pandas()) == 2
    page = tmp_path / "sim.html"
    code, _, stderr = run_cli(
        capsys,
        "simulate",
        "--model",
        "llama-3-8b",
        "--hardware",
        "h100",
        "--rate",
        "4",
        "--requests",
        "100",
        "--html",
        str(page),
        "--format",
        "json",
    )
    html = page.read_text()
    assert code == 0 and "Simulated serving: llama-3-8b" in html and html.count("<svg") == 2
    code, _, stderr = run_cli(capsys, "simulate", "--model", "llama-3-8b", "--hardware", "h100")
    assert code == 2 and "--rate or --trace-file" in stderr


def test_decode_runs_give_the_step_by_step_result(llama8b, monkeypatch):
    """The loop over decode-only steps (step times on a line) changes nothing but the speed."""

    def level():
        replica = _replica(llama8b, max_num_seqs=128)
        run_fleet(synthetic(12.0, 600, 1024, 200, seed=9), [replica])
        return summarize([replica], rate=12.0, trace=None, ttft_slo_s=None, tpot_slo_s=None)

    fast = level()
    monkeypatch.setattr(Replica, "_decode_run", lambda self, t: None)
    slow = level()
    assert fast.steps == slow.steps
    for metric in ("ttft_s", "tpot_s", "itl_s", "e2e_s"):
        assert getattr(fast, metric).to_dict() == pytest.approx(
            getattr(slow, metric).to_dict(), rel=1e-9
        )
    assert fast.mean_in_system == pytest.approx(slow.mean_in_system, rel=1e-9)


def test_disaggregated_request_pays_the_kv_transfer_once():
    """One request alone: prefill on the prefill replica, its KV cache (prompt x KV bytes per token
    and GPU) over the link, then the same decode steps as on an aggregated replica."""
    from llmroof.simulate.run import Disaggregation, Simulation, run_level

    model, hardware = get_model("llama-3-8b"), get_hardware("h100-sxm")
    steps = StepModel.of(model, hardware, FUSED)
    traffic = [TraceRequest(0.0, 2000, 50)]
    base = Simulation(
        model=model, hardware=hardware, workload=FUSED, prompt_tokens=2000, output_tokens=50
    )
    link = Disaggregation(
        prefill_replicas=2, decode_replicas=1, link_bytes_per_s=25e9, link_latency_s=1e-3
    )
    aggregated = run_level(base, steps, traffic, 1.0)
    split = run_level(dataclasses.replace(base, disaggregation=link), steps, traffic, 1.0)
    transfer = 1e-3 + 2000 * steps.kv_bytes_per_token / 25e9
    assert split.ttft_s.p50 == pytest.approx(aggregated.ttft_s.p50, rel=1e-9)
    assert split.e2e_s.p50 == pytest.approx(aggregated.e2e_s.p50 + transfer, rel=1e-9)
    assert Disaggregation.parse("3p2D") == Disaggregation(prefill_replicas=3, decode_replicas=2)


def test_disaggregation_keeps_long_prefills_out_of_the_decode_steps(llama8b):
    """Under mixed traffic, a decode pool never runs a prefill chunk: its p99 ITL is below the
    aggregated one."""
    from llmroof.simulate.run import Disaggregation, Simulation, run_level

    model, hardware = get_model("llama-3-8b"), get_hardware("h100-sxm")
    base = Simulation(model=model, hardware=hardware, workload=FUSED, replicas=2)
    traffic = _traffic(rate=10.0, n=300)
    aggregated = run_level(base, llama8b, traffic, 10.0)
    split = run_level(
        dataclasses.replace(base, disaggregation=Disaggregation()), llama8b, traffic, 10.0
    )
    assert split.requests == aggregated.requests == 300
    assert split.itl_s.p99 < aggregated.itl_s.p99


def _bench_result(ttft_s, tpot_s, levels=((1, 0.05, 0.01),)):
    from llmroof.results.records.bench import BenchResult

    def dist(x):
        return {"mean": x, "p50": x, "p90": x, "p95": x, "p99": x, "n": 8}

    return BenchResult.from_dict(
        {
            "schema": "llmroof.bench/1",
            "prompt_method": "exact",
            "extras_sent": [],
            "settings": {
                "url": "http://x",
                "endpoint": "completions",
                "model": "m",
                "input_len": 512,
                "output_len": 64,
                "requests": 8,
                "duration_s": None,
                "timeout_s": 60,
                "warmup": 0,
                "seed": 0,
            },
            "levels": [
                {
                    "concurrency": c,
                    "requests": 8,
                    "errors": 0,
                    "error_kinds": {},
                    "input_tokens": 0,
                    "output_tokens": 0,
                    "duration_s": 1.0,
                    "request_throughput_per_s": 1.0,
                    "output_tokens_per_s": 1.0,
                    "goodput_per_s": None,
                    "ttft_s": dist(t),
                    "tpot_s": dist(p),
                    "itl_s": dist(p),
                    "e2e_s": dist(t + 63 * p),
                    "mean_decode_batch": 1.0,
                    "mean_context_tokens": 544.0,
                    "token_source": "usage",
                }
                for c, t, p in levels
            ],
        }
    )


def test_a_bench_calibrated_replica_reproduces_the_unloaded_request(llama8b):
    """From a bench's concurrency-1 level (TTFT 50 ms, TPOT 10 ms): one request alone takes 50 ms to
    its first token and 10 ms per later token; two calibrations average their times."""
    from llmroof.simulate.calibrate import combined, efficiency_from_bench
    from llmroof.simulate.run import step_time_of

    result = _bench_result(0.05, 0.01, levels=((4, 0.5, 0.02), (1, 0.05, 0.01)))
    efficiency = efficiency_from_bench(result, "bench.json", llama8b)
    assert "concurrency 1" in efficiency.source
    replica = Replica(SchedulerConfig.one_at_a_time(), step_time_of(llama8b, efficiency))
    run_fleet([TraceRequest(0.0, 512, 64)], [replica])
    alone = replica.finished[0]
    assert alone.first_s == pytest.approx(0.05, rel=1e-3)
    assert (alone.end_s - alone.first_s) / 63 == pytest.approx(
        0.01, rel=0.01
    )  # the mean context's step
    # concurrency 4 served 1 request/s against 0.05 + 63 x 0.01 = 0.68 s alone: 1.47x slower queued
    assert efficiency.queued_factor == pytest.approx(1 / 0.68)
    queued = Replica(
        SchedulerConfig.one_at_a_time(), step_time_of(llama8b, efficiency), queued_factor=2.0
    )
    run_fleet([TraceRequest(0.0, 512, 64), TraceRequest(0.0, 512, 64)], [queued])
    first, second = sorted(queued.finished, key=lambda q: q.index)
    assert first.end_s == pytest.approx(2 * alone.end_s)  # served while the other waited
    assert second.end_s - first.end_s == pytest.approx(alone.end_s)  # then alone
    slower = efficiency_from_bench(_bench_result(0.0, 0.0, levels=((1, 0.15, 0.03),)), "b", llama8b)
    both = combined([efficiency, slower])
    prefill = llama8b.step_s(llama8b.prefill_shape(512))
    assert prefill / both.prefill == pytest.approx(0.1, rel=1e-9)  # the mean of 50 and 150 ms
    assert slower.queued_factor is None and both.queued_factor == efficiency.queued_factor


def test_a_calibrated_spread_gives_each_request_the_pace_of_a_measured_one(llama8b):
    """An engine without batching calibrated from a bench whose concurrency-1 requests took 40 and
    60 ms to their first token: lone simulated requests take 40 or 60 ms (scaled by the mean), each
    drawn from the measured paces with the run's seed, never anything between; the mean is the
    calibration's; a batched replica refuses a spread."""
    import dataclasses

    from llmroof.results.records.bench import RequestRecord
    from llmroof.simulate.calibrate import efficiency_from_bench
    from llmroof.simulate.run import step_time_of

    result = _bench_result(0.05, 0.01, levels=((1, 0.05, 0.01),))
    records = tuple(
        RequestRecord(
            index=i, start_s=0.0, first_token_s=ttft, end_s=ttft + 63 * 0.01, output_tokens=64
        )
        for i, ttft in enumerate([0.04, 0.06] * 8)
    )
    level = dataclasses.replace(result.levels[0], records=records)
    result = dataclasses.replace(result, levels=(level,))
    efficiency = efficiency_from_bench(result, "bench.json", llama8b)
    assert sorted(set(round(a, 6) for a, _ in efficiency.spread)) == [0.8, 1.2]

    def lone_ttfts(seed: int) -> list[float]:
        replica = Replica(
            SchedulerConfig.one_at_a_time(),
            step_time_of(llama8b, efficiency),
            spread=efficiency.spread,
            seed=seed,
        )
        run_fleet([TraceRequest(10.0 * i, 512, 64) for i in range(200)], [replica])
        return [s.first_s - s.arrival_s for s in sorted(replica.finished, key=lambda s: s.index)]

    ttfts = lone_ttfts(1)
    assert {round(t, 4) for t in ttfts} == {0.04, 0.06}
    assert 0.045 < sum(ttfts) / len(ttfts) < 0.055
    assert ttfts == lone_ttfts(1) and ttfts != lone_ttfts(2)
    with pytest.raises(ValueError, match="one sequence at a time"):
        Replica(SchedulerConfig(), step_time_of(llama8b, efficiency), spread=efficiency.spread)


def test_a_request_that_finds_the_engine_idle_pays_the_measured_wake_cost(llama8b):
    """Lone open-loop requests took 20 ms longer to their first token and 60 ms longer after it
    than concurrency-1 ones: a simulated request arriving at an idle engine takes exactly that
    much longer, one arriving while another is served pays nothing; an open-loop bench alone
    cannot calibrate."""
    import dataclasses

    from llmroof.errors import LlmroofError
    from llmroof.results.records.bench import RequestRecord
    from llmroof.simulate.calibrate import combined, efficiency_from_bench
    from llmroof.simulate.run import step_time_of

    closed = efficiency_from_bench(_bench_result(0.05, 0.01), "c1.json", llama8b)
    assert closed.closed_alone_s == pytest.approx((0.05, 0.63))
    lone = tuple(  # 2 s apart: each found the engine idle
        RequestRecord(index=i, start_s=2.0 * i, first_token_s=2.0 * i + 0.07, end_s=2.0 * i + 0.76)
        for i in range(10)
    )
    rate_level = dataclasses.replace(
        _bench_result(0.07, 0.011).levels[0], concurrency=None, rate=0.5, records=lone
    )
    open_loop = dataclasses.replace(_bench_result(0.07, 0.011), levels=(rate_level,))
    idle = efficiency_from_bench(open_loop, "idle.json", llama8b)
    assert idle.open_only and idle.open_alone_s == pytest.approx((0.07, 0.69))
    both = combined([closed, idle])
    assert both.wake_s == pytest.approx((0.02, 0.06))
    assert both.prefill == pytest.approx(closed.prefill) and both.decode == pytest.approx(
        closed.decode
    )

    def served(requests, wake):
        replica = Replica(SchedulerConfig.one_at_a_time(), step_time_of(llama8b, both), wake_s=wake)
        run_fleet(requests, [replica])
        return sorted(replica.finished, key=lambda s: s.index)

    requests = [TraceRequest(0.0, 512, 64), TraceRequest(0.001, 512, 64)]
    (plain_first, plain_second), (first, second) = (
        served(requests, (0, 0)),
        served(requests, both.wake_s),
    )
    assert first.first_s - plain_first.first_s == pytest.approx(0.02)
    assert first.end_s - plain_first.end_s == pytest.approx(0.08)
    # the second waited behind the first (80 ms longer) and paid no wake cost of its own
    assert second.end_s - plain_second.end_s == pytest.approx(0.08)
    with pytest.raises(LlmroofError, match="open-loop bench measures only"):
        combined([idle])


@pytest.mark.parametrize(
    "args, said",
    [
        (["--rate", "2", "--disaggregate", "2x1"], "expected xPyD"),
        (["--trace-file", "/nonexistent/trace.csv"], "no such file"),
        (["--rate", "2", "--max-num-seqs", "512", "--max-num-batched-tokens", "256"], "must hold"),
        (["--rate", "2", "--prefix-hit-rate", "1.5"], "prefix_hit_rate"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(capsys, args, said):
    code, _, stderr = run_cli(capsys, "simulate", "-m", "llama-3-8b", "-H", "h100", *args)
    assert code == 2 and said in stderr and len(stderr.strip().splitlines()) == 1


def test_against_a_bench_replays_its_levels_and_reports_the_errors(capsys, tmp_path):
    data = _bench_result(0.0, 0.0, levels=((None, 0.04, 0.008), (None, 0.05, 0.009))).to_dict()
    data["settings"].update(seed=3, requests=20)
    for level, rate in zip(data["levels"], (2.0, 5.0)):
        level.pop("concurrency", None)
        level["rate"] = rate
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(data))
    common = ["--model", "llama-3-8b", "--hardware", "h100", "--format", "json"]
    code, stdout, stderr = run_cli(capsys, "simulate", *common, "--against", str(path))
    assert code == 0, stderr
    result = json.loads(stdout)
    rows = {(r["rate"], r["metric"]): r for r in result["against"]}
    assert len(rows) == 2 * 13
    traffic = [
        "--rate",
        "2,5",
        "--requests",
        "20",
        "--seed",
        "3",
        "--prompt",
        "512",
        "--output",
        "64",
    ]
    same = run_cli(capsys, "simulate", *common, *traffic)
    direct = json.loads(same[1])["levels"][1]
    row = rows[(5.0, "ttft_s.p50")]
    assert row["predicted"] == direct["ttft_s"]["p50"] and row["measured"] == 0.05
    assert row["error"] == pytest.approx(row["predicted"] / 0.05 - 1)
