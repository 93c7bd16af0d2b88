"""Earlier results are kept: `profile --out DIR` over an earlier run is refused without --force (before
anything is measured); the default folder never reuses an existing one."""

from __future__ import annotations

import json

import pytest

from cli_runner import run_cli
from hostile import TINY_CONFIG, assert_one_line_error
from llmroof.runs.profile import results_folder
from llmroof.errors import LlmroofError


@pytest.fixture
def config(tmp_path) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(TINY_CONFIG))
    return str(path)


@pytest.mark.parametrize("status", ["complete", "interrupted", "failed"])
def test_out_over_an_earlier_run_is_refused(capsys, tmp_path, monkeypatch, config, status) -> None:
    import llmroof.measure.profile as measure_profile

    monkeypatch.setattr(measure_profile, "profile", lambda *a, **k: pytest.fail("measured over an earlier run"))
    earlier = tmp_path / "run" / "results.json"
    earlier.parent.mkdir()
    text = json.dumps({"schema": "llmroof.profile/1", "status": status, "environment": {"time_utc": "T0"}})
    earlier.write_text(text)
    code, _, err = run_cli(capsys, "profile", "-m", config, "--device", "cpu", "--out", str(earlier.parent))
    assert_one_line_error(code, err, "holds an earlier run", f"status {status}", "--force")
    assert earlier.read_text() == text


def test_unreadable_earlier_run_is_kept_too(tmp_path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "results.json").write_text("{truncated")
    with pytest.raises(LlmroofError, match="cannot read"):
        results_folder(tmp_path / "run", force=False)


def test_force_and_empty_folders(tmp_path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "results.json").write_text("{}")
    assert results_folder(tmp_path / "run", force=True) == tmp_path / "run"
    assert results_folder(tmp_path / "empty", force=False) == tmp_path / "empty"


def test_default_folders_never_collide(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    first = results_folder(None, force=False)  # made (and checked writable) by the call
    second = results_folder(None, force=False)
    assert first.is_dir() and second.is_dir() and first != second


@pytest.mark.slow
def test_force_replaces_an_earlier_run(capsys, tmp_path, config) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "results.json").write_text(json.dumps({"schema": "llmroof.profile/1", "status": "complete"}))
    code, _, err = run_cli(capsys, "profile", "-m", config, "--device", "cpu", "--dtype", "fp32", "--out", str(out),
                           "--force", "--batch", "1", "--context", "8", "--prompt", "4", "--rep-ms", "1",
                           "--warmup-ms", "0", "--no-per-op")
    assert code == 0, err
    assert json.loads((out / "results.json").read_text())["status"] == "complete"
    assert "configs" in json.loads((out / "results.json").read_text())
