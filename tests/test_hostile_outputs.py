"""The output policy (README "Outputs", docs/io-policy.md): no write follows a symbolic link, FIFOs
are written in place, no file llmroof did not write is replaced or deleted without --force, and
every output path is checked before the first measurement. Issue 20, classes 4 and 5."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import stat
from pathlib import Path

import pytest
from cli_runner import run_cli
from hostile import TINY_CONFIG, assert_one_line_error

from llmroof.errors import LlmroofError
from llmroof.writers import write_json_atomic, write_text_atomic

PRECIOUS = "precious\n"


def _precious(tmp_path: Path) -> Path:
    victim = tmp_path / "v"
    victim.write_text(PRECIOUS)
    return victim


def test_a_write_replaces_a_symlink_never_its_target(tmp_path) -> None:
    victim = _precious(tmp_path)
    link = tmp_path / "out.json"
    link.symlink_to(victim)
    write_json_atomic(link, {"a": 1})
    assert victim.read_text() == PRECIOUS
    assert not link.is_symlink() and json.loads(link.read_text()) == {"a": 1}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")
def test_a_link_to_a_fifo_is_replaced_not_written_into(tmp_path) -> None:
    """Only a path named under /dev or /proc is followed to a special file; a planted link to a FIFO
    would otherwise block the write forever (or, to a disk, write into it)."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "results.json"
    link.symlink_to(fifo)
    write_json_atomic(link, {"a": 1})
    assert not link.is_symlink() and stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_block_device_is_never_written(tmp_path) -> None:
    disk = tmp_path / "disk"
    try:
        os.mknod(
            disk, stat.S_IFBLK | 0o600, os.makedev(7, 200)
        )  # a loop device number, never opened
    except OSError as exc:
        pytest.skip(f"cannot make a block device here: {exc}")
    with pytest.raises(LlmroofError, match="a block device"):
        write_text_atomic(disk, "{}")


def test_a_refreshed_calibration_never_writes_through_a_symlink(tmp_path) -> None:
    from test_ceilings import PRINT, CountingMeasure

    from llmroof.measure.ceilings_cache import load_or_measure

    path = load_or_measure(PRINT, CountingMeasure(), directory=tmp_path).path
    victim = _precious(tmp_path)
    path.unlink()
    path.symlink_to(victim)
    calibration = load_or_measure(PRINT, CountingMeasure(), directory=tmp_path, refresh=True)
    assert victim.read_text() == PRECIOUS
    assert not calibration.path.is_symlink()
    assert json.loads(calibration.path.read_text())["schema"] == "llmroof.ceilings.cache/1"


@dataclasses.dataclass(frozen=True)
class _Config:
    plan_rotation: int = 0


def _launch_saving_a_record(job_path: Path) -> int:
    """A worker that saves its record as a real one does (through the saver), in this process."""
    from llmroof.results.save import saver

    job = pickle.loads(job_path.read_bytes())
    saver(job.out_path)({  # a complete record, as small as one can be
        "schema": "llmroof.profile/1", "status": "complete", "environment": {}, "hardware": None,
        "device": {"kind": "cpu", "name": "cpu", "cache_bytes": 1},
        "model": {"name": "tiny", "attention": "gqa", "spec": {}},
        "workload": {"batches": [1], "prompt_len": 1, "contexts": [1], "dtype": "fp32",
                     "layers_instantiated": 1, "layers_total": 1, "extrapolated": False},
        "configs": [], "nvml": {"status": "off", "source": None}})
    return 0


@pytest.mark.parametrize("name", [".process-0.json", ".process-0.job"])
def test_a_stale_process_symlink_in_a_repeat_folder_is_not_followed(tmp_path, name) -> None:
    from llmroof.results.repeat import run_repeated

    victim = _precious(tmp_path)
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / name).symlink_to(victim)
    run_repeated(
        _Config(),
        device="cpu",
        threads=None,
        path=folder / "results.json",
        processes=1,
        argv=[],
        launch=_launch_saving_a_record,
        plan_size=1,
    )
    assert victim.read_text() == PRECIOUS
    assert json.loads((folder / "results.json").read_text())["status"] == "complete"


