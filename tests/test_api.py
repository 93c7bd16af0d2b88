"""The Python API: ``llmroof.load`` for every kind of results file, ``llmroof.analyze`` equal to the CLI's
JSON, a light ``import llmroof``, and ``docs/api.md``'s example run as written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import run_cli

import llmroof
from llmroof import api
from llmroof.errors import LlmroofError
from llmroof.results.records import (
    AnalysisRecord,
    BenchResult,
    CeilingsRecord,
    CommRecord,
    CompareRecord,
    GridRecord,
    PlanRecord,
    SampleRecord,
    SimulateResult,
    SweepRecord,
    TraceCompareRecord,
    TraceRecord,
)

ROOT = Path(__file__).parents[1]
OLD = Path(__file__).parent / "data" / "v0.1.0"


def test_import_llmroof_is_light_until_an_api_function_is_used() -> None:
    code = ("import sys, llmroof; heavy = [m for m in ('torch', 'numpy', 'pandas') if m in sys.modules]; "
            "assert not heavy, heavy; llmroof.load; assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", ["profile.json", "analysis.json", "plan.json", "compare.json"])
def test_the_acceptance_one_liner(tmp_path, name) -> None:
    (tmp_path / "results.json").write_text((OLD / name).read_text())
    code = "import llmroof; r = llmroof.load('results.json'); print(r.to_pandas().head())"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, capture_output=True, text=True)
    assert "[" not in out.stderr and len(out.stdout.splitlines()) >= 2


def test_analyze_returns_what_the_cli_writes(capsys) -> None:
    code, out, _ = run_cli(capsys, "analyze", "--model", "llama-3.2-1b", "--hardware", "h100", "--batch", "4",
                           "--tp", "2", "--dtype", "bf16", "--weight-dtype", "int4", "--format", "json")
    assert code == 0
    record = llmroof.analyze(model="llama-3.2-1b", hardware="h100", batch=4, tp=2, weight_dtype="int4")
    assert isinstance(record, AnalysisRecord)
    assert record.to_dict() == json.loads(out)


def test_analyze_of_a_moe_model_returns_what_the_cli_writes(capsys) -> None:
    """The MoE, MLA and op-set options reach the same analysis as the CLI's flags."""
    code, out, _ = run_cli(capsys, "analyze", "--model", "deepseek-v3", "--hardware", "h200", "--batch", "8",
                           "--tp", "8", "--ep", "2", "--expert-dtype", "fp8-block", "--zipf", "1.1", "--mla-naive",
                           "--implementation", "eager", "--format", "json")
    assert code == 0
    record = llmroof.analyze(model="deepseek-v3", hardware="h200", batch=8, tp=8, ep=2, expert_dtype="fp8-block",
                             zipf=1.1, mla_absorbed=False, implementation="eager")
    assert record.to_dict() == json.loads(out)
    assert record.parallel.ep == 2 and record.workload.routing == "Zipf s=1.1" and not record.workload.mla_absorbed


def cli_record(capsys, tmp_path: Path, *args: str):
    """``llmroof ARGS`` run here, its JSON on stdout read back by ``llmroof.load``."""
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    (tmp_path / "cli.json").write_text(out)
    return llmroof.load(tmp_path / "cli.json")


@pytest.mark.parametrize(
    ("sweeps", "cls"),
    [(["batch=1..64"], SweepRecord), (["batch=1..8", "tp=1,2", "context=512,4096"], GridRecord)],
)
def test_sweep_returns_what_the_cli_writes(capsys, tmp_path, sweeps, cls) -> None:
    args = [a for s in sweeps for a in ("--sweep", s)]
    expected = cli_record(capsys, tmp_path, "analyze", "-m", "llama-3.2-1b", "-H", "h100", "--kv-dtype",
                          "fp8", *args, "--format", "json")
    record = llmroof.sweep(sweeps, model="llama-3.2-1b", hardware="h100", kv_dtype="fp8")
    assert isinstance(record, cls) and record == expected


