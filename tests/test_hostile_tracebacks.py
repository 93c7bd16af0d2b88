"""Hostile input that used to end in a traceback: every case is one stderr line with a hint and exit 2, for
every command that reads that input (config.json: analyze, plan, profile; results: report, compare,
plan --calibrate; hardware files: analyze, hardware, plan; numbers on the command line; outputs that cannot
be written; stdout closed, full or ASCII-only)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli_runner import run_cli
from hostile import GOOD_DEVICE, TINY_CONFIG, assert_one_line_error, bad_files
from test_compare import synthetic

CONFIG_READERS = {
    "analyze": lambda m: ["analyze", "-m", m],
    "plan": lambda m: ["plan", "-m", m, "-H", "h100"],
    "profile": lambda m: ["profile", "-m", m, "--device", "cpu", "--out", "never-written"],
}
RESULTS_READERS = {
    "report": lambda r, tmp: ["report", r, "--out", str(tmp / "r.html")],
    "compare": lambda r, tmp: ["compare", r, r],
    "plan --calibrate": lambda r, tmp: ["plan", "-m", "llama-3-8b", "-H", "h100", "--calibrate", r],
}
HARDWARE_READERS = {
    "analyze": lambda f: ["analyze", "-H", "mine", "--hardware-file", f],
    "hardware": lambda f: ["hardware", "--hardware-file", f],
    "plan": lambda f: ["plan", "-m", "llama-3-8b", "-H", "mine", "--hardware-file", f],
}
BAD_FILE_MESSAGES = {
    "binary": "binary file", "utf16": "UTF-16", "latin1": "not UTF-8", "deep": "nested too deeply",
    "deep object": "nested too deeply", "huge integer": "digits", "empty": "not valid JSON",
    "not an object": "expected a JSON object",
}


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)  # profile's default folders, if any, land here
    return tmp_path


@pytest.mark.parametrize("command", list(CONFIG_READERS))
@pytest.mark.parametrize("kind", list(BAD_FILE_MESSAGES))
def test_unreadable_configs(capsys, in_tmp, command, kind) -> None:
    path = bad_files(in_tmp)[kind]
    code, _, err = run_cli(capsys, *CONFIG_READERS[command](str(path)))
    assert_one_line_error(code, err, path.name, BAD_FILE_MESSAGES[kind])
    assert not (in_tmp / "never-written").exists()


@pytest.mark.parametrize("command", list(CONFIG_READERS))
@pytest.mark.parametrize(("name", "message"), [
    ("a" * 5000, "unknown model"),  # a name longer than the file system allows (ENAMETOOLONG)
    ("a" * 5000 + ".json", "no such file"),
    ("x/" * 3000 + "config.json", "no such file"),
])
def test_names_too_long_for_the_file_system(capsys, in_tmp, command, name, message) -> None:
    code, _, err = run_cli(capsys, *CONFIG_READERS[command](name))
    assert_one_line_error(code, err, message)
    assert len(err) < 600, "the name is shortened in the message"


@pytest.mark.parametrize("command", list(CONFIG_READERS))
@pytest.mark.parametrize(("field", "value", "message"), [
    ("hidden_size", 10**30, "up to 2**31"),
    ("num_hidden_layers", 1e400, "positive integer"),
    ("hidden_act", [[["gelu"]]], "not supported"),
    ("_name_or_path", "[" * 900, None),  # a display name is shortened, not refused
])
def test_hostile_config_fields(capsys, in_tmp, command, field, value, message) -> None:
    path = in_tmp / "config.json"
    path.write_text(json.dumps({**TINY_CONFIG, field: value}).replace("Infinity", "1e400"))
    args = CONFIG_READERS[command](str(path))
    if message is None:
        if command == "profile":
            return  # would measure: the analytic commands show the name is accepted
        code, out, err = run_cli(capsys, *args)
        assert code == 0 and "Traceback" not in err
        return
    code, _, err = run_cli(capsys, *args)
    assert_one_line_error(code, err, field, message)


@pytest.mark.parametrize("command", list(RESULTS_READERS))
@pytest.mark.parametrize("kind", list(BAD_FILE_MESSAGES))
def test_unreadable_results(capsys, tmp_path, command, kind) -> None:
    path = bad_files(tmp_path)[kind]
    code, _, err = run_cli(capsys, *RESULTS_READERS[command](str(path), tmp_path))
    assert_one_line_error(code, err, path.name, BAD_FILE_MESSAGES[kind])


def _gpu_record() -> dict:
    """A profile record plan --calibrate reads past its device check (a GPU with a catalog entry)."""
    record = synthetic(seed=1)
    record["device"].update(kind="cuda", name="NVIDIA H100 80GB HBM3")
    record["hardware"] = {"name": "h100-sxm"}
    return record


@pytest.mark.parametrize("command", list(RESULTS_READERS))
@pytest.mark.parametrize(("key", "value", "message"), [
    ("configs", "abc", "'configs'"),
    ("configs", [None, None], "configs[0]"),
    ("configs", None, "'configs'"),
    ("configs", [1, "a"], "configs[0]"),
    ("model", None, "'model'"),
    ("model", "x", "'model'"),
    ("device", "x", "'device'"),
    ("workload", 5, "'workload'"),
])
def test_results_with_wrong_containers(capsys, tmp_path, command, key, value, message) -> None:
    record = _gpu_record()
    record[key] = value
    path = tmp_path / "run" / "results.json"
    path.parent.mkdir()
    path.write_text(json.dumps(record))
    code, _, err = run_cli(capsys, *RESULTS_READERS[command](str(path), tmp_path))
    assert_one_line_error(code, err, message)
    assert "NoneType" not in err and "subscriptable" not in err


@pytest.mark.parametrize("command", list(HARDWARE_READERS))
@pytest.mark.parametrize(("text", "message"), [
    ("[[device]]\nname = 5\n", "missing field(s) 'memory_bytes'"),
    ("[[device]]\n" + "a = " + "[" * 5000 + "]" * 5000, "nested too deeply"),
    ("[[device]]\nmemory_bytes = " + "9" * 5001, "digits"),
    ("\x00\x01\x02", "binary"),
])
def test_hostile_hardware_files(capsys, tmp_path, command, text, message) -> None:
    path = tmp_path / "hw.toml"
    path.write_bytes(text.encode())
    code, _, err = run_cli(capsys, *HARDWARE_READERS[command](str(path)))
    assert_one_line_error(code, err, message)


@pytest.mark.parametrize("command", list(HARDWARE_READERS))
@pytest.mark.parametrize(("field", "value", "message"), [
    ("memory_bandwidth_bytes_per_s", "fast", "must be a number"),
    ("memory_bandwidth_bytes_per_s", float("nan"), "finite"),
    ("link_latency_s", float("nan"), "finite"),
    ("link_bandwidth_bytes_per_s", float("inf"), "finite"),
    ("peak_flops_per_s", {"bf16": float("nan")}, "peak_flops_per_s.bf16"),
    ("peak_flops_per_s", 5, "peak_flops_per_s"),
    ("memory_bandwidth_bytes_per_s", 1e-300, "between"),
    ("internode_latency_s", 3600.0, "between"),
    ("gpus_per_node", 2.5, "integer"),
    ("vendor", 3, "vendor must be a string"),
])
def test_hostile_hardware_values(capsys, tmp_path, command, field, value, message) -> None:
    path = tmp_path / "hw.json"
    path.write_text(json.dumps({"device": [{**GOOD_DEVICE, field: value}]}))  # NaN and Infinity as Python writes them
    code, _, err = run_cli(capsys, *HARDWARE_READERS[command](str(path)))
    assert_one_line_error(code, err, field.split(".")[0], message)


@pytest.mark.parametrize(("args", "option"), [
    (["profile", "--rep-ms", "inf"], "--rep-ms"),
    (["profile", "--warmup-ms", "nan"], "--warmup-ms"),
    (["profile", "--nvml-window-ms", "1e400"], "--nvml-window-ms"),
    (["profile", "--timeout", "inf"], "--timeout"),
    (["sample", "--seconds", "inf"], "--seconds"),
    (["sample", "--interval-ms", "nan"], "--interval-ms"),
    (["comm", "--timeout", "inf"], "--timeout"),
    (["compare", "a", "b", "--max-cv", "nan"], "--max-cv"),
    (["plan", "-m", "llama-3-8b", "-H", "h100", "--rate", "inf"], "--rate"),
    (["plan", "-m", "llama-3-8b", "-H", "h100", "--ttft-slo", "-inf"], "--ttft-slo"),
    (["analyze", "--batch", "9" * 40], "--batch"),
    (["analyze", "--context", str(2**60)], "--context"),
    (["plan", "-m", "llama-3-8b", "-H", "h100", "--rate", "1e300"], "--rate"),
])
def test_numbers_refused_at_parse_time(capsys, args, option) -> None:
    code, _, err = run_cli(capsys, *args)
    assert_one_line_error(code, err, option)


def test_compare_threshold_inf_gives_a_usable_hint(capsys, tmp_path) -> None:
    code, _, err = run_cli(capsys, "compare", "a", "b", "--threshold", "inf")
    assert_one_line_error(code, err, "--threshold", "finite")
    assert "write inf" not in err


# --- outputs that cannot be written ----------------------------------------------------------------------

def _analysis_json(capsys, tmp_path: Path) -> Path:
    code, out, _ = run_cli(capsys, "analyze", "-f", "json")
    assert code == 0
    path = tmp_path / "analysis.json"
    path.write_text(out)
    return path


@pytest.mark.parametrize("command", ["report --out", "analyze --html", "compare --out", "sample --out"])
def test_unwritable_outputs(capsys, tmp_path, monkeypatch, command) -> None:
    """An output path below a regular file (ENOTDIR, which root cannot override either)."""
    from fakes import FakeNvml
    from llmroof.measure import nvml as nv

    monkeypatch.setattr(nv, "load_pynvml", lambda: FakeNvml(gpm=True, dram_util=75.0))
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    target = str(blocker / "sub" / "out.html")
    base = tmp_path / "base" / "results.json"
    base.parent.mkdir()
    base.write_text(json.dumps(synthetic(seed=1)))
    args = {
        "report --out": ["report", str(_analysis_json(capsys, tmp_path)), "--out", target],
        "analyze --html": ["analyze", "--html", target],
        "compare --out": ["compare", str(base), str(base), "--out", target],
        "sample --out": ["sample", "--seconds", "0.1", "--out", target],
    }[command]
    code, _, err = run_cli(capsys, *args)
    assert_one_line_error(code, err, "cannot write")


def test_profile_checks_its_folder_before_measuring(capsys, tmp_path, monkeypatch) -> None:
    import llmroof.measure.profile as measure_profile

    monkeypatch.setattr(measure_profile, "profile", lambda *a, **k: pytest.fail("measured before the check"))
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, _, err = run_cli(capsys, "profile", "-m", str(tmp_path / "c.json"), "--out", str(blocker / "run"))
    assert code == 2  # the config is missing: a user error before anything is measured
    (tmp_path / "c.json").write_text(json.dumps(TINY_CONFIG))
    code, _, err = run_cli(capsys, "profile", "-m", str(tmp_path / "c.json"), "--device", "cpu",
                           "--out", str(blocker / "run"))
    assert_one_line_error(code, err, "cannot write")


@pytest.mark.skipif(os.name != "posix" or (hasattr(os, "geteuid") and os.geteuid() == 0),
                    reason="root writes through permissions")
def test_permission_denied_folder(capsys, tmp_path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, _, err = run_cli(capsys, "analyze", "--html", str(locked / "r.html"))
        assert_one_line_error(code, err, "Permission denied")
    finally:
        locked.chmod(0o700)


# --- stdout ---------------------------------------------------------------------------------------------

class _FullDisk:
    """A stdout on a full disk: every write fails with ENOSPC (as ``> /dev/full`` does)."""

    encoding = "utf-8"

    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def flush(self) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise OSError(errno.EBADF, "no file")


@pytest.mark.parametrize("args", [["models"], ["hardware"], ["analyze", "-f", "json"], ["analyze"]])
def test_full_disk_on_stdout(capsys, monkeypatch, args) -> None:
    monkeypatch.setattr(sys, "stdout", _FullDisk())
    code, _, err = run_cli(capsys, *args)
    assert_one_line_error(code, err, "cannot write to stdout", "No space left")


def _run_entry_point(shell: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The installed console script, through a shell (for `>&-`)."""
    script = Path(sys.executable).with_name("llmroof")
    command = shell.replace("LLMROOF", f"'{script}'" if script.exists() else f"'{sys.executable}' -m llmroof")
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


