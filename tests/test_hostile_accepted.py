"""Bad input that used to be accepted silently, or refused with a wrong or empty message: refused now, with a
message naming the option or field (profile --prompt 0, aliases = "abc", sources = 5, NaN or absurd hardware
figures in `hardware` as in `analyze`, "model": null, --threshold inf, --tp-simulate 3), and compare of two
identical folders holding runs of two models compares them as identical."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from cli_runner import run_cli
from hostile import GOOD_DEVICE, TINY_CONFIG, assert_one_line_error
from test_compare import synthetic


@pytest.fixture
def config(tmp_path) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(TINY_CONFIG))
    return str(path)


@pytest.fixture
def no_measuring(monkeypatch):
    import llmroof.measure.profile as measure_profile

    monkeypatch.setattr(measure_profile, "profile", lambda *a, **k: pytest.fail("measured despite bad input"))


@pytest.mark.parametrize(("args", "texts"), [
    (["--prompt", "0"], ("--prompt",)),
    (["--prompt", "-5"], ("--prompt",)),
    (["--batch", "0"], ("--batch",)),
    (["--context", ","], ("--context",)),
    (["--model", ""], ("config.json",)),  # "" is the current folder, which holds no config.json
    (["--tp-simulate", "3", "--hardware", "h100"], ("--tp-simulate 3", "does not divide")),
])
def test_profile_refuses_before_measuring(capsys, tmp_path, config, no_measuring, args, texts) -> None:
    full = ["profile", "--device", "cpu", "--out", str(tmp_path / "run"), *args]
    if "--model" not in args:
        full += ["--model", config]
    code, _, err = run_cli(capsys, *full)
    assert_one_line_error(code, err, *texts)
    assert "--tp 3" not in err


HARDWARE_COMMANDS = {
    "hardware": lambda f: ["hardware", "--hardware-file", f],
    "hardware json": lambda f: ["hardware", "--hardware-file", f, "-f", "json"],
    "analyze": lambda f: ["analyze", "-H", "mine", "--hardware-file", f],
    "plan": lambda f: ["plan", "-m", "llama-3-8b", "-H", "mine", "--hardware-file", f],
}


@pytest.mark.parametrize(("field", "value", "texts"), [
    ("aliases", "abc", ("aliases must be a list", 'aliases = ["')),
    ("aliases", [1, 2], ("aliases must be a list",)),
    ("sources", 5, ("sources must be a table",)),
    ("link_latency_s", "nan", ("link_latency_s", "finite")),
    ("memory_bandwidth_bytes_per_s", 1e-300, ("memory_bandwidth_bytes_per_s", "between")),
    ("peak_flops_per_s", {"bf16": 1e-300}, ("peak_flops_per_s.bf16", "between")),
    ("memory_bytes", 0, ("memory_bytes", "positive")),
])
def test_hardware_file_validated_once_for_every_command(capsys, tmp_path, field, value, texts) -> None:
    """`hardware --hardware-file` refuses exactly what `analyze` and `plan` refuse, with the same message."""
    path = tmp_path / "hw.json"
    entry = {**GOOD_DEVICE, field: float(value) if value == "nan" else value}
    path.write_text(json.dumps({"device": [entry]}))
    messages = set()
    for command in HARDWARE_COMMANDS.values():
        code, out, err = run_cli(capsys, *command(str(path)))
        assert_one_line_error(code, err, *texts)
        assert "nan" not in out.lower()
        messages.add(err)
    assert len(messages) == 1, messages


def test_missing_field_is_named(capsys, tmp_path) -> None:
    path = tmp_path / "hw.toml"
    path.write_text('[[device]]\nname = "x"\nsources = 5\n')
    code, _, err = run_cli(capsys, "hardware", "--hardware-file", str(path))
    assert_one_line_error(code, err, "missing field(s) 'memory_bytes'")


def test_null_model_in_results(capsys, tmp_path) -> None:
    record = synthetic(seed=1)
    record["model"] = None
    path = tmp_path / "results.json"
    path.write_text(json.dumps(record))
    for args in (["report", str(path), "--out", str(tmp_path / "r.html")], ["compare", str(path), str(path)]):
        code, _, err = run_cli(capsys, *args)
        assert_one_line_error(code, err, "'model'")
        assert "NoneType" not in err


@pytest.mark.parametrize("text", ["inf", "inf%", "nan", "-inf%", "1e999"])
def test_threshold_non_finite(capsys, text) -> None:
    code, _, err = run_cli(capsys, "compare", "a", "b", "--threshold", text)
    assert_one_line_error(code, err, "--threshold", "finite")


def _two_model_folder(root, seed):
    """A folder of repeated runs of two models (three runs each, as many as --min-samples asks)."""
    for index in range(3):
        for model in ("small", "large"):
            record = synthetic(seed=seed + index)
            record["model"]["name"] = model
            if model == "large":
                record["model"]["spec"]["hidden_size"] *= 2
            path = root / f"{model}-{index}" / "results.json"
            path.parent.mkdir(parents=True)
            path.write_text(json.dumps(record))
    return root


@pytest.mark.parametrize("fmt", ["table", "json", "markdown"])
def test_compare_identical_folders_of_two_models(capsys, tmp_path, fmt) -> None:
    folder = _two_model_folder(tmp_path / "runs", seed=1)
    code, out, err = run_cli(capsys, "compare", str(folder), str(folder), "-f", fmt)
    assert code == 0, err
    assert "Differences between the runs" not in out and "compared anyway" not in out
    if fmt == "json":
        data = json.loads(out)
        assert data["differences"] == [] and data["method"]["basis"] == "runs"
        assert all(r["ratio"] == pytest.approx(1.0) for r in data["rows"])
        assert {r["verdict"] for r in data["rows"]} == {"unchanged"}
        labels = {r["benchmark"].split(" ")[0] for r in data["rows"]}
        assert labels == {"small", "large"}, "each model is compared with itself"


def test_compare_folders_with_different_model_sets_still_refused(capsys, tmp_path) -> None:
    base = _two_model_folder(tmp_path / "base", seed=1)
    small_only = tmp_path / "small"
    for run in base.iterdir():
        if run.name.startswith("small"):
            (small_only / run.name).mkdir(parents=True)
            (small_only / run.name / "results.json").write_text((run / "results.json").read_text())
    code, _, err = run_cli(capsys, "compare", str(base), str(small_only))
    assert_one_line_error(code, err, "not the same model")


def test_calibration_with_an_impossible_efficiency(capsys, tmp_path) -> None:
    # a complete 0.1.0 profile, turned into a GPU run against a catalog datasheet
    record = json.loads((Path(__file__).parent / "data" / "v0.1.0" / "profile.json").read_text())
    record["device"].update(kind="cuda", name="NVIDIA H100 80GB HBM3")
    record["hardware"] = {"name": "h100-sxm"}
    for config in record["configs"]:
        config["datasheet_roofline_fraction"] = 1e308
    path = tmp_path / "results.json"
    path.write_text(json.dumps(record))
    code, _, err = run_cli(capsys, "plan", "-m", "llama-3-8b", "-H", "h100", "--calibrate", str(path))
    assert_one_line_error(code, err, "1e+308", "datasheet roofline")
