"""The command line: output contracts, one-line errors with exit code 2, and no torch on analytic paths."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from cli_runner import run_cli as run

ANALYSIS_KEYS = {"schema", "model", "hardware", "workload", "ops", "phases", "memory", "parallel"}
OP_KEYS = {"phase", "name", "flops", "weight_bytes", "act_read_bytes", "act_write_bytes", "kv_read_bytes",
           "kv_write_bytes", "bytes", "intensity", "time_s", "bound"}
PHASE_KEYS = {"flops", "bytes", "weight_bytes", "kv_read_bytes", "kv_write_bytes", "time_s", "bound"}



def test_analyze_json_contract(capsys) -> None:
    code, out, _ = run(capsys, "analyze", "--model", "llama-3-8b", "--hardware", "h100", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert ANALYSIS_KEYS <= set(data)
    assert data["schema"] == "llmroof.analysis/1"
    assert {"params", "kv_bytes_per_token"} <= set(data["model"])
    assert data["model"]["params"] == 8_030_261_248
    for op in data["ops"]:
        assert OP_KEYS <= set(op)
    assert PHASE_KEYS <= set(data["phases"]["prefill"])
    assert PHASE_KEYS | {"bytes_per_token", "tokens_per_s"} <= set(data["phases"]["decode"])
    assert {"weight_bytes_per_gpu", "kv_bytes_per_gpu", "max_batch", "fits"} <= set(data["memory"])
    assert {"tp", "pp", "comm_time_s", "bubble_fraction"} <= set(data["parallel"])
    # The headline ops are the fused (minimum-traffic) set; the eager set sits beside them (issue 11).
    names = [op["name"] for op in data["ops"] if op["phase"] == "decode"]
    assert names[:4] == ["embed", "attn.norm", "attn.qkv", "attn.flash"]
    assert names[-2:] == ["final_norm", "lm_head"]
    eager = [op["name"] for op in data["eager_ops"] if op["phase"] == "decode"]
    assert eager[:4] == ["embed", "attn.norm", "attn.q", "attn.k"]
    for phase in ("prefill", "decode"):
        assert PHASE_KEYS <= set(data["phases"][phase]["eager"])
        assert data["phases"][phase]["eager"]["time_s"] > data["phases"][phase]["time_s"]
    assert data["workload"]["implementation"] == "fused"


def test_analyze_table_shows_phases_and_memory(capsys) -> None:
    code, out, _ = run(capsys, "analyze", "-m", "llama-3.2-1b", "-H", "a100", "--tp", "2", "--pp", "2",
                       "--micro-batches", "2", "--batch", "4")
    assert code == 0
    for text in ("prefill ops", "decode ops", "attn.qkv", "mlp.down", "TTFT", "TPOT", "eager ops", "Memory per GPU",
                 "bubble"):
        assert text in out


def test_analyze_csv_has_a_row_per_op(capsys) -> None:
    code, out, _ = run(capsys, "analyze", "--format", "csv", "--attention-kernel", "flash", "--fused-qkv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {row["name"] for row in rows} >= {"attn.qkv", "attn.flash", "lm_head"}
    assert OP_KEYS | {"implementation"} <= set(rows[0])
    assert {row["implementation"] for row in rows} == {"fused", "eager"}
    code, out, _ = run(capsys, "analyze", "--format", "csv", "--implementation", "eager")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {row["implementation"] for row in rows} == {"eager"} and "attn.scores" in {row["name"] for row in rows}


def test_attention_variants_side_by_side(capsys) -> None:
    kv = {}
    for kind in ("mha", "gqa", "mqa"):
        _, out, _ = run(capsys, "analyze", "--attention", kind, "--format", "json")
        kv[kind] = json.loads(out)["model"]["kv_bytes_per_token"]
    assert kv == {"mha": 524_288, "gqa": 131_072, "mqa": 16_384}
    _, out, _ = run(capsys, "analyze", "--kv-heads", "4", "--format", "json")
    assert json.loads(out)["model"]["kv_bytes_per_token"] == 65_536


def test_sweep_marks_the_crossover(capsys) -> None:
    code, out, _ = run(capsys, "analyze", "--context", "128", "--attention-kernel", "flash", "--sweep",
                       "batch=1..1024", "--format", "json")
    assert code == 0
    data = json.loads(out)
    bounds = [row["decode_bound"] for row in data["rows"]]
    assert bounds[0] == "memory" and bounds[-1] == "compute"
    assert data["crossover_value"] == data["rows"][bounds.index("compute")]["value"]
    code, out, _ = run(capsys, "analyze", "--context", "128", "--attention-kernel", "flash", "--sweep", "batch=1..1024")
    assert "crossover" in out


def test_missing_peak_is_said_plainly(capsys) -> None:
    code, out, _ = run(capsys, "analyze", "--hardware", "a10g")
    assert code == 0 and "unknown (no published compute peak)" in out and "no published bf16 peak" in out


def test_catalog_listings(capsys) -> None:
    code, out, _ = run(capsys, "models", "--format", "json")
    assert code == 0 and any(m["name"] == "falcon-7b" for m in json.loads(out))
    code, out, _ = run(capsys, "hardware", "--format", "json")
    assert code == 0 and any(d["name"] == "mi300x" for d in json.loads(out))
    code, out, _ = run(capsys, "hardware")
    assert "h100-sxm" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["analyze", "--model", "lama-3-8b"], "unknown model 'lama-3-8b'"),
        (["analyze", "--hardware", "h1000"], "unknown hardware 'h1000'"),
        (["analyze", "--dtype", "bf17"], "unknown dtype 'bf17'"),
        (["analyze", "--dtype", "int4"], "weight-only"),
        (["analyze", "--kv-dtype", "int4"], "weight-only"),
        (["analyze", "--tp", "3"], "does not divide the 32 attention heads"),
        (["analyze", "--pp", "64"], "more stages than"),
        (["analyze", "--batch", "3", "--micro-batches", "2"], "does not split into 2 micro-batches"),
        (["analyze", "--pp", "2", "--pp-layers", "10,10"], "adding up to 32"),
        (["analyze", "--pp-layers", "a,b"], "expected integers"),
        (["analyze", "--kv-heads", "5"], "does not divide"),
        (["analyze", "--sweep", "colour=1,2"], "expected AXIS=VALUES"),
        (["analyze", "--sweep", "batch=0,2"], "positive integers"),
        (["analyze", "--group-size", "64"], "grouped formats"),
        (["analyze", "--model", "missing/config.json"], "no such file"),
        (["hardware", "--hardware-file", "nope.toml"], "no such file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, args, message) -> None:
    code, out, err = run(capsys, *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("llmroof: error:")


@pytest.mark.parametrize(("args", "message"), [
    (["analyze", "--batch", "0"], "Invalid value for '--batch'"),
    (["analyze", "--format", "yaml"], "'yaml' is not one of"),
    (["analyz"], "No such command 'analyz'"),
    (["analyze", "--colour"], "No such option"),
])
def test_usage_errors_are_one_line_with_a_hint(capsys, args, message) -> None:
    code, out, err = run(capsys, *args)
    assert code == 2 and message in err and "--help)" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_no_command_prints_help(capsys) -> None:
    code, out, _ = run(capsys)
    assert code == 2 and "analyze" in out and "profile" in out


def test_console_script_runs_and_errors_cleanly() -> None:
    ok = subprocess.run([sys.executable, "-m", "llmroof", "analyze", "--format", "json"], capture_output=True, text=True)
    assert ok.returncode == 0 and json.loads(ok.stdout)["schema"] == "llmroof.analysis/1"
    bad = subprocess.run([sys.executable, "-m", "llmroof", "analyze", "--model", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "unknown model" in bad.stderr


@pytest.mark.parametrize("args", [["--help"], ["analyze", "--format", "json"], ["models"], ["hardware"], ["sample", "--seconds", "0"],
                                  ["plan", "--model", "llama-3-8b", "--hardware", "h100", "--format", "json"],
                                  ["analyze", "--sweep", "batch=1,2"]])
def test_analytic_commands_do_not_import_torch(args) -> None:
    heavy = ("torch", "pandas", "matplotlib") + (() if "--sweep" in args else ("numpy",))
    code = (
        "import sys\n"
        "from llmroof.cli.main import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        # A sweep runs on the vectorised grid engine: numpy, but nothing heavier.
        f"heavy = sorted(m for m in {heavy!r} if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
