"""``analyze`` options for mixture-of-experts models: --ep, --expert-dtype, --zipf, --expert-load, --mla-naive."""

from __future__ import annotations

import json

import pytest
from cli_runner import run_cli


def analysis(capsys, *args: str) -> dict:
    code, out, err = run_cli(capsys, "analyze", "--format", "json", *args)
    assert code == 0, err
    return json.loads(out)


def test_moe_json_keys(capsys) -> None:
    data = analysis(capsys, "--model", "mixtral-8x7b", "--hardware", "h100", "--batch", "8", "--ep", "2",
                    "--tp", "2")
    decode = data["phases"]["decode"]
    assert decode["expected_experts_per_layer"] == pytest.approx(8 * (1 - 0.75 ** 8))
    assert data["model"]["active_params"] < data["model"]["params"]
    assert data["model"]["experts"] == 8 and data["model"]["experts_per_token"] == 2
    assert data["parallel"]["ep"] == 2 and data["parallel"]["gpus"] == 4
    assert {"comm.moe_dispatch", "comm.moe_combine"} <= {c["name"] for c in data["parallel"]["comm"]}
    dense = analysis(capsys, "--model", "llama-3-8b")
    assert dense["phases"]["decode"]["expected_experts_per_layer"] is None
    assert dense["model"]["active_params"] == dense["model"]["params"]


def test_expert_dtype_and_routing_options(capsys, tmp_path) -> None:
    base = analysis(capsys, "--model", "gpt-oss-20b", "--batch", "4")
    mxfp4 = analysis(capsys, "--model", "gpt-oss-20b", "--batch", "4", "--expert-dtype", "mxfp4")
    assert mxfp4["workload"]["expert_dtype"] == "mxfp4"
    assert mxfp4["model"]["weight_bytes"] < 0.4 * base["model"]["weight_bytes"]
    zipf = analysis(capsys, "--model", "gpt-oss-20b", "--batch", "4", "--zipf", "1.5")
    assert zipf["workload"]["routing"] == "Zipf s=1.5"
    assert zipf["phases"]["decode"]["expected_experts_per_layer"] < base["phases"]["decode"]["expected_experts_per_layer"]
    load = tmp_path / "load.json"
    load.write_text(json.dumps([100] * 4 + [0] * 28))  # only 4 of the 32 experts ever used
    skewed = analysis(capsys, "--model", "gpt-oss-20b", "--batch", "64", "--expert-load", str(load))
    assert skewed["phases"]["decode"]["expected_experts_per_layer"] == pytest.approx(4)


def test_mla_naive_option(capsys) -> None:
    absorbed = analysis(capsys, "--model", "deepseek-v2-lite", "--batch", "4", "--context", "4096")
    naive = analysis(capsys, "--model", "deepseek-v2-lite", "--batch", "4", "--context", "4096", "--mla-naive")
    assert absorbed["model"]["attention"] == "mla" and absorbed["workload"]["mla_absorbed"]
    assert naive["phases"]["decode"]["flops"] > 5 * absorbed["phases"]["decode"]["flops"]


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "llama-3-8b", "--ep", "2", "--batch", "2"], "no experts to split"),
    (["--model", "mixtral-8x7b", "--ep", "2"], "data-parallel"),
    (["--model", "mixtral-8x7b", "--zipf", "1", "--expert-load", "x.json"], "pass one of them"),
    (["--model", "deepseek-v3", "--kv-heads", "8"], "latent attention"),
])
def test_bad_moe_options_exit_2(capsys, args, message) -> None:
    code, out, err = run_cli(capsys, "analyze", *args)
    assert code == 2 and message in err
    assert "Traceback" not in err
