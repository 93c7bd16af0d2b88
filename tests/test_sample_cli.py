"""``llmroof sample`` with a fake NVML (the real one on this driverless machine reports unavailable)."""

from __future__ import annotations

import csv
import io
import json
import sys

import pytest

from fakes import FakeNvml
from cli_runner import run_cli as run
from llmroof.measure import nvml as nv



@pytest.fixture
def fake_nvml(monkeypatch) -> FakeNvml:
    fake = FakeNvml(gpm=True, dram_util=75.0)
    monkeypatch.setattr(nv, "load_pynvml", lambda: fake)
    return fake


def test_sample_for_seconds_as_json(capsys, fake_nvml) -> None:
    code, out, _ = run(capsys, "sample", "--seconds", "0.35", "--interval-ms", "100", "--format", "json")
    assert code == 0
    record = json.loads(out)
    assert record["schema"] == "llmroof.sample/1" and record["source"] == "gpm"
    assert record["peak_dram_bandwidth_bytes_per_s"] == pytest.approx(1.5552e12)
    assert record["samples"], "at least one 100 ms window in 0.35 s"
    first = record["samples"][0]
    for key in ("dram_bandwidth_bytes_per_s", "dram_bw_util_percent", "sm_clock_mhz", "power_w", "source"):
        assert key in first
    assert first["dram_bandwidth_bytes_per_s"] == pytest.approx(0.75 * 1.5552e12)
    assert record["summary"]["mean_dram_bandwidth_bytes_per_s"] == pytest.approx(0.75 * 1.5552e12)
    assert record["summary"]["clock_event_reasons_seen"] == ["sw_power_cap"]


def test_sample_while_a_command_runs_passes_its_exit_code(capsys, fake_nvml, tmp_path) -> None:
    out_file = tmp_path / "s.json"
    code, out, _ = run(capsys, "sample", "--out", str(out_file), "--", sys.executable, "-c",
                       "import time, sys; time.sleep(0.3); sys.exit(3)")
    assert code == 3
    record = json.loads(out_file.read_text())
    assert record["exit_code"] == 3 and record["command"][0] == sys.executable
    assert "Command exited with 3" in out and "DRAM bandwidth: mean" in out


def test_sample_csv_rows(capsys, fake_nvml, tmp_path) -> None:
    code, out, _ = run(capsys, "sample", "--seconds", "0.25", "--format", "csv", "--out", str(tmp_path / "s.csv"))
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and rows and rows[0]["source"] == "gpm"
    assert (tmp_path / "s.csv").read_text().startswith("start_s,end_s,source")


def test_fallback_source_is_labelled_time_busy(capsys, monkeypatch) -> None:
    monkeypatch.setattr(nv, "load_pynvml", lambda: FakeNvml(gpm=False, mem_busy=55))
    code, out, _ = run(capsys, "sample", "--seconds", "0.25")
    assert code == 0 and "time-busy, not bytes" in out and "Memory busy: mean 55.0%" in out


def test_without_a_driver_the_command_still_runs(capsys) -> None:
    code, out, _ = run(capsys, "sample", "--format", "json", "--", sys.executable, "-c", "print('served')")
    record = json.loads(out[out.index("{"):])
    assert code == 0 and record["source"] is None
    assert record["status"].startswith("unavailable:") and record["exit_code"] == 0


def test_a_command_that_cannot_start_is_a_clean_error(capsys) -> None:
    code, _, err = run(capsys, "sample", "--", "no-such-command-llmroof")
    assert code == 2 and "cannot run 'no-such-command-llmroof'" in err and "Traceback" not in err


def test_the_summary_record_declares_every_key_the_sampler_summarizes_in_order():
    """``SampleSummary`` is written field by field: a figure added to ``SUMMARY_FIELDS`` must be declared
    there, in the same place, or the file's key order would change."""
    import dataclasses

    from llmroof.measure.nvml import summarize_samples
    from llmroof.results.records.sample import SampleSummary

    declared = [f.name for f in dataclasses.fields(SampleSummary) if f.name != "extra"]
    assert list(summarize_samples([])) == declared
