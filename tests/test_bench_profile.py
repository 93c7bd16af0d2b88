"""llmroof bench --profile: each level bracketed by the server's /start_profile and /stop_profile, the
level's trace files named in its record, a server with no profiler one warning and a normal run, and no
profiler request at all without --profile."""

from __future__ import annotations

import json
from pathlib import Path

from bench_servers import fake_engine, free_port
from cli_runner import run_cli

import llmroof


def _bench(capsys, port: int, out: Path, *extra: str) -> tuple[int, dict, str]:
    code, _, stderr = run_cli(
        capsys,
        "bench",
        "--url",
        f"http://127.0.0.1:{port}",
        "--model",
        "fake",
        "--concurrency",
        "1,2",
        "--requests",
        "4",
        "--input-len",
        "8",
        "--output-len",
        "4",
        "--warmup",
        "1",
        "--timeout",
        "5",
        "--out",
        str(out),
        "--format",
        "json",
        *extra,
    )
    saved = (
        json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else {}
    )
    return code, saved, stderr


def _calls(folder: Path) -> list[str]:
    """What the fake engine was sent, in order, without its health checks."""
    lines = (folder / "paths.log").read_text().splitlines()
    return [line.split()[1] for line in lines if line.split()[1] not in ("/health", "/")]


def test_each_level_is_bracketed_and_names_its_trace_files(tmp_path, capsys):
    port = free_port()
    traces = tmp_path / "traces"
    traces.mkdir()
    (traces / "old.pt.trace.json").write_text("{}")  # there before the run: no level's
    with fake_engine("profile", port, tmp_path / "server.log"):
        code, saved, stderr = _bench(capsys, port, tmp_path / "out", "--profile-dir", str(traces))
    assert code == 0, stderr
    calls = _calls(tmp_path)
    # the prompt probe and the warm-up unprofiled, then start, the level's 4 requests, stop; twice
    level_calls = ["/start_profile", *["/v1/completions"] * 4, "/stop_profile"]
    first = calls.index("/start_profile")
    assert first == 2 and set(calls[:first]) == {"/v1/completions"}
    assert calls[first:] == [*level_calls, *level_calls]
    files = [level["profile"]["trace_files"] for level in saved["levels"]]
    assert all(len(f) == 1 for f in files) and files[0] != files[1]
    assert sorted(Path(f[0]) for f in files) == sorted(traces.glob("dp0_*.pt.trace.json"))
    for level in saved["levels"]:
        profile = level["profile"]
        assert profile["started"] and profile["stopped"] and profile["trace_dir"] == str(traces)
        assert "Start profiling." in profile["note"] and "\x1b" not in profile["note"]  # cleaned
    result = llmroof.load(tmp_path / "out" / "results.json")
    assert result.levels[1].profile.trace_files == tuple(files[1])
    assert not any("profile" in note for note in result.notes)


def test_profile_without_a_folder_still_brackets_each_level(tmp_path, capsys):
    port = free_port()
    with fake_engine("profile", port, tmp_path / "server.log"):
        code, saved, stderr = _bench(capsys, port, tmp_path / "out", "--profile")
    assert code == 0, stderr
    assert (
        _calls(tmp_path).count("/start_profile") == 2
        and _calls(tmp_path).count("/stop_profile") == 2
    )
    assert all(
        level["profile"]["started"]
        and level["profile"]["trace_files"] == []
        and level["profile"]["trace_dir"] is None
        for level in saved["levels"]
    )


def test_a_server_without_a_profiler_is_one_warning_and_a_normal_run(tmp_path, capsys):
    port = free_port()
    with fake_engine("ok", port, tmp_path / "server.log"):
        code, saved, stderr = _bench(capsys, port, tmp_path / "out", "--profile")
    assert code == 0, stderr
    assert _calls(tmp_path).count("/start_profile") == 1 and "/stop_profile" not in _calls(tmp_path)
    assert [level["requests"] for level in saved["levels"]] == [4, 4]
    assert all(level["errors"] == 0 for level in saved["levels"])
    first, second = saved["levels"]
    assert first["profile"] == {
        "started": False,
        "stopped": False,
        "trace_dir": None,
        "trace_files": [],
        "note": "HTTP 404: {}",
    }
    assert "profile" not in second  # profiling given up after the refusal
    assert sum("/start_profile" in note for note in saved["notes"]) == 1
    warnings = [line for line in stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and warnings[0].startswith(
        "llmroof: warning: --profile: the server refused"
    )
    assert saved["complete"]


def test_without_profile_nothing_goes_to_the_profiler(tmp_path, capsys):
    port = free_port()
    with fake_engine("profile", port, tmp_path / "server.log"):
        code, saved, stderr = _bench(capsys, port, tmp_path / "out")
    assert code == 0, stderr
    assert set(_calls(tmp_path)) == {"/v1/completions"}
    assert all("profile" not in level for level in saved["levels"])
    assert not (tmp_path / "traces").exists()


def test_a_profile_dir_that_is_no_folder_is_refused(tmp_path, capsys):
    code, _, stderr = _bench(
        capsys, free_port(), tmp_path / "out", "--profile-dir", str(tmp_path / "missing")
    )
    assert code == 2 and "--profile-dir" in stderr and "Traceback" not in stderr


def test_ctrl_c_in_a_profiled_level_stops_the_servers_profiler(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import threading
    import time

    port = free_port()
    out, traces = tmp_path / "out", tmp_path / "traces"
    traces.mkdir()
    with fake_engine("profile", port, tmp_path / "server.log"):
        bench = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llmroof",
                "bench",
                "--url",
                f"http://127.0.0.1:{port}",
                "--model",
                "fake",
                "--concurrency",
                "2",
                "--requests",
                "200",
                "--input-len",
                "8",
                "--output-len",
                "200",
                "--warmup",
                "0",
                "--profile-dir",
                str(traces),
                "--out",
                str(out),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            cwd=tmp_path,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        watchdog = threading.Timer(60, bench.kill)
        watchdog.start()
        try:
            started = bench.stderr.readline()  # the level's progress line: its profiler is on
            assert b"concurrency 2" in started, started
            time.sleep(1.0)
            bench.send_signal(signal.SIGINT)
            _, stderr = bench.communicate(timeout=30)
        finally:
            watchdog.cancel()
            if bench.poll() is None:
                os.killpg(bench.pid, signal.SIGKILL)
                bench.wait()
    assert bench.returncode == 130, stderr.decode()
    assert _calls(tmp_path)[-1] == "/stop_profile"
    level = json.loads((out / "results.json").read_text())["levels"][0]
    assert level["complete"] is False and level["profile"]["stopped"]
    assert level["profile"]["trace_files"] == [str(p) for p in traces.iterdir()]