@pytest.mark.parametrize("args", ["models", "hardware", "analyze -f json"])
def test_closed_stdout(args) -> None:
    result = _run_entry_point(f"exec LLMROOF {args} >&-")
    assert_one_line_error(result.returncode, result.stderr, "cannot write to stdout")


def test_non_ascii_names_on_an_ascii_stdout(tmp_path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**TINY_CONFIG, "_name_or_path": "模型-тест"}), encoding="utf-8")
    for args in (f"analyze -m '{config}'", f"analyze -m '{config}' -f json", f"plan -m '{config}' -H h100"):
        result = _run_entry_point(f"LLMROOF {args}", env={"PYTHONIOENCODING": "ascii", "LC_ALL": "C"})
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        assert "??" in result.stdout or "\\u6a21" in result.stdout, result.stdout[:300]


@pytest.mark.skipif(not hasattr(__import__("fcntl"), "F_SETPIPE_SZ"), reason="Linux pipes")
def test_reader_of_the_pipe_goes_away() -> None:
    """`llmroof analyze | head -c 10`: no traceback, no message; killed by SIGPIPE as cat would be (141 in a
    shell)."""
    import fcntl
    import signal

    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)  # smaller than the output, so a write meets the closed end
    script = Path(sys.executable).with_name("llmroof")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "llmroof"]
    process = subprocess.Popen([*command, "analyze"], stdout=write_end, stderr=subprocess.PIPE, text=True)
    os.close(write_end)
    assert os.read(read_end, 10)
    os.close(read_end)
    _, err = process.communicate(timeout=120)
    assert process.returncode == -signal.SIGPIPE, err
    assert err == ""


