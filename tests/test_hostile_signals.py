"""Signals: SIGTERM and SIGHUP stop `profile` as Ctrl-C does (status "interrupted", the report written, exit
128 + N); `sample -- CMD` passes on a signal-killed child as a shell does (128 + N)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_runner import run_cli
from hostile import TINY_CONFIG
from llmroof.runs.sample import exit_status
from llmroof.errors import Interrupted, interrupt_exit_code


def test_exit_codes_of_signals() -> None:
    assert exit_status(-signal.SIGKILL) == 137 and exit_status(-signal.SIGTERM) == 143 and exit_status(3) == 3
    assert interrupt_exit_code(KeyboardInterrupt()) == 130
    assert interrupt_exit_code(Interrupted(signal.SIGTERM)) == 143
    assert interrupt_exit_code(Interrupted(signal.SIGHUP)) == 129


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGKILL, 137), (signal.SIGHUP, 129)])
def test_sample_passes_on_a_signal_killed_child(capsys, monkeypatch, signum, code) -> None:
    from fakes import FakeNvml
    from llmroof.measure import nvml as nv

    monkeypatch.setattr(nv, "load_pynvml", lambda: FakeNvml(gpm=True, dram_util=75.0))
    child = f"import os; os.kill(os.getpid(), {int(signum)})"
    result, out, _ = run_cli(capsys, "sample", "--format", "json", "--", sys.executable, "-c", child)
    assert result == code
    assert json.loads(out)["exit_code"] == code


def _llmroof() -> list[str]:
    script = Path(sys.executable).with_name("llmroof")
    return [str(script)] if script.exists() else [sys.executable, "-m", "llmroof"]


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_profile_stops_on_sigterm_and_sighup_as_on_ctrl_c(tmp_path, signum, code) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(TINY_CONFIG))
    out = tmp_path / "run"
    process = subprocess.Popen(
        [*_llmroof(), "profile", "-m", str(config), "--device", "cpu", "--dtype", "fp32", "--out", str(out),
         "--batch", "1,2,3,4,5,6,7,8", "--context", "8,16,32,64", "--prompt", "8", "--rep-ms", "100",
         "--warmup-ms", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        results = out / "results.json"
        while time.monotonic() < deadline:  # wait until a configuration is recorded: measuring is under way
            try:
                if any(c.get("status") == "ok" for c in json.loads(results.read_text()).get("configs", [])):
                    break
            except (OSError, ValueError):
                pass
            assert process.poll() is None, process.communicate()
            time.sleep(0.2)
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == code, err
    record = json.loads(results.read_text())
    assert record["status"] == "interrupted"
    assert (out / "report.html").exists()
    assert "interrupted" in err and "Traceback" not in err
