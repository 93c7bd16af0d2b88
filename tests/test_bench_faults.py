"""llmroof bench against a fake engine that fails on purpose: every failure is counted per request, the
results file keeps every finished request, and the command exits cleanly."""

from __future__ import annotations

import json

import pytest

from bench_servers import fake_engine, free_port
from cli_runner import run_cli


def _bench(capsys, port: int, out, *extra: str) -> tuple[int, dict, str]:
    code, stdout, stderr = run_cli(capsys, "bench", "--url", f"http://127.0.0.1:{port}", "--model", "fake",
                                   "--concurrency", "2", "--requests", "8", "--input-len", "8", "--output-len", "6",
                                   "--warmup", "0", "--timeout", "2", "--out", str(out), "--format", "json", *extra)
    saved = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else {}
    return code, saved, stderr


@pytest.mark.parametrize("mode, kind", [("http500", "http_500"), ("malformed", "malformed"), ("stall", "timeout")])
def test_broken_requests_are_counted_and_the_rest_measured(tmp_path, capsys, mode, kind):
    port = free_port()
    with fake_engine(mode, port, tmp_path / "server.log"):
        code, saved, stderr = _bench(capsys, port, tmp_path / "out")
    assert code == 0, stderr
    level = saved["levels"][0]
    assert level["requests"] == 8
    assert level["errors"] == 4 and level["error_kinds"] == {kind: 4}  # every other request breaks
    assert level["output_tokens"] == 4 * 6  # the good ones, counted from usage
    assert level["tpot_s"]["n"] == 4 and level["tpot_s"]["p99"] > 0
    bad = [r for r in level["records"] if r["error"]]
    assert all(r["error"].startswith(kind) for r in bad) and all(r["output_tokens"] is None for r in bad)
    if mode == "stall":  # the deadline of a whole request holds a stalled stream to it
        assert all(1.9 < r["end_s"] - r["start_s"] < 3.5 for r in bad)


def test_server_killed_mid_run_keeps_finished_requests(tmp_path, capsys):
    port = free_port()
    with fake_engine("die", port, tmp_path / "server.log"):
        code, saved, stderr = _bench(capsys, port, tmp_path / "out", "--concurrency", "1,2", "--requests", "16",
                                       "--timeout", "20")
    assert code == 0, stderr
    assert len(saved["levels"]) == 1, [{k: v for k, v in lv.items() if k != "records"} for lv in saved["levels"]]
    level = saved["levels"][0]
    summary = {k: v for k, v in level.items() if k != "records"}
    assert level["complete"] is False and "could not reach the server" in level["stop_reason"], summary
    # The server's third request kills it: the first was the prompt-size probe, the second finished.
    assert level["requests"] - level["errors"] == 1, summary
    kinds = level["error_kinds"]
    # The stream in flight is cut; a request sent while the dying process's socket still accepts is cut too.
    assert kinds.get("disconnected", 0) >= 1 and set(kinds) <= {"disconnected", "connect"}, summary
    assert sum(kinds.values()) == level["errors"] and level["errors"] >= 8, summary
    assert saved["notes"] and "later levels not run" in saved["notes"][-1], saved["notes"]


def test_rejected_extras_are_retried_without_and_remembered(tmp_path, capsys):
    port = free_port()
    with fake_engine("strict", port, tmp_path / "server.log"):
        code, saved, stderr = _bench(capsys, port, tmp_path / "out")
    assert code == 0, stderr
    assert saved["extras_sent"] == ["stream_options"]
    assert saved["levels"][0]["errors"] == 0
    assert any("refused ignore_eos" in note for note in saved["notes"])
    assert saved["prompt_method"].startswith("by usage")  # no tokenizer: the server's usage sized the prompts


def test_unreachable_server_is_one_line_and_exit_2(tmp_path, capsys):
    port = free_port()  # nothing listens there
    code, _, stderr = _bench(capsys, port, tmp_path / "out")
    assert code == 2
    assert stderr.count("\n") == 1 and "cannot reach the server" in stderr
    code, _, stderr = run_cli(capsys, "bench", "--url", "127.0.0.1:8000", "--model", "m", "--requests", "1")
    assert code == 2 and "expected http://HOST:PORT" in stderr