@pytest.mark.parametrize("args", [
    ["compare", "LONG", "LONG"], ["report", "LONG"], ["report", "RESULTS", "--out", "LONG"],
    ["analyze", "--html", "LONG"], ["plan", "-m", "llama-3-8b", "-H", "h100", "--calibrate", "LONG"],
    ["hardware", "--hardware-file", "LONG"], ["sample", "--seconds", "0", "--out", "LONG"],
])
def test_paths_too_long_for_the_file_system(capsys, tmp_path, monkeypatch, args) -> None:
    monkeypatch.chdir(tmp_path)
    results = tmp_path / "results.json"
    results.write_text(json.dumps(synthetic(seed=1)))
    long_name = "b" * 300  # over the 255 bytes a name most file systems allow (ENAMETOOLONG)
    full = [long_name if a == "LONG" else str(results) if a == "RESULTS" else a for a in args]
    code, _, err = run_cli(capsys, *full)
    assert_one_line_error(code, err, "File name too long")
    assert len(err) < 600


def test_endless_input_is_refused(capsys, tmp_path, monkeypatch) -> None:
    """A zero device (1, 5) made under tmp_path, where permitted: reading stops at the size limit."""
    import stat

    import llmroof.readers as readers

    zero = tmp_path / "zero"
    try:
        os.mknod(zero, stat.S_IFCHR | 0o666, os.makedev(1, 5))
    except OSError as exc:
        pytest.skip(f"cannot make a character device here: {exc}")
    monkeypatch.setattr(readers, "MAX_INPUT_BYTES", 2**20)
    for args in (["analyze", "-m", str(zero)], ["report", str(zero)], ["hardware", "--hardware-file", str(zero)]):
        code, _, err = run_cli(capsys, *args)
        assert_one_line_error(code, err, "larger than")
