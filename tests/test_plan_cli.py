"""``llmroof plan`` on the command line: the four formats, one-line errors with exit code 2, verdicts with
exit code 0, and no torch, pandas or matplotlib on the planning path.

The command is registered on a local typer app the way ``llmroof.cli.main`` registers it, and user errors
are turned into one line and exit code 2 the way ``main`` does.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from llmroof.cli.options import register
from llmroof.errors import LlmroofError

BASE = ("plan", "--model", "llama-3-70b", "--hardware", "h100", "--max-gpus", "8")


def make_app() -> typer.Typer:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:
        """A group, so that `plan` is a subcommand as in llmroof's app."""

    register(app, "plan")
    return app


def run(capsys, *args: str) -> tuple[int, str, str]:
    """Run like ``llmroof.cli.main.main``: LlmroofError -> one line on stderr, exit code 2."""
    try:
        make_app()(args=list(args), prog_name="llmroof")
        code = 0
    except LlmroofError as exc:
        hint = f" (hint: {exc.hint})" if exc.hint else ""
        print(f"llmroof: error: {exc.message}{hint}", file=sys.stderr)
        code = 2
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


def test_json_output(capsys) -> None:
    code, out, _ = run(capsys, *BASE, "--rate", "4", "--ttft-slo", "500", "--tpot-slo", "50",
                       "--gpu-hour-cost", "2.5", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["schema"] == "llmroof.plan/1" and data["status"] == "ok"
    request = data["request"]
    assert (request["ttft_slo_s"], request["tpot_slo_s"], request["rate_qps"]) == (0.5, 0.05, 4.0)
    assert request["gpu_hour_cost_usd"] == {"h100-sxm": 2.5}
    best = data["recommended"][0]
    assert best["meets_slo"] and best["usd_per_million_tokens"] > 0 and best["reason"].startswith("cheapest")
    assert best == {**data["configs"][best["index"]], "rank": 1, "reason": best["reason"], "index": best["index"]}
    assert all(data["configs"][p["index"]]["id"] == p["id"] for p in data["pareto"])
    rejected = next(c for c in data["configs"] if c["tp"] == 1 and c["pp"] == 1)
    assert rejected["rejected_reasons"][0].startswith("does not fit") and rejected["ttft_s"] is None


def test_csv_has_a_row_per_configuration(capsys) -> None:
    code, out, _ = run(capsys, *BASE, "--tpot-slo", "30", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    _, out_json, _ = run(capsys, *BASE, "--tpot-slo", "30", "--format", "json")
    assert len(rows) == len(json.loads(out_json)["configs"])
    assert {"id", "tp", "pp", "concurrent_sequences", "tpot_s", "meets_slo", "rejected_reasons"} <= set(rows[0])
    assert any("TPOT" in row["rejected_reasons"] and ">" in row["rejected_reasons"] for row in rows)


def test_table_output(capsys) -> None:
    code, out, _ = run(capsys, *BASE, "--rate", "2", "--tpot-slo", "50")
    assert code == 0
    for text in ("Recommended", "#1 h100-sxm", "Pareto front", "Recommended: h100-sxm", "GPU-h/M tok",
                 "tp 3, 5, 6, 7 not tried"):
        assert text in out


def test_impossible_slos_exit_0_with_the_verdict(capsys) -> None:
    code, out, err = run(capsys, *BASE, "--tpot-slo", "0.5")
    assert code == 0 and not err
    assert "Closest (nothing meets the SLOs)" in out and "No configuration meets TPOT <= 500 us" in out
    code, out, _ = run(capsys, *BASE, "--tpot-slo", "0.5", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["status"] == "no_config_meets_slo" and data["recommended"] == [] and data["closest"]


def test_a_model_that_fits_nowhere_exits_0_with_the_verdict(capsys) -> None:
    code, out, _ = run(capsys, "plan", "-m", "llama-3.1-405b", "-H", "l4", "--max-gpus", "2", "--format", "json")
    assert code == 0 and json.loads(out)["status"] == "does_not_fit"


@pytest.mark.parametrize("args,message", [
    (("--rate", "-3"), "--rate must be positive, got -3"),
    (("--tpot-slo", "0"), "--tpot-slo must be positive"),
    (("--output", "0"), "--output must be positive"),
    (("--reserve", "1.5"), "--reserve must be in [0, 1)"),
    (("--gpu-hour-cost", "1,2"), "--gpu-hour-cost gives 2 prices for 1 devices"),
    (("--gpu-hour-cost", "cheap"), "expected a price in USD"),
    (("--hardware", "h100,nope"), "unknown hardware 'nope'"),
    (("--model", "nope"), "unknown model 'nope'"),
    (("--dtype", "int4"), "weight-only"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, args, message) -> None:
    code, out, err = run(capsys, *BASE, *args)
    assert code == 2 and not out
    assert message in err and len(err.strip().splitlines()) == 1 and err.startswith("llmroof: error:")


def test_calibrate_with_a_cpu_profile_is_refused(capsys) -> None:
    path = Path(__file__).parent / "data" / "v0.1.0" / "profile.json"  # a CPU run, as llmroof profile wrote it
    code, _, err = run(capsys, *BASE, "--calibrate", str(path))
    assert code == 2 and "measured on AMD EPYC, the CPU" in err and len(err.strip().splitlines()) == 1


def test_calibrate_with_a_profile_of_the_device(capsys, tmp_path) -> None:
    from llmroof.specs import get_hardware

    path = tmp_path / "results.json"
    record = json.loads((Path(__file__).parent / "data" / "v0.1.0" / "profile.json").read_text())
    prefill, decode = record["configs"][0], record["configs"][2]
    record["configs"] = [decode | {"datasheet_roofline_fraction": 0.8}, prefill | {"datasheet_roofline_fraction": 0.6}]
    record["device"] |= {"kind": "cuda", "name": "NVIDIA H100"}
    record["hardware"] = get_hardware("h100-sxm").to_dict()
    record["workload"]["dtype"] = "bf16"
    path.write_text(json.dumps(record))
    code, out, _ = run(capsys, *BASE, "--calibrate", str(path), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["calibration"]["h100-sxm"]["decode_efficiency"] == 0.8
    code, out, _ = run(capsys, *BASE, "--format", "json")
    plain = {c["id"]: c for c in json.loads(out)["configs"]}
    for config in data["configs"]:
        if config["ttft_s"] is not None:
            assert config["tpot_s"] > plain[config["id"]]["tpot_s"]
    code, _, err = run(capsys, *BASE, "--hardware", "h100,a100", "--calibrate", str(path))
    assert code == 2 and "no profile of a100-sxm-80gb" in err


def test_html_section_is_self_contained_and_escaped(capsys, tmp_path) -> None:
    config = {"_name_or_path": "<script>alert(1)</script>", "model_type": "llama", "hidden_size": 512,
              "num_attention_heads": 8, "num_key_value_heads": 2, "num_hidden_layers": 4, "vocab_size": 1000,
              "intermediate_size": 1024, "rms_norm_eps": 1e-5}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    code, out, _ = run(capsys, "plan", "-m", str(path), "-H", "l4", "--max-gpus", "2", "--tpot-slo", "5",
                       "--format", "html")
    assert code == 0
    assert out.startswith("<section class=\"llmroof-plan\">") and out.rstrip().endswith("</section>")
    assert "<style>" in out and "<svg" in out and "</svg>" in out
    assert "<script>" not in out and "&lt;script&gt;" in out  # the model's name, escaped
    assert "Recommended" in out and "Pareto front" in out
    assert "http" not in out.split("<svg")[0]  # no external stylesheet or script


def test_template_is_found_in_the_source_tree() -> None:
    from llmroof.plan.html import TEMPLATE
    from llmroof.results.html import template_environment

    assert template_environment(TEMPLATE).get_template(TEMPLATE) is not None
    assert (Path(__file__).parents[1] / "reports" / "templates" / TEMPLATE).is_file()


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_the_plan_path_imports_no_torch_pandas_or_matplotlib(fmt) -> None:
    code = (
        "import sys, typer\n"
        "from llmroof.cli.options import register\n"
        "app = typer.Typer()\n"
        "app.callback()(lambda: None)\n"
        "register(app, 'plan')\n"
        "try:\n"
        f"    app(args=['plan', '-m', 'llama-3-8b', '-H', 'h100,a100', '--tpot-slo', '30', '--format', '{fmt}'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "heavy = sorted(m for m in ('torch', 'pandas', 'matplotlib', 'numpy', 'jinja2') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
