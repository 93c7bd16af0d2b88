"""``llmroof profile --repeat N``: N processes merged into one results file, the configuration order rotated per
process, the run-to-run spread in the record, the summary and the report, and what survives a failure or Ctrl-C.

The worker is swapped for one that runs the real ``profile`` in this process (tiny model, fixed ceilings), so
the merge sees real records; one slow test runs real worker subprocesses through the CLI.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import statistics
from pathlib import Path

import pytest
from cli_runner import run_cli

from llmroof.errors import LlmroofError
from llmroof.measure import profile as profile_module
from llmroof.results import repeat as repeat_module
from llmroof.measure.device import open_device
from llmroof.measure.profile import ProfileConfig, config_plan, profile
from llmroof.results.records.profile import (
    Ceilings,
    ConfigResult,
    DeviceInfo,
    NvmlSampling,
    ProcessRun,
    ProfileModel,
    ProfileRecord,
    ProfileWorkload,
)
from llmroof.results.repeat import merge, run_repeated
from llmroof.results.save import saver
from llmroof.results.io import read_json
from llmroof.specs import get_model

TINY = dataclasses.replace(get_model("llama-3-8b"), name="tiny", hidden_size=64, num_layers=3, num_heads=8,
                           num_kv_heads=2, head_dim=16, intermediate_size=128, vocab_size=256)
FIXED_CEILINGS = Ceilings(method="fixed for this test", measured_bandwidth_bytes_per_s=2e10,
                          measured_copy_bandwidth_bytes_per_s=2e10, measured_flops_per_s=1e11,
                          compute_dtype="fp32", probes=())
"""No calibration's: a run with them has no calibration to check for drift."""


def tiny_config(**changes) -> ProfileConfig:
    values = dict(model=TINY, batches=(1, 2), prompt_len=8, contexts=(16,), layers=1, dtype="fp32",
                  warmup_ms=1.0, rep_ms=1.0, per_op=False, step_min_reps=3)
    values.update(changes)
    return ProfileConfig(**values)


@pytest.fixture
def in_process(monkeypatch):
    """A launcher that runs each job's profile here; records the order each process timed. As in
    test_compare's real tiny profile: fixed ceilings, a 1 MiB cache flush and one torch thread, so that
    this stays fast on two shared cores."""
    monkeypatch.setattr(profile_module, "measure_ceilings", lambda *_: (FIXED_CEILINGS, None))
    device = dataclasses.replace(open_device("cpu"), cache_bytes=2**20)
    threads = device.torch.get_num_threads()
    device.torch.set_num_threads(1)
    orders: list[list[tuple[str, int, int]]] = []

    def launch(job_path: Path) -> int:
        job = pickle.loads(job_path.read_bytes())
        orders.append(config_plan(job.config))
        profile(job.config, device, saver(job.out_path), argv=job.argv)
        return 0

    launch.orders = orders
    yield launch
    device.torch.set_num_threads(threads)


