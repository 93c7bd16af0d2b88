"""The input policy (docs/io-policy.md): every file is read through llmroof.readers, bounded in size
(256 MiB) and, for FIFOs and devices, in time; results files are checked field by field (type,
finiteness) as their records are read, so a hand-edited value is one exit-2 line naming the file and
the field. Issue 20, classes 6, 12 and 14."""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from pathlib import Path

import pytest
from cli_runner import run_cli
from hostile import assert_one_line_error

from llmroof.errors import LlmroofError

fifo_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")


@pytest.fixture
def quick_fifo_wait(monkeypatch):
    from llmroof import readers

    monkeypatch.setattr(readers, "SPECIAL_FILE_WAIT_S", 0.5)


@fifo_only
@pytest.mark.parametrize(
    "args",
    [
        ["analyze", "--model", "FIFO"],
        ["analyze", "--model", "llama-3.2-1b", "--hardware-file", "FIFO"],
        ["plan", "--model", "llama-3.2-1b", "--hardware", "h100-sxm", "--calibrate", "FIFO"],
        ["compare", "FIFO", "FIFO"],
        ["report", "FIFO", "--out", "OUT"],
    ],
)
def test_a_fifo_nobody_writes_is_refused_not_waited_on(
    capsys, tmp_path, quick_fifo_wait, args
) -> None:
    fifo = tmp_path / "c.json"
    os.mkfifo(fifo)
    full = [
        str(fifo) if a == "FIFO" else str(tmp_path / "r.html") if a == "OUT" else a for a in args
    ]
    started = time.monotonic()
    result: list = []
    thread = threading.Thread(target=lambda: result.append(run_cli(capsys, *full)), daemon=True)
    thread.start()
    thread.join(timeout=60)
    if thread.is_alive():
        with open(fifo, "w"):  # let the blocked reader go, so the test process can end
            pass
        pytest.fail(f"llmroof {' '.join(args)} waited on the FIFO")
    code, _, err = result[0]
    assert_one_line_error(code, err, "c.json", "nothing to read")
    assert time.monotonic() - started < 30


@fifo_only
def test_a_fifo_that_is_written_is_read(tmp_path) -> None:
    from llmroof.readers import read_json_file

    fifo = tmp_path / "c.json"
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "w") as handle:
            handle.write('{"a": ')
            handle.flush()
            time.sleep(0.2)
            handle.write("1}")

    threading.Thread(target=write, daemon=True).start()
    assert read_json_file(fifo) == {"a": 1}


def test_a_drip_is_bounded_in_time(tmp_path, monkeypatch) -> None:
    """A writer that never stops (one byte now and then) is cut off at the total bound."""
    from llmroof import readers

    monkeypatch.setattr(readers, "SPECIAL_FILE_TOTAL_S", 1.0)
    read, write = os.pipe()
    stop = threading.Event()

    def drip() -> None:
        while not stop.is_set():
            os.write(write, b" ")
            time.sleep(0.05)
        os.close(write)

    threading.Thread(target=drip, daemon=True).start()
    try:
        with pytest.raises(LlmroofError, match="still being written after 1 s"):
            readers.read_bytes(f"/proc/self/fd/{read}")
    finally:
        stop.set()
        os.close(read)


# --- class 12: results files checked field by field ----------------------------------------------


def _bench_result():
    from test_bench import _result

    return _result()


def _edited(tmp_path: Path, data: dict, name: str = "results.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_plan_calibrate_refuses_a_non_numeric_tpot_fraction(capsys, tmp_path) -> None:
    data = _bench_result().to_dict()
    data["levels"][0]["roofline"]["tpot_fraction"] = "fast"
    path = _edited(tmp_path, data)
    code, _, err = run_cli(
        capsys,
        "plan",
        "--model",
        "llama-3.2-1b",
        "--hardware",
        "h100-sxm",
        "--calibrate",
        str(path),
    )
    assert_one_line_error(code, err, str(path), "tpot_fraction", "'fast'")


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("late", "end_s"),
        (float("nan"), "holds NaN"),
        (float("inf"), "holds Infinity"),
        ([1], "end_s"),
        ({"a": 1}, "end_s"),
        (True, "end_s"),
    ],
)
def test_compare_refuses_a_request_time_of_the_wrong_type(capsys, tmp_path, value, named) -> None:
    good = _bench_result().to_dict()
    bad = json.loads(json.dumps(good))
    bad["levels"][0]["records"][0]["end_s"] = value
    base = _edited(tmp_path, good, "base.json")
    new = _edited(tmp_path, bad, "new.json")
    code, _, err = run_cli(capsys, "compare", str(base), str(new), "--no-step-summary")
    assert_one_line_error(code, err, str(new), named)


def test_report_refuses_a_bench_file_with_a_string_time(capsys, tmp_path) -> None:
    data = _bench_result().to_dict()
    data["levels"][0]["records"][0]["end_s"] = "late"
    path = _edited(tmp_path, data)
    code, _, err = run_cli(capsys, "report", str(path), "--out", str(tmp_path / "r.html"))
    assert_one_line_error(code, err, "end_s")
    assert not (tmp_path / "r.html").exists()


def test_every_record_reads_its_own_output_back() -> None:
    """The type checks accept everything llmroof writes (here: a bench result with every level)."""
    from llmroof.results.records.bench import BenchResult

    result = _bench_result()
    assert BenchResult.from_dict(result.to_dict()) == dataclasses.replace(result)


def test_a_typed_field_names_the_file_and_field() -> None:
    from llmroof.results.records.bench import BenchResult

    data = _bench_result().to_dict()
    data["levels"][0]["concurrency"] = "2"
    with pytest.raises(
        LlmroofError, match=r"run.json.levels\[0\].concurrency is '2', expected an integer"
    ):
        BenchResult.from_dict(data, "run.json")


# --- class 14 ------------------------------------------------------------------------------------


def test_ceilings_refuses_more_threads_than_the_machine_has(capsys, monkeypatch) -> None:
    from llmroof.measure import ceilings

    monkeypatch.setattr(ceilings, "calibrate", lambda *a, **k: pytest.fail("calibrated"))
    code, _, err = run_cli(capsys, "ceilings", "--device", "cpu", "--threads", "512")
    assert_one_line_error(code, err, "--threads 512", "CPUs")


def test_compare_refuses_a_folder_of_runs_of_different_models(capsys, tmp_path) -> None:
    from test_compare import synthetic

    folder = tmp_path / "base"
    for index, name in enumerate(("tiny", "other")):
        record = synthetic(seed=index)
        record["model"]["name"] = record["model"]["spec"]["name"] = name
        (folder / str(index)).mkdir(parents=True)
        (folder / str(index) / "results.json").write_text(json.dumps(record))
    new = tmp_path / "new.json"
    new.write_text(json.dumps(synthetic(seed=5)))
    code, _, err = run_cli(capsys, "compare", str(folder), str(new), "--no-step-summary")
    assert_one_line_error(code, err, "tiny", "other")