def test_plan_returns_what_the_cli_writes(capsys, tmp_path) -> None:
    expected = cli_record(capsys, tmp_path, "plan", "-m", "llama-3-8b", "-H", "h100,a100", "--ttft-slo", "500",
                          "--tpot-slo", "40", "--format", "json")
    record = api.plan(model="llama-3-8b", hardware="h100,a100", ttft_slo=500, tpot_slo=40)
    assert isinstance(record, PlanRecord) and record == expected and record.to_dict() == expected.to_dict()


def test_simulate_returns_what_the_cli_writes(capsys, tmp_path) -> None:
    code, _, err = run_cli(capsys, "simulate", "-m", "llama-3.2-1b", "-H", "h100", "--rate", "4,8", "--requests",
                           "60", "--ttft-slo", "200", "--out", str(tmp_path / "sim.json"), "--format", "json")
    assert code == 0, err
    record = api.simulate(model="llama-3.2-1b", hardware="h100", rate="4,8", requests=60, ttft_slo_ms=200)
    expected = llmroof.load(tmp_path / "sim.json")  # its timeline's rows read back as lists, not tuples
    assert isinstance(record, SimulateResult) and record.to_dict() == expected.to_dict()


def test_trace_returns_what_the_cli_writes(capsys, tmp_path) -> None:
    from test_trace import LLAMA, STEPS
    from trace_gen import write_kineto

    write_kineto(tmp_path / "t.json", LLAMA, STEPS)
    expected = cli_record(capsys, tmp_path, "trace", str(tmp_path / "t.json"), "-m", "llama-3.2-1b", "--context",
                          "1024", "--format", "json")
    record = api.trace([tmp_path / "t.json"], model="llama-3.2-1b", context=1024)
    assert isinstance(record, TraceRecord) and record == expected


def test_compare_returns_what_the_cli_writes(capsys, tmp_path) -> None:
    base, new = OLD / "profile.json", ROOT / "tests" / "data" / "golden" / "compare-new.json"
    expected = cli_record(capsys, tmp_path, "compare", str(base), str(new), "--threshold", "3%",
                          "--format", "json", "--fail-on", "never", "--no-step-summary")
    record = api.compare(base, new, threshold=0.03)
    assert isinstance(record, CompareRecord) and record == expected and record.verdict == expected.verdict


def test_compare_of_two_traces_returns_what_the_cli_writes(capsys, tmp_path) -> None:
    from test_trace import LLAMA, STEPS
    from trace_gen import write_kineto

    write_kineto(tmp_path / "t.json", LLAMA, STEPS)
    trace = cli_record(capsys, tmp_path, "trace", str(tmp_path / "t.json"), "-m", "llama-3.2-1b", "--context",
                       "1024", "--format", "json")
    for name in ("a.json", "b.json"):
        (tmp_path / name).write_text(json.dumps(trace.to_dict()))
    base, new = str(tmp_path / "a.json"), str(tmp_path / "b.json")
    expected = cli_record(capsys, tmp_path, "compare", base, new, "--format", "json", "--no-step-summary")
    record = api.compare(base, new)
    assert isinstance(record, TraceCompareRecord) and record == expected
    assert record.verdict == "unchanged" and {r.verdict for r in record.rows} == {"unchanged"}
    assert [r.label for r in record.rows][:2] == ["prefill: step (mean)", "decode: step (mean)"]


def test_ceilings_returns_what_the_cli_writes(capsys, tmp_path) -> None:
    """The first call calibrates, unless an earlier test did (the tests' quick plan); the next two read
    the machine's cache back."""
    first = llmroof.ceilings("cpu")
    expected = cli_record(capsys, tmp_path, "ceilings", "--device", "cpu", "--format", "json")
    record = llmroof.ceilings("cpu")
    assert isinstance(record, CeilingsRecord) and record == expected
    assert record.calibration.status == "reused" and record.to_dict() | {"calibration": None} == (
        first.to_dict() | {"calibration": None}
    )