def test_processes_are_merged_with_every_sample_tagged(tmp_path, in_process) -> None:
    path = tmp_path / "results.json"
    config = tiny_config(per_op=True)
    run = run_repeated(config, device="cpu", threads=None, path=path, processes=3, argv=["llmroof"],
                       launch=in_process, plan_size=len(config_plan(config)))
    record = run.to_dict()
    assert read_json(path, "llmroof.profile/") == json.loads(json.dumps(record))
    assert record["status"] == "complete" and record["schema"] == "llmroof.profile/1"
    assert [p["index"] for p in record["processes"]] == [0, 1, 2]
    assert all(p["record"]["status"] == "complete" for p in record["processes"])
    # Interleaving: process k starts k places into the plan, so each configuration leads once.
    plan = config_plan(config)
    assert [order[0] for order in in_process.orders] == plan[:3]
    assert all(sorted(order) == sorted(plan) for order in in_process.orders)
    # Merged configurations in the plan's order, each the median process's entry, with every process's values.
    assert [(c["phase"], c["batch"], c.get("prompt_len", c.get("context_len"))) for c in record["configs"]] == plan
    for config_record in record["configs"]:
        block = config_record["repeat"]
        times = block["metrics"]["time_s"]
        assert [item["process"] for item in times["by_process"]] == [0, 1, 2]
        values = [item["value"] for item in times["by_process"]]
        assert config_record["time_s"] == statistics.median(values) == times["median"]
        assert times["min"] == min(values) and times["max"] == max(values)
        assert times["cv"] == pytest.approx(statistics.stdev(values) / statistics.fmean(values))
        chosen = record["processes"][block["process_index"]]["record"]
        assert any(c["time_s"] == config_record["time_s"] for c in chosen["configs"])
        assert set(block["ops"]) == {op["name"] for op in config_record["ops"] if "median_s" in op} != set()
    assert not list(tmp_path.glob(".process-*"))  # worker files are inside the results file now


def test_each_finished_process_is_written_before_the_next_starts(tmp_path, in_process) -> None:
    path = tmp_path / "results.json"
    seen = []

    def launch(job_path: Path) -> int:
        seen.append(read_json(path)["repeat"]["processes_finished"] if path.exists() else 0)
        return in_process(job_path)

    run_repeated(tiny_config(), device="cpu", threads=None, path=path, processes=3, argv=[], launch=launch,
                 plan_size=3)
    assert seen == [0, 1, 2]


