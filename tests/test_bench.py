"""llmroof bench's pure parts: metrics in vLLM's convention, SSE parsing, the load loops, the record's
round trip, and the roofline placement (checked by hand against the analytic model)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from llmroof.bench import load, protocols
from llmroof.bench.metrics import decode_occupancy, summarize_level
from llmroof.results.records.bench import BenchResult, BenchSettings, RequestRecord
from llmroof.bench.roofline import Deployment, placement, tokens_in_window


def _request(index: int, start: float, gap: float, tokens: int, ttft: float, error: str | None = None,
             input_tokens: int = 10) -> RequestRecord:
    chunks = tuple(start + ttft + i * gap for i in range(tokens))
    return RequestRecord(index=index, start_s=start, first_token_s=None if error else chunks[0],
                         end_s=chunks[-1], chunk_times_s=() if error else chunks, input_tokens=input_tokens,
                         output_tokens=None if error else tokens, token_source=None if error else "usage",
                         error=error)


def test_metrics_follow_vllm():
    records = [_request(0, 0.0, 0.01, 11, 0.1), _request(1, 0.0, 0.02, 11, 0.3),
               _request(2, 0.5, 0.01, 3, 0.1, error="http_500: boom")]
    level = summarize_level(records, concurrency=2, ttft_slo_s=0.2, tpot_slo_s=0.5)
    assert level.requests == 3 and level.errors == 1 and level.error_kinds == {"http_500": 1}
    assert level.tpot_s.mean == pytest.approx(0.015)  # (e2e - ttft) / (11 - 1): 0.01 and 0.02
    assert level.ttft_s.p50 == pytest.approx(0.2) and level.ttft_s.p99 == pytest.approx(0.298)
    assert level.itl_s.n == 20 and level.itl_s.mean == pytest.approx(0.015)
    assert level.duration_s == pytest.approx(0.62)  # first send to last end (the failed one ends at 0.62)
    assert level.output_tokens == 22 and level.output_tokens_per_s == pytest.approx(22 / 0.62)
    assert level.goodput_per_s == pytest.approx(1 / 0.62)  # the second misses the TTFT SLO
    assert level.request_throughput_per_s == pytest.approx(2 / 0.62)


def test_decode_occupancy_is_a_time_average():
    # Two requests decoding 1 s each over a 2 s level: batch 1; contexts 10 + (11+1)/2 and 30 + 6.
    a = RequestRecord(index=0, start_s=0, first_token_s=0.0, end_s=1.0, input_tokens=10, output_tokens=11)
    b = RequestRecord(index=1, start_s=0, first_token_s=1.0, end_s=2.0, input_tokens=30, output_tokens=11)
    batch, context = decode_occupancy([a, b], 2.0)
    assert batch == pytest.approx(1.0) and context == pytest.approx(26.0)
    assert tokens_in_window([a, b], (0.5, 1.5)) == pytest.approx(10.0)  # half of each one's 10 decode tokens


@pytest.mark.parametrize("endpoint, line, text, output", [
    ("completions", 'data: {"choices": [{"text": "hi"}]}', "hi", True),
    ("completions", 'data: {"choices": [{"text": "", "finish_reason": "length"}]}', "", True),
    ("chat", 'data: {"choices": [{"delta": {"role": "assistant"}}]}', "", False),
    ("chat", 'data: {"choices": [{"delta": {"content": "yo"}}]}', "yo", True),
    ("generate", 'data: {"model_name": "m", "text_output": "ab"}', "ab", True),
])
def test_parse_events(endpoint, line, text, output):
    event = protocols.parse_line(endpoint, line)
    assert event.text == text and event.output is output


def test_parse_usage_done_and_malformed():
    usage = protocols.parse_line("completions", 'data: {"choices": [], "usage": {"prompt_tokens": 4, '
                                                '"completion_tokens": 8}}')
    assert (usage.output, usage.prompt_tokens, usage.completion_tokens) == (False, 4, 8)
    assert protocols.parse_line("chat", "data: [DONE]").done
    assert protocols.parse_line("chat", ": keep-alive") is None and protocols.parse_line("chat", "") is None
    assert protocols.parse_line("chat", 'data: {"error": {"message": "overloaded"}}').error == "overloaded"
    for bad in ("data: {oops", "data: [1, 2]", 'data: {"id": 1}'):
        with pytest.raises(protocols.MalformedEvent):
            protocols.parse_line("completions", bad)


def test_bodies():
    body = protocols.body("completions", "m", "p", 32, extras=True)
    assert body["stream"] and body["stream_options"] == {"include_usage": True}
    assert body["ignore_eos"] is True and body["min_tokens"] == 32 and body["max_tokens"] == 32
    assert "ignore_eos" not in protocols.body("chat", "m", "p", 32, extras=False)
    assert protocols.body("chat", "m", "p", 8, extras=False)["messages"] == [{"role": "user", "content": "p"}]
    assert protocols.path("generate", "llama") == "/v2/models/llama/generate_stream"


def _fake_sender(delay_s: float, inflight: list[int], peak: list[int]):
    async def send(index: int) -> RequestRecord:
        inflight[0] += 1
        peak[0] = max(peak[0], inflight[0])
        await asyncio.sleep(delay_s)
        inflight[0] -= 1
        return RequestRecord(index=index, start_s=0.0, first_token_s=0.0, end_s=delay_s, output_tokens=1)
    return send


def test_closed_loop_holds_concurrency_and_count():
    inflight, peak = [0], [0]
    run = load.LevelRun()
    asyncio.run(load.closed_loop(_fake_sender(0.001, inflight, peak), run, concurrency=3, requests=10,
                                 duration_s=None, stop_after_failures=8))
    assert len(run.records) == 10 and peak[0] == 3
    assert sorted(r.index for r in run.records) == list(range(10))


def test_open_loop_is_seeded_poisson():
    def arrivals(seed: int) -> list[float]:
        times: list[float] = []
        clock = [0.0]

        async def send(index: int) -> RequestRecord:
            times.append(asyncio.get_running_loop().time())
            return RequestRecord(index=index, start_s=0.0, first_token_s=None, end_s=0.0)
        asyncio.run(load.open_loop(send, load.LevelRun(), rate=2000.0, requests=50, duration_s=None, seed=seed,
                                   stop_after_failures=100, clock=lambda: clock[0]))
        return times
    assert len(arrivals(1)) == 50


def test_stop_after_consecutive_connection_failures():
    async def send(index: int) -> RequestRecord:
        return RequestRecord(index=index, start_s=0, first_token_s=None, end_s=0, error="connect: refused")
    run = load.LevelRun()
    asyncio.run(load.closed_loop(send, run, concurrency=2, requests=1000, duration_s=None, stop_after_failures=5))
    assert 5 <= len(run.records) <= 6 and "could not reach the server" in run.stop_reason


def _result() -> BenchResult:
    records = [_request(i, 0.1 * i, 0.01, 9, 0.05) for i in range(4)]
    level = summarize_level(records, concurrency=2)
    settings = BenchSettings(url="http://127.0.0.1:1", endpoint="completions", model="llama-3.2-1b", input_len=10,
                             output_len=9, requests=4, duration_s=None, timeout_s=5, warmup=0, seed=0)
    from llmroof.specs.hardware import get_hardware
    from llmroof.specs.model import get_model

    deployment = Deployment(model=get_model("llama-3.2-1b"), hardware=get_hardware("h100-sxm"))
    level = dataclasses.replace(level, roofline=placement(level, deployment))
    return BenchResult(settings=settings, levels=(level,), prompt_method="exact", extras_sent=("ignore_eos",),
                       model_spec={"name": "llama-3.2-1b"}, hardware=deployment.hardware.to_dict(),
                       hardware_method="catalog")


def test_record_round_trip_and_pandas():
    result = _result()
    data = result.to_dict()
    assert data["schema"] == "llmroof.bench/1" and "rate" not in data["levels"][0]
    assert BenchResult.from_dict(data) == result
    from llmroof.results.io import dumps
    import json

    assert BenchResult.from_dict(json.loads(dumps(data))) == result  # through JSON: lists back to tuples
    frame = result.to_pandas()
    assert len(frame) == 1 and frame.loc[0, "tpot_s.p99"] == pytest.approx(result.levels[0].tpot_s.p99)
    assert len(result.to_pandas(per_request=True)) == 4


def test_bench_results_load_like_every_record(tmp_path):
    import llmroof
    from llmroof.errors import LlmroofError
    from llmroof.results.io import write_json_atomic
    from llmroof.results.records import SCHEMAS

    result = _result()
    data = result.to_dict()
    assert SCHEMAS["llmroof.bench/1"] is BenchResult
    assert llmroof.load(write_json_atomic(tmp_path / "run" / "results.json", data).parent) == result
    data["levels"][0]["new_level_key"] = 1  # a later version's key survives a round trip
    assert BenchResult.from_dict(data).to_dict()["levels"][0]["new_level_key"] == 1
    del data["levels"][0]["ttft_s"]
    with pytest.raises(LlmroofError, match=r"levels\[0\]\.ttft_s: the key 'ttft_s' is missing|'ttft_s' is missing"):
        BenchResult.from_dict(data)


def test_placement_matches_the_analytic_model():
    from llmroof.analytic import Workload, analyze
    from llmroof.specs.dtypes import Precision
    from llmroof.specs.hardware import get_hardware
    from llmroof.specs.model import get_model

    level = _result().levels[0]
    roof = level.roofline
    workload = Workload(batch=roof.batch, prompt_len=10, context_len=roof.context_len,
                        precision=Precision.uniform("bf16"))
    analysis = analyze(get_model("llama-3.2-1b"), get_hardware("h100-sxm"), workload)
    assert roof.tpot_bound_s == analysis.decode.time_s
    assert roof.tpot_fraction == pytest.approx(analysis.decode.time_s / level.tpot_s.mean)
    # Memory-bound at batch 1: the bound is the bytes of one step over the bandwidth (weights dominate).
    assert roof.bound == "memory"
    assert roof.tpot_bound_s == pytest.approx(analysis.decode.totals.bytes / 3.35e12, rel=1e-6)


def test_plan_calibrates_from_a_bench_result(tmp_path, capsys):
    from cli_runner import run_cli

    from llmroof.plan.calibration import read_calibration
    from llmroof.results.io import write_json_atomic

    result = _result()
    path = write_json_atomic(tmp_path / "bench.json", result.to_dict())
    cal = read_calibration(path)
    assert cal.hardware == "h100-sxm" and cal.prefill_efficiency is None
    assert cal.decode_efficiency == pytest.approx(result.levels[0].roofline.tpot_fraction)
    code, out, err = run_cli(capsys, "plan", "--model", "llama-3.2-1b", "--hardware", "h100-sxm",
                             "--calibrate", str(path), "--format", "json")
    assert code == 0, err
    cpu = dataclasses.replace(result, hardware_method="measured: this CPU's ceilings")
    path = write_json_atomic(tmp_path / "cpu.json", cpu.to_dict())
    code, _, err = run_cli(capsys, "plan", "--model", "llama-3.2-1b", "--hardware", "h100-sxm", "--calibrate", str(path))
    assert code == 2 and "says nothing about the GPUs" in err


def _bench_file(tmp_path, name: str, gap_s: float) -> str:
    from llmroof.results.io import write_json_atomic

    records = [_request(i, 0.05 * i, gap_s * (1 + 0.01 * (i % 5)), 17, 0.05) for i in range(12)]
    level = summarize_level(records, concurrency=4)
    result = dataclasses.replace(_result(), levels=(level,))
    return str(write_json_atomic(tmp_path / name / "results.json", result.to_dict()))


def test_compare_reads_bench_results(tmp_path, capsys):
    from cli_runner import run_cli

    base = _bench_file(tmp_path, "base", 0.010)
    same = _bench_file(tmp_path, "same", 0.010)
    slow = _bench_file(tmp_path, "slow", 0.013)
    # One bench run a side cannot see run-to-run noise: inconclusive under the default noise floor...
    code, out, err = run_cli(capsys, "compare", base, slow, "--format", "json", "--metric", "tpot_s",
                             "--no-step-summary")
    assert code == 0 and __import__("json").loads(out)["verdict"] == "inconclusive", err
    # ...and a regression once the user vouches for the noise (--noise-floor), the intervals over requests
    code, out, err = run_cli(capsys, "compare", base, slow, "--format", "json", "--metric", "tpot_s",
                             "--noise-floor", "0", "--no-step-summary")
    data = __import__("json").loads(out)
    assert code == 1 and data["verdict"] == "regression", err
    code, out, err = run_cli(capsys, "compare", base, same, "--format", "json", "--metric", "tpot_s",
                             "--no-step-summary")
    assert code == 0, err


def test_report_has_a_bench_section(tmp_path):
    from llmroof.report import report_file

    path = _bench_file(tmp_path, "run", 0.01)
    html = report_file(path).read_text()
    assert 'id="bench"' in html and html.count("<svg") == 3
    assert "Serving benchmark" in html and "TPOT bound" in html


def test_served_model_ids_resolve_to_their_architecture():
    from llmroof.bench.roofline import resolve_model

    spec, note = resolve_model("meta-llama/Llama-3.1-8B-Instruct")
    assert spec.name == "llama-3-8b" and "architecture of" in note
    spec, note = resolve_model("my-finetune")
    assert spec is None and "--config" in note
