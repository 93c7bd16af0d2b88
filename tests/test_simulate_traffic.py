"""``llmroof bench --trace-file`` replays a trace as ``llmroof simulate --trace-file`` does: each
request at its recorded time with its recorded lengths (against the fake streaming engine of the
bench tests)."""

from __future__ import annotations

import json

from bench_servers import fake_engine, free_port
from cli_runner import run_cli

TRACE = """Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type
100.0,ChatGPT,20,3,23,Conversation log
100.25,ChatGPT,40,7,47,Conversation log
100.3,GPT-4,10,5,15,Conversation log
100.9,GPT-4,30,2,32,Conversation log
"""


def test_bench_replays_a_trace_file(tmp_path, capsys):
    trace = tmp_path / "burst.csv"
    trace.write_text(TRACE)
    port = free_port()
    with fake_engine("ok", port, tmp_path / "server.log"):
        code, stdout, stderr = run_cli(
            capsys,
            "bench",
            "--url",
            f"http://127.0.0.1:{port}",
            "--model",
            "m",
            "--trace-file",
            str(trace),
            "--warmup",
            "0",
            "--no-nvml",
            "--out",
            str(tmp_path / "run"),
            "--format",
            "json",
        )
    assert code == 0, stderr
    level = json.loads(stdout)["levels"][0]
    assert level["requests"] == 4 and level["errors"] == 0 and abs(level["rate"] - 3 / 0.9) < 1e-9
    saved = json.loads((tmp_path / "run" / "results.json").read_text())["levels"][0]["records"]
    records = sorted(saved, key=lambda r: r["index"])
    assert [r["output_tokens"] for r in records] == [3, 7, 5, 2]
    starts = [r["start_s"] - records[0]["start_s"] for r in records]
    assert all(abs(s - t) < 0.05 for s, t in zip(starts, [0.0, 0.25, 0.3, 0.9]))
    code, stdout, stderr = run_cli(
        capsys,
        "simulate",
        "--model",
        "llama-3-8b",
        "--hardware",
        "h100",
        "--trace-file",
        str(trace),
        "--format",
        "json",
    )
    assert code == 0, stderr
    simulated = json.loads(stdout)["levels"][0]
    assert simulated["requests"] == 4 and simulated["trace"] == "burst.csv"