def test_ctrl_c_keeps_the_finished_processes(tmp_path, in_process) -> None:
    path = tmp_path / "results.json"
    calls = []

    def launch(job_path: Path) -> int:
        calls.append(job_path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return in_process(job_path)

    with pytest.raises(KeyboardInterrupt):
        run_repeated(tiny_config(), device="cpu", threads=None, path=path, processes=4, argv=[], launch=launch,
                     plan_size=3)
    kept = read_json(path, "llmroof.profile/")
    assert kept["status"] == "interrupted" and len(kept["processes"]) == 2
    assert kept["repeat"] == {**kept["repeat"], "processes_requested": 4, "processes_finished": 2}


def test_a_failed_process_keeps_the_others_and_says_so(tmp_path, in_process) -> None:
    path = tmp_path / "results.json"
    statuses = iter([0, 1])

    def launch(job_path: Path) -> int:
        status = next(statuses)
        return in_process(job_path) if status == 0 else status

    with pytest.raises(LlmroofError, match="process 2 of 3 exited with status 1"):
        run_repeated(tiny_config(), device="cpu", threads=None, path=path, processes=3, argv=[], launch=launch,
                     plan_size=3)
    kept = read_json(path)
    assert kept["status"] == "failed" and len(kept["processes"]) == 1 and "process 1 exited 1" in kept["error"]


def test_compare_reads_a_repeat_file_as_one_run_per_process(tmp_path, in_process) -> None:
    from llmroof.compare.comparison import CompareSettings, compare_paths

    paths = []
    for name in ("base", "new"):
        paths.append(tmp_path / name / "results.json")
        run_repeated(tiny_config(), device="cpu", threads=None, path=paths[-1], processes=3, argv=[],
                     launch=in_process, plan_size=3)
    comparison = compare_paths(*paths, CompareSettings())
    assert comparison.basis == "runs" and comparison.base.runs == 3 and comparison.caveat is None
    assert comparison.base.files[1].endswith("results.json#process1")
    assert all(r.base.n == 3 for r in comparison.rows)


def test_merge_leaves_failed_configurations_visible() -> None:
    ok = {"phase": "decode", "batch": 1, "context_len": 16, "status": "ok", "time_s": 2.0, "tpot_s": 2.0}
    failed = {"phase": "decode", "batch": 1, "context_len": 16, "status": "failed", "reason": "out of memory"}
    processes = [ProcessRun(index=i, rotation=0, status="complete", record=process_record(c))
                 for i, c in enumerate((ok, failed))]
    merged = merge(processes, 2, "complete")
    entry = merged.configs[0]
    assert entry.status == "ok" and entry.repeat is not None and entry.repeat.processes == 1
    assert entry.repeat.statuses == {"0": "ok", "1": "failed"} and entry.tpot_s == 2.0
    assert merged.processes == tuple(processes) and merged.status == "complete"
    only_failed = merge(processes[1:], 2, "complete").configs[0]
    assert only_failed.status == "failed" and only_failed.reason == "out of memory"
    assert only_failed.repeat is not None and only_failed.repeat.processes == 0


def process_record(config: dict) -> dict:
    """A process's whole file holding one configuration (the rest as small as a record allows)."""
    return ProfileRecord(
        status="complete", environment={}, hardware=None, configs=(ConfigResult.from_dict(config),),
        device=DeviceInfo(kind="cpu", name="cpu", cache_bytes=2**20),
        model=ProfileModel(name="tiny", attention="gqa", spec={}),
        workload=ProfileWorkload(batches=(1,), prompt_len=8, contexts=(16,), dtype="fp32",
                                 layers_instantiated=1, layers_total=1, extrapolated=False),
        nvml=NvmlSampling(status="off", source=None)).to_dict()


def test_summary_and_report_show_the_spread(tmp_path, in_process, monkeypatch, capsys) -> None:
    from llmroof.cli.render import console
    from llmroof.report import report_file
    from llmroof.report.console.profile import print_summary

    path = tmp_path / "results.json"
    run = run_repeated(tiny_config(), device="cpu", threads=None, path=path, processes=2, argv=[],
                       launch=in_process, plan_size=3)
    assert isinstance(run, ProfileRecord)
    assert run.repeat is not None and run.repeat.processes_finished == 2 and not run.repeat.extra
    assert all(c.repeat is not None and not c.repeat.extra and c.repeat.processes == 2 for c in run.configs)
    print_summary(run, path, console())
    out = capsys.readouterr().out
    assert "Run-to-run spread over 2 processes" in out
    repeat = run.configs[-1].repeat
    assert repeat is not None and repeat.metrics is not None
    from llmroof.units import percent

    assert percent(repeat.metrics["tpot_s"].cv) in out
    html = report_file(path).read_text()
    assert 'id="spread"' in html and "Run-to-run spread" in html and "p1: " in html


def test_repeat_with_tp_is_refused(capsys, tiny_config_json) -> None:
    code, _, err = run_cli(capsys, "profile", "--model", str(tiny_config_json), "--tp", "2", "--repeat", "2")
    assert code == 2 and "--repeat runs single-device profiles" in err


@pytest.mark.slow
def test_cli_repeat_runs_real_worker_processes(capsys, tmp_path, tiny_config_json) -> None:
    """Two real worker subprocesses (fresh interpreters running llmroof.results.repeat.worker_main) through the CLI, real probes."""
    out_dir = tmp_path / "run"
    code, out, err = run_cli(capsys, "profile", "--device", "cpu", "--model", str(tiny_config_json), "--layers",
                             "1", "--batch", "1", "--prompt", "8", "--context", "16", "--dtype", "fp32",
                             "--warmup-ms", "1", "--rep-ms", "3", "--no-per-op", "--threads", "1",
                             "--repeat", "2", "--out", str(out_dir))
    assert code == 0, err
    record = read_json(out_dir / "results.json", "llmroof.profile/")
    assert record["status"] == "complete" and [p["index"] for p in record["processes"]] == [0, 1]
    assert [p["rotation"] for p in record["processes"]] == [0, 1]
    assert "process 2 of 2" in err and "Run-to-run spread over 2 processes" in out
    assert (out_dir / "report.html").exists()
    assert repeat_module.WORKER_MODULE == "llmroof.results.repeat"