def test_sample_returns_what_the_cli_writes(capsys, tmp_path) -> None:
    expected = cli_record(capsys, tmp_path, "sample", "--seconds", "0", "--interval-ms", "50", "--format", "json")
    record = api.sample(seconds=0, interval_s=0.05)
    assert isinstance(record, SampleRecord)
    assert record.to_dict() | {"duration_s": 0} == expected.to_dict() | {"duration_s": 0}  # a wall time


def test_comm_returns_the_record_it_writes_as_the_cli_does(capsys, tmp_path) -> None:
    """Two runs time two sets of collectives: the same rows, each run's own times."""
    args = ("--ranks", "2", "--sizes", "4K,64K", "--iterations", "2", "--device", "cpu")
    code, _, err = run_cli(capsys, "comm", *args, "--out", str(tmp_path / "cli.json"), "--format", "json")
    assert code == 0, err
    record = api.comm(ranks=2, sizes="4K,64K", iterations=2, device="cpu", out=tmp_path / "api.json")
    expected = llmroof.load(tmp_path / "cli.json")
    assert isinstance(record, CommRecord) and record == llmroof.load(tmp_path / "api.json")
    assert [(r.op, r.size_bytes) for r in record.rows] == [(r.op, r.size_bytes) for r in expected.rows]


def test_bench_returns_the_record_it_writes_as_the_cli_does(capsys, tmp_path) -> None:
    """Two runs of a server measure two sets of times: the API's record is the file it wrote, and has
    the CLI's settings and levels."""
    from bench_servers import fake_engine, free_port

    port = free_port()
    args = dict(url=f"http://127.0.0.1:{port}", model="fake", concurrency=(2,), requests=4, input_len=8,
                output_len=4, warmup=0, ttft_slo_s=0.5)
    with fake_engine("ok", port, tmp_path / "server.log"):
        code, _, err = run_cli(capsys, "bench", "--url", args["url"], "--model", "fake", "--concurrency", "2",
                               "--requests", "4", "--input-len", "8", "--output-len", "4", "--warmup", "0",
                               "--ttft-slo", "500", "--out", str(tmp_path / "cli"), "--format", "json")
        assert code == 0, err
        record = api.bench(out=tmp_path / "api", **args)
    expected = llmroof.load(tmp_path / "cli")
    assert isinstance(record, BenchResult) and record == llmroof.load(tmp_path / "api")
    assert record.settings == expected.settings
    assert [level.concurrency for level in record.levels] == [level.concurrency for level in expected.levels]
    assert [(level.requests, level.errors) for level in record.levels] == [(4, 0)]


def test_analyze_bad_input_is_a_user_error() -> None:
    with pytest.raises(LlmroofError, match="unknown model"):
        llmroof.analyze(model="no-such-model")
    with pytest.raises(LlmroofError):
        llmroof.analyze(model="llama-3.2-1b", tp=3)  # 32 heads do not split 3 ways


def test_load_errors_are_user_errors(tmp_path) -> None:
    with pytest.raises(LlmroofError, match="no such file"):
        llmroof.load(tmp_path / "missing.json")
    (tmp_path / "other.json").write_text('{"schema": "someone.else/1"}')
    with pytest.raises(LlmroofError, match="not one llmroof writes"):
        llmroof.load(tmp_path / "other.json")


def doc_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "api.md").read_text(), re.S)


def test_the_doc_has_its_example() -> None:
    assert len(doc_blocks()) == 2


@pytest.mark.slow
def test_docs_api_example_runs_as_written(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in doc_blocks():
        exec(compile(block, "docs/api.md", "exec"), namespace)  # noqa: S102
    assert (tmp_path / "run0" / "results.json").is_file()
    assert set(namespace["table"]["phase"]) == {"prefill", "decode"}