def test_a_repeat_keeps_a_file_of_the_user_under_a_worker_name(tmp_path) -> None:
    from llmroof.results.repeat import run_repeated

    folder = tmp_path / "run"
    folder.mkdir()
    (folder / ".process-1.json").write_text(PRECIOUS)
    with pytest.raises(LlmroofError, match=r"\.process-1\.json was not written by llmroof"):
        run_repeated(
            _Config(),
            device="cpu",
            threads=None,
            path=folder / "results.json",
            processes=2,
            argv=[],
            launch=_launch_saving_a_record,
            plan_size=1,
        )
    assert (folder / ".process-1.json").read_text() == PRECIOUS


def test_the_ranks_error_files_are_never_links_in_the_results_folder(
    capsys, tmp_path, monkeypatch, config
) -> None:
    """The ranks of `profile --tp 2` open their error and ready files for writing (truncating):
    stale links under those names in the results folder must not lead there."""
    from llmroof.measure import distributed

    victim = _precious(tmp_path)
    folder = tmp_path / "run"
    folder.mkdir()
    for name in (".rank-error.0", ".rank-error.ready.0"):
        (folder / name).symlink_to(victim)

    def launch(
        world_size, target, args, *, timeout_s, error_file
    ) -> None:  # what a failing rank 0 writes
        for name in (f"{error_file}.ready.0", f"{error_file}.0"):
            with open(name, "w", encoding="utf-8") as handle:
                handle.write("0\nboom")
        raise LlmroofError("rank 0 of 2 failed: boom")

    monkeypatch.setattr(distributed, "launch", launch)
    code, _, err = run_cli(
        capsys,
        "profile",
        "-m",
        config,
        "--device",
        "cpu",
        "--tp",
        "2",
        "--dtype",
        "fp32",
        "--batch",
        "1",
        "--context",
        "8",
        "--prompt",
        "4",
        "--out",
        str(folder),
    )
    assert code == 2 and "rank 0 of 2 failed" in err, err
    assert victim.read_text() == PRECIOUS


def test_force_over_a_results_symlink_replaces_the_link(tmp_path) -> None:
    from llmroof.writers import check_output_folder

    victim = _precious(tmp_path)
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "results.json").symlink_to(victim)
    check_output_folder(folder, ("results.json", "report.html"), force=True)
    write_json_atomic(folder / "results.json", {"schema": "llmroof.profile/1"})
    assert victim.read_text() == PRECIOUS


def test_what_llmroof_wrote_is_recognised(tmp_path) -> None:
    from llmroof.writers import written_by_llmroof

    ours = write_json_atomic(tmp_path / "r.json", {"schema": "llmroof.profile/1"})
    html = write_text_atomic(
        tmp_path / "report.html",
        '<!doctype html>\n<html lang="en">\n<head>\n'
        '<meta name="generator" content="llmroof 0.3.0">\n',
    )
    mine = tmp_path / "mine.html"
    mine.write_text("<html>my notes</html>")
    other = tmp_path / "other.json"
    other.write_text('{"schema": "mine/1"}')
    link = tmp_path / "link.json"
    link.symlink_to(ours)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert written_by_llmroof(ours) and written_by_llmroof(html)
    assert not any(written_by_llmroof(p) for p in (mine, other, link, fifo, tmp_path / "absent"))


def test_a_folder_with_files_of_the_user_is_refused_without_force(tmp_path) -> None:
    from llmroof.writers import check_output_folder

    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "report.html").write_text("<html>my notes</html>")
    with pytest.raises(LlmroofError, match="report.html was not written by llmroof"):
        check_output_folder(folder, ("results.json", "report.html"), force=False)
    check_output_folder(folder, ("results.json", "report.html"), force=True)


@pytest.fixture
def config(tmp_path) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(TINY_CONFIG))
    return str(path)


