"""``plan --rate`` simulates its recommended configurations: their simulated p90 TTFT and TPOT are
shown beside the steady-state figures, and a configuration whose simulated p90 misses an SLO is not
recommended."""

from __future__ import annotations

import json
import time

from cli_runner import run_cli

from llmroof import load
from llmroof.plan import PlanRequest, plan
from llmroof.specs.hardware import get_hardware
from llmroof.specs.model import get_model


def _request(ttft_slo_s):
    return PlanRequest(
        model=get_model("llama-3-8b"),
        hardware=(get_hardware("h100-sxm"),),
        prompt_len=1024,
        output_len=256,
        rate_qps=20,
        ttft_slo_s=ttft_slo_s,
        tpot_slo_s=0.03,
    )


def test_a_configuration_missing_its_slo_in_simulation_is_not_recommended():
    result = plan(_request(0.05))
    recommended = [result.configs[r.index] for r in result.recommended]
    assert recommended and all(
        c.sim_ttft_p90_s is not None and c.sim_ttft_p90_s <= 0.05 for c in recommended
    )
    assert all(c.sim_tpot_p90_s <= 0.03 for c in recommended)
    rejected = [
        c for c in result.configs if any(r.startswith("simulated p90") for r in c.rejected_reasons)
    ]
    assert rejected and not any(c.meets_slo for c in rejected)
    assert all(
        c.ttft_s <= 0.05 for c in rejected
    )  # the steady state alone would have recommended them
    unsimulated = plan(_request(0.05), simulate=False)
    assert {unsimulated.configs[r.index].id for r in unsimulated.recommended} & {
        c.id for c in rejected
    }


def test_plan_json_shows_the_simulated_percentiles(capsys, tmp_path, monkeypatch):
    code, stdout, stderr = run_cli(
        capsys,
        "plan",
        "-m",
        "llama-3-8b",
        "-H",
        "h100",
        "--prompt",
        "1024",
        "--output",
        "256",
        "--rate",
        "20",
        "--ttft-slo",
        "100",
        "--tpot-slo",
        "30",
        "--format",
        "json",
    )
    assert code == 0, stderr
    data = json.loads(stdout)
    assert all(
        r["sim_ttft_p90_s"] is not None and r["sim_tpot_p90_s"] is not None
        for r in data["recommended"]
    )
    path = tmp_path / "plan.json"
    path.write_text(stdout)
    assert load(path).recommended[0].sim_ttft_p90_s == data["recommended"][0]["sim_ttft_p90_s"]
    monkeypatch.setenv("COLUMNS", "300")
    code, stdout, _ = run_cli(
        capsys, "plan", "-m", "llama-3-8b", "-H", "h100", "--rate", "20", "--ttft-slo", "100"
    )
    assert code == 0 and "simulated p90 TTFT" in stdout


def test_the_planning_example_with_simulation_stays_fast(capsys):
    start = time.perf_counter()
    code, _, stderr = run_cli(
        capsys,
        "plan",
        "--model",
        "llama-3-70b",
        "--hardware",
        "h100,a100",
        "--prompt",
        "2048",
        "--output",
        "512",
        "--rate",
        "10",
        "--ttft-slo",
        "500",
        "--tpot-slo",
        "50",
        "--gpu-hour-cost",
        "2.5,1.8",
        "--format",
        "json",
    )
    assert code == 0, stderr
    assert time.perf_counter() - start < 30