def test_ctrl_c_keeps_every_finished_request(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import threading
    import time

    port = free_port()
    out = tmp_path / "out"
    with fake_engine("ok", port, tmp_path / "server.log"):
        # 200 chunks 2 ms apart: ~0.4 s a request, so a few finish before the interrupt and many do not.
        bench = subprocess.Popen([sys.executable, "-m", "llmroof", "bench", "--url", f"http://127.0.0.1:{port}",
                                  "--model", "fake", "--concurrency", "2", "--requests", "200", "--input-len", "8",
                                  "--output-len", "200", "--warmup", "0", "--out", str(out)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                                 cwd=tmp_path,  # the installed llmroof, not the source tree's
                                 # as at a terminal: a background job's ignored SIGINT would be inherited
                                 preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        watchdog = threading.Timer(60, bench.kill)  # bounds the blocking read below
        watchdog.start()
        try:
            started = bench.stderr.readline()  # the level's progress line: the load has begun (blocks until then)
            assert b"concurrency 2" in started, started
            time.sleep(1.5)  # about 6 requests finish
            bench.send_signal(signal.SIGINT)
            _, stderr = bench.communicate(timeout=30)
        finally:
            watchdog.cancel()
            if bench.poll() is None:
                os.killpg(bench.pid, signal.SIGKILL)
                bench.wait()
    assert bench.returncode == 130, stderr.decode()
    saved = json.loads((out / "results.json").read_text())
    assert saved["complete"] is False
    level = saved["levels"][0]
    assert level["complete"] is False and 0 < level["requests"] < 200
    assert all(r["output_tokens"] == 200 for r in level["records"] if not r["error"])


def test_nvml_bytes_per_token_in_the_steady_window(tmp_path):
    """A GPU server's run with NVML (the suite's fake pynvml: an A100 whose GPM reports 50% DRAM use):
    the hardware comes from NVML's GPU name, and each level sets measured bytes per output token beside
    the analytic ones."""
    from fakes import FakeNvml

    from llmroof.bench import BenchConfig, run_bench

    port = free_port()
    config = BenchConfig(url=f"http://127.0.0.1:{port}", model="llama-3.2-1b", concurrency=(2,), requests=16,
                         input_len=8, output_len=100, warmup=0, timeout_s=20)
    with fake_engine("ok", port, tmp_path / "server.log"):
        result = run_bench(config, tmp_path / "results.json", nvml_module=FakeNvml(dram_util=50.0))
    assert result.hardware["name"] == "a100-sxm-40gb" and result.hardware_method == "nvml: NVIDIA A100-SXM4-40GB"
    level = result.levels[0]
    nv = level.roofline.nvml
    assert nv.source == "gpm" and nv.samples >= 3, nv
    peak = 2 * 1215e6 * 5120 / 8  # the fake's NVML peak: 2 x max memory clock x bus width
    assert nv.mean_dram_bandwidth_bytes_per_s == pytest.approx(0.5 * peak)
    window = nv.window_s[1] - nv.window_s[0]
    assert nv.measured_bytes_per_output_token == pytest.approx(0.5 * peak * window / nv.output_tokens_in_window)
    assert 0 < nv.output_tokens_in_window < level.output_tokens


@pytest.mark.parametrize("endpoint, source", [("chat", "usage"), ("generate", "chunks")])
def test_chat_and_generate_endpoints(tmp_path, capsys, endpoint, source):
    port = free_port()
    with fake_engine("ok", port, tmp_path / "server.log"):
        code, saved, stderr = _bench(capsys, port, tmp_path / "out", "--endpoint", endpoint)
    assert code == 0, stderr
    level = saved["levels"][0]
    assert level["errors"] == 0 and level["output_tokens"] == 8 * 6 and level["token_source"] == source
    # chat: the role-only first chunk is no output; TTFT starts at the first content
    assert all(len(r["chunk_times_s"]) == 6 for r in level["records"])


def test_open_loop_rates_and_csv(tmp_path, capsys):
    port = free_port()
    with fake_engine("ok", port, tmp_path / "server.log"):
        code, stdout, stderr = run_cli(capsys, "bench", "--url", f"http://127.0.0.1:{port}/v1", "--model", "fake",
                                       "--rate", "50,100", "--requests", "10", "--output-len", "4", "--warmup", "1",
                                       "--seed", "3", "--out", str(tmp_path / "out"), "--format", "csv")
    assert code == 0, stderr
    lines = stdout.strip().splitlines()
    assert lines[0].startswith("concurrency,rate,requests,errors") and len(lines) == 3
    assert lines[1].split(",")[1:4] == ["50.0", "10", "0"]
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [lv["rate"] for lv in saved["levels"]] == [50.0, 100.0] and "concurrency" not in saved["levels"][0]


def test_table_output(tmp_path, capsys):
    port = free_port()
    with fake_engine("ok", port, tmp_path / "server.log"):
        code, stdout, stderr = run_cli(capsys, "bench", "--url", f"http://127.0.0.1:{port}", "--model", "fake",
                                       "--concurrency", "1,2", "--requests", "4", "--output-len", "4",
                                       "--ttft-slo", "5000", "--tpot-slo", "5000", "--out", str(tmp_path / "out"))
    assert code == 0, stderr
    assert "c=1" in stdout and "c=2" in stdout and "goodput" in stdout and "Results:" in stdout
    assert "no roofline" in stdout  # "fake" is no preset or config.json: the note says so
    assert (tmp_path / "out" / "report.html").exists()


def test_faster_than_the_roofline_is_flagged(tmp_path):
    """The fake engine streams a token every 2 ms, far faster than Llama-3-70B's decode on one A10: the
    roofline cannot be right for what was served, and a note says so."""
    from llmroof.bench import BenchConfig, run_bench

    port = free_port()
    config = BenchConfig(url=f"http://127.0.0.1:{port}", model="llama-3-70b", hardware="a10", concurrency=(1,),
                         requests=3, input_len=8, output_len=10, warmup=0, timeout_s=20)
    with fake_engine("ok", port, tmp_path / "server.log"):
        result = run_bench(config, None)
    assert result.levels[0].roofline.tpot_fraction > 1
    assert any("faster than the roofline allows" in note for note in result.notes)


def test_results_are_saved_while_a_level_runs(tmp_path, monkeypatch):
    """Every save_every finished requests the record is rewritten (off the event loop), in order."""
    from llmroof.bench import BenchConfig, run_bench
    from llmroof.results import io

    written: list[int] = []
    real = io.write_json_atomic

    def spy(path, data):
        written.append(sum(len(level["records"]) for level in data["levels"]))
        return real(path, data)
    monkeypatch.setattr(io, "write_json_atomic", spy)
    port = free_port()
    config = BenchConfig(url=f"http://127.0.0.1:{port}", model="fake", concurrency=(2,), requests=12, input_len=4,
                         output_len=3, warmup=0, timeout_s=20, save_every=4)
    with fake_engine("ok", port, tmp_path / "server.log"):
        run_bench(config, tmp_path / "results.json")
    assert written == sorted(written) and written[-1] == 12 and len(written) >= 3
    assert json.loads((tmp_path / "results.json").read_text())["levels"][0]["requests"] == 12


def test_refused_stream_options_fall_back_to_counting_chunks(tmp_path, capsys):
    port = free_port()
    with fake_engine("strictest", port, tmp_path / "server.log"):
        code, saved, stderr = _bench(capsys, port, tmp_path / "out", "--warmup", "2")
    assert code == 0, stderr
    level = saved["levels"][0]
    assert level["errors"] == 0 and level["token_source"] == "chunks" and level["output_tokens"] == 8 * 6
    assert saved["extras_sent"] == []
    assert sum("refused ignore_eos" in n for n in saved["notes"]) == 1
    assert sum("refused stream_options" in n for n in saved["notes"]) == 1
    assert saved["prompt_method"].startswith("by length")  # no usage: the prompt's length could not be checked


# --- a serving engine is untrusted input (issue 20) ------------------------------------------------------

HOSTILE = ["choices-object", "usage-nan", "usage-infinity", "usage-string", "usage-list", "usage-huge", "deep",
           "text-number", "text-object", "choice-string", "delta-list", "delta-content-number"]


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_chunk_is_an_error_of_its_request_only(tmp_path, capsys, name):
    """A chunk whose fields have the wrong types (or JSON nested past the recursion limit, or numbers no
    float holds) ends that request as ``malformed``; every other request is measured and the run saved."""
    port = free_port()
    endpoint = "chat" if name.startswith("delta") else "completions"
    with fake_engine(f"chunk:{name}", port, tmp_path / "server.log"):
        code, saved, stderr = _bench(capsys, port, tmp_path / "out", "--endpoint", endpoint)
    assert code == 0, stderr
    level = saved["levels"][0]
    assert level["requests"] == 8 and level["error_kinds"] == {"malformed": 4}, stderr
    assert level["output_tokens"] == 4 * 6
    assert all(len(r["error"]) < 300 for r in level["records"] if r["error"])


def test_an_error_event_is_the_requests_error_in_one_clean_line(tmp_path, capsys):
    port = free_port()
    with fake_engine("chunk:error-deep-message", port, tmp_path / "server.log"):
        code, saved, stderr = _bench(capsys, port, tmp_path / "out")
    assert code == 0, stderr
    level = saved["levels"][0]
    assert level["error_kinds"] == {"server": 4}
    assert all("\x1b" not in r["error"] and "\x07" not in r["error"] for r in level["records"] if r["error"])


def test_a_charset_other_than_utf8_is_read_as_utf8(tmp_path, capsys):
    """SSE is UTF-8 whatever the header says: a ``charset=utf-16`` stream of UTF-8 bytes is read as sent."""
    port = free_port()
    with fake_engine("utf16", port, tmp_path / "server.log"):
        code, saved, stderr = _bench(capsys, port, tmp_path / "out")
    assert code == 0, stderr
    level = saved["levels"][0]
    assert level["errors"] == 0 and level["output_tokens"] == 8 * 6


@pytest.mark.parametrize("usage", ["negative", "too-many"])
def test_implausible_completion_counts_are_replaced_by_the_local_count(tmp_path, capsys, usage):
    port = free_port()
    with fake_engine(f"usage:{usage}", port, tmp_path / "server.log"):
        code, saved, stderr = _bench(capsys, port, tmp_path / "out")
    assert code == 0, stderr
    level = saved["levels"][0]
    assert level["errors"] == 0 and level["output_tokens"] == 8 * 6 and level["token_source"] == "chunks"
    assert level["output_tokens_per_s"] > 0
    assert sum("completion_tokens" in note for note in saved["notes"]) == 1, saved["notes"]


def test_a_prompt_count_far_off_never_rescales_the_prompt(tmp_path, capsys):
    """A server that counts 1 prompt token for 2,000 words: the prompt stays 2,000 words (not 4 million)."""
    port = free_port()
    with fake_engine("usage:prompt-one", port, tmp_path / "server.log"):
        code, saved, stderr = _bench(capsys, port, tmp_path / "out", "--input-len", "2000")
    assert code == 0, stderr
    assert saved["prompt_method"].startswith("by length"), saved["prompt_method"]
    assert any("prompt_tokens" in note for note in saved["notes"]), saved["notes"]
    assert saved["levels"][0]["errors"] == 0


def test_a_prompt_count_far_off_the_tokenizer_uses_the_local_count(monkeypatch):
    """With a local count (a tokenizer), a server's prompt_tokens wildly off it is noted and not used."""
    from llmroof.bench.client import _input_tokens, _output_tokens, plausible_prompt_tokens

    assert plausible_prompt_tokens(130, 128) and plausible_prompt_tokens(160, 128)  # a chat template adds some
    assert not plausible_prompt_tokens(1, 16384) and not plausible_prompt_tokens(10**6, 128)
    notes: list[str] = []
    assert _input_tokens(1, 16384, notes.append) == 16384 and "prompt_tokens 1" in notes[-1]
    assert _input_tokens(140, 128, notes.append) == 140 and len(notes) == 1  # plausible: the server's
    assert _input_tokens(-3, None, notes.append) is None and len(notes) == 2
    assert _output_tokens(-14, "a b c", 3, lambda text: len(text.split()), 6, notes.append) == (3, "tokenizer")
    assert "completion_tokens -14" in notes[-1]
    assert _output_tokens(6, "", 6, None, 6, notes.append) == (6, "usage") and len(notes) == 3


def test_reachability_has_a_total_deadline(tmp_path):
    """The check reads the status and headers only (a body dripped a byte at a time does not hold it), and
    a server dripping even its status line meets a deadline of the whole check, not of each read."""
    import socket
    import threading
    import time

    from llmroof.bench.run import check_reachable
    from llmroof.errors import LlmroofError

    port = free_port()
    with fake_engine("drip", port, tmp_path / "server.log"):
        start = time.monotonic()
        check_reachable(f"http://127.0.0.1:{port}", timeout_s=1.5)
        assert time.monotonic() - start < 1.5
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def drip() -> None:
        conn, _ = listener.accept()
        with conn:
            for byte in b"HTTP/1.1 200 OK\r\n" * 100:
                if stop.wait(0.2):
                    return
                conn.sendall(bytes([byte]))

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    try:
        start = time.monotonic()
        with pytest.raises(LlmroofError, match="did not answer within"):
            check_reachable(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout_s=1.5)
        assert time.monotonic() - start < 3
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_a_level_that_fails_keeps_the_finished_levels_and_requests(tmp_path, monkeypatch):
    from llmroof.bench import BenchConfig, client, run_bench

    real = client.send
    sent = {"n": 0}

    async def failing(*args, **kwargs):
        sent["n"] += 1
        if sent["n"] == 7:  # the third request of the second level
            raise RuntimeError("a bug of llmroof's own")
        return await real(*args, **kwargs)

    monkeypatch.setattr(client, "send", failing)
    port = free_port()
    config = BenchConfig(url=f"http://127.0.0.1:{port}", model="fake", concurrency=(1, 1), requests=4,
                         input_len=4, output_len=3, warmup=0, timeout_s=20)
    with fake_engine("ok", port, tmp_path / "server.log"), pytest.raises(RuntimeError):
        run_bench(config, tmp_path / "results.json")
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["complete"] is False
    assert [lv["requests"] for lv in saved["levels"]] == [4, 1]  # the probe was request 1
    assert saved["levels"][0]["complete"] is True and saved["levels"][1]["complete"] is False


def test_url_credentials_are_never_stored_or_shown(tmp_path, capsys):
    port = free_port()
    code, _, stderr = run_cli(capsys, "bench", "--url", f"http://alice:s3cret@127.0.0.1:{port}", "--model", "x",
                              "--requests", "1", "--out", str(tmp_path / "never"))
    assert code == 2 and "s3cret" not in stderr and "cannot reach" in stderr, stderr
    with fake_engine("ok", port, tmp_path / "server.log"):
        code, stdout, stderr = run_cli(capsys, "bench", "--url", f"http://alice:s3cret@127.0.0.1:{port}/v1",
                                       "--model", "fake", "--requests", "2", "--output-len", "2", "--warmup", "0",
                                       "--out", str(tmp_path / "out"))
    assert code == 0, stderr
    assert "s3cret" not in stdout + stderr and "alice" not in stdout + stderr
    assert f"http://127.0.0.1:{port}" in stdout
    for name in ("results.json", "report.html"):
        text = (tmp_path / "out" / name).read_text()
        assert "s3cret" not in text and "alice" not in text, name


@pytest.mark.parametrize(("args", "message"), [
    (["--url", "http://[::1"], "--url"),
    (["--url", "http://xn--:1"], "not a URL"),
    (["--url", "http://127.0.0.1:1/\r\nX-Injected: 1"], "control character"),
    (["--url", "http://127.0.0.1:1\n"], "control character"),
    (["--requests", "0"], "--requests"),
    (["--concurrency", "100000000000000000000"], "--concurrency"),
    (["--concurrency", "1e20"], "--concurrency"),
    (["--rate", "1e-12"], "--rate"),
    (["--rate", "0.01", "--requests", "10000"], "hours"),
    (["--rate", "1,,2"], "empty item"),
    (["--concurrency", "1,,2"], "empty item"),
    (["--tp", "3", "--model", "llama-3-8b"], "--tp 3"),
    (["--pp", "64", "--model", "llama-3.2-1b"], "--pp 64"),
    (["--config", "no/such/config.json"], "--config"),
    (["--tokenizer", "no/such/folder"], "--tokenizer"),
])
def test_bench_options_are_refused_before_any_request(tmp_path, capsys, monkeypatch, args, message):
    """Checked at parse time: against a port where nothing listens the refusal names the option, not the
    server."""
    from hostile import assert_one_line_error

    monkeypatch.chdir(tmp_path)
    base = {"--url": f"http://127.0.0.1:{free_port()}", "--model": "x", "--out": str(tmp_path / "out")}
    given = dict(zip(args[::2], args[1::2]))
    argv = [item for key, value in {**base, **given}.items() for item in (key, value)]
    argv += [a for a in args if a not in given and a not in given.values()]
    code, _, stderr = run_cli(capsys, "bench", *argv)
    assert_one_line_error(code, stderr, message)
    assert "cannot reach" not in stderr
    assert not (tmp_path / "out").exists()


def test_bench_out_that_cannot_be_written_is_refused_before_any_request(tmp_path, capsys):
    from hostile import assert_one_line_error

    (tmp_path / "file").write_text("mine")
    code, _, stderr = run_cli(capsys, "bench", "--url", f"http://127.0.0.1:{free_port()}", "--model", "x",
                              "--out", str(tmp_path / "file" / "out"))
    assert_one_line_error(code, stderr, "not a folder")
    assert (tmp_path / "file").read_text() == "mine"