def test_profile_out_keeps_a_report_of_the_user(capsys, tmp_path, monkeypatch, config) -> None:
    import llmroof.measure.profile as measure_profile

    monkeypatch.setattr(measure_profile, "profile", lambda *a, **k: pytest.fail("measured"))
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "report.html").write_text("<html>my notes</html>")
    code, _, err = run_cli(capsys, "profile", "-m", config, "--device", "cpu", "--out", str(folder))
    assert_one_line_error(code, err, "report.html", "--force")
    assert (folder / "report.html").read_text() == "<html>my notes</html>"


def test_report_keeps_a_page_of_the_user_under_its_default_name(capsys, tmp_path) -> None:
    results = tmp_path / "results.json"  # a complete profile (0.1.0's, which every version reads)
    results.write_bytes((Path(__file__).parent / "data" / "v0.1.0" / "profile.json").read_bytes())
    mine = tmp_path / "report.html"
    mine.write_text("<html>my notes</html>")
    code, _, err = run_cli(capsys, "report", str(results))
    assert_one_line_error(code, err, "report.html was not written by llmroof", "--force")
    assert mine.read_text() == "<html>my notes</html>"
    code, _, err = run_cli(capsys, "report", str(results), "--out", str(tmp_path / "named.html"))
    assert code == 0, err
    code, _, err = run_cli(capsys, "report", str(results), "--force")
    assert code == 0, err
    code, _, err = run_cli(capsys, "report", str(results))  # now llmroof's own page: replaced
    assert code == 0, err


def test_bench_out_over_a_profile_run_is_refused_before_the_load(
    capsys, tmp_path, monkeypatch
) -> None:
    from llmroof import bench

    monkeypatch.setattr(bench, "run_bench", lambda *a, **k: pytest.fail("benchmarked"))
    folder = tmp_path / "run"
    folder.mkdir()
    text = json.dumps({"schema": "llmroof.profile/1", "status": "complete"})
    (folder / "results.json").write_text(text)
    code, _, err = run_cli(
        capsys,
        "bench",
        "--url",
        "http://127.0.0.1:1",
        "--model",
        "llama-3.2-1b",
        "--out",
        str(folder),
    )
    assert_one_line_error(code, err, "holds an earlier run", "--force")
    assert (folder / "results.json").read_text() == text


SWEEP = (
    "analyze",
    "--model",
    "llama-3.2-1b",
    "--hardware",
    "h100-sxm",
    "--sweep",
    "batch=1..4",
    "--sweep",
    "context=1,2",
)


def test_a_sweep_keeps_the_partial_file_of_the_user(capsys, tmp_path) -> None:
    out = tmp_path / "g.csv"
    partial = tmp_path / "g.csv.partial"
    partial.write_text(PRECIOUS)
    code, _, err = run_cli(capsys, *SWEEP, "--out", str(out))
    assert_one_line_error(code, err, "g.csv.partial", "--force")
    assert partial.read_text() == PRECIOUS and not out.exists()
    code, _, err = run_cli(capsys, *SWEEP, "--out", str(out), "--force")
    assert code == 0, err
    assert out.read_text().startswith("model,") and not partial.exists()


def test_a_sweep_never_writes_through_a_partial_symlink(capsys, tmp_path) -> None:
    victim = _precious(tmp_path)
    (tmp_path / "g.csv.partial").symlink_to(victim)
    code, _, err = run_cli(capsys, *SWEEP, "--out", str(tmp_path / "g.csv"), "--force")
    assert code == 0, err
    assert victim.read_text() == PRECIOUS


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")
def test_a_streamed_sweep_writes_into_a_fifo(capsys, tmp_path) -> None:
    from test_hostile_device_files import FifoReader

    fifo = tmp_path / "g.csv"
    os.mkfifo(fifo)
    reader = FifoReader(fifo)
    code, _, err = run_cli(capsys, *SWEEP, "--out", str(fifo))
    assert code == 0, err
    assert (
        reader.text().startswith("model,") and len(reader.text().splitlines()) == 1 + 3 * 2
    )  # batch 1, 2, 4
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.csv"]
