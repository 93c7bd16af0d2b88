"""No hang: more ranks than the machine can run are refused before any process starts, and --timeout
bounds the start-up of the ranks (a thousand ranks on two cores hung past 150 s)."""

from __future__ import annotations

import os
import time

import pytest

import dist_targets
from cli_runner import run_cli
from hostile import assert_one_line_error
from llmroof.errors import LlmroofError
from llmroof.measure import distributed


def test_rank_limits() -> None:
    assert distributed.max_local_ranks("cuda", 8) == 8
    assert distributed.max_local_ranks("cpu") == max(4, 2 * (os.cpu_count() or 1))
    distributed.check_local_ranks(2, "cpu")
    with pytest.raises(LlmroofError, match="--ranks 9 needs 9 ranks: this machine has 8 GPUs"):
        distributed.check_local_ranks(9, "cuda", 8)


@pytest.mark.parametrize("args", [
    ["comm", "--ranks", "1000", "--device", "cpu"],
    ["comm", "--ranks", str(10 * (os.cpu_count() or 1) + 4), "--device", "cpu"],
])
def test_comm_refuses_more_ranks_than_the_machine_runs(capsys, monkeypatch, args) -> None:
    monkeypatch.setattr(distributed, "launch", lambda *a, **k: pytest.fail("ranks started"))
    started = time.monotonic()
    code, _, err = run_cli(capsys, *args)
    assert_one_line_error(code, err, "this machine has", "CPU cores")
    assert time.monotonic() - started < 60


def test_profile_refuses_a_grid_larger_than_the_machine(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(distributed, "launch", lambda *a, **k: pytest.fail("ranks started"))
    tp = 2
    pp = max(4, 2 * (os.cpu_count() or 1))  # tp x pp is twice the limit
    code, _, err = run_cli(capsys, "profile", "--device", "cpu", "--tp", str(tp), "--pp", str(pp),
                           "--model", "llama-3-70b", "--out", str(tmp_path / "run"))
    assert code == 2 and "Traceback" not in err
    assert "more stages than" in err or "this machine has" in err


def test_timeout_holds_during_start_up(tmp_path) -> None:
    """Ranks that never join the group fail the launch once --timeout has passed, and every one is stopped."""
    started = time.monotonic()
    with pytest.raises(LlmroofError, match=r"0 of 2 ranks started within --timeout 2 s"):
        distributed.launch(2, dist_targets.never_joins, (), timeout_s=2, error_file=str(tmp_path / "err"))
    assert time.monotonic() - started < 60, "terminating the ranks waits 5 s in all"
    assert not list(tmp_path.glob("err.ready.*"))
