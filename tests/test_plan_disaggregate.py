"""``plan --rate R --disaggregate``: xPyD layouts simulated at the plan's rate, the cheapest meeting
the SLOs reported beside the aggregated recommendation, with the numbers of ``llmroof simulate
--disaggregate`` for the same layout and seed; without the flag the plan is unchanged."""

from __future__ import annotations

import json

from cli_runner import run_cli

from llmroof import load
from llmroof.plan import PlanRequest, plan
from llmroof.plan.disaggregate import _cost
from llmroof.specs.hardware import get_hardware
from llmroof.specs.model import get_model

EXAMPLE = (
    "-m",
    "llama-3-70b",
    "-H",
    "a100",
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
)


def _request() -> PlanRequest:
    return PlanRequest(
        model=get_model("llama-3-70b"),
        hardware=(get_hardware("a100-sxm-80gb"),),
        prompt_len=2048,
        output_len=512,
        rate_qps=10,
        ttft_slo_s=0.5,
        tpot_slo_s=0.05,
    )


def test_the_search_chooses_the_cheapest_layout_meeting_the_slos_and_never_one_that_misses():
    found = plan(_request(), disaggregate=True).disaggregated
    assert found is not None and found.best is not None
    best = found.best
    assert best.meets_slo and best.sim_ttft_p90_s <= 0.5 and best.sim_tpot_p90_s <= 0.05
    assert best.total_gpus == (best.prefill_replicas + best.decode_replicas) * best.tp
    meeting = [t for t in found.tried if t.meets_slo]
    assert _cost(best) == min(_cost(t) for t in meeting)
    # layouts cheaper than the one chosen were tried and missed an SLO in simulation
    cheaper_misses = [t for t in found.tried if _cost(t) < _cost(best)]
    assert cheaper_misses and not any(t.meets_slo for t in cheaper_misses)
    assert all(
        t.sim_ttft_p90_s > 0.5 or t.sim_tpot_p90_s > 0.05 for t in found.tried if not t.meets_slo
    )
    assert {(t.prefill_per_unit, t.decode_per_unit) for t in found.tried} >= {
        (1, 1),
        (1, 3),
        (3, 1),
    }


def test_the_chosen_layout_has_the_numbers_of_llmroof_simulate(capsys):
    code, stdout, _ = run_cli(capsys, "plan", *EXAMPLE, "--disaggregate", "--format", "json")
    assert code == 0
    best = json.loads(stdout)["disaggregated"]["best"]
    code, stdout, _ = run_cli(
        capsys,
        "simulate",
        "-m",
        "llama-3-70b",
        "-H",
        "a100",
        "--prompt",
        "2048",
        "--output",
        "512",
        "--rate",
        "10",
        "--requests",
        str(best["requests_simulated"]),
        "--seed",
        "0",
        "--max-num-seqs",
        str(best["max_num_seqs"]),
        "--disaggregate",
        f"{best['prefill_replicas']}P{best['decode_replicas']}D",
        "--prefill-tp",
        str(best["tp"]),
        "--decode-tp",
        str(best["tp"]),
        "--format",
        "json",
    )
    assert code == 0
    level = json.loads(stdout)["levels"][0]
    assert level["ttft_s"]["p90"] == best["sim_ttft_p90_s"]
    assert level["tpot_s"]["p90"] == best["sim_tpot_p90_s"]


def test_the_table_has_one_line_and_the_json_loads_typed(capsys, tmp_path):
    code, stdout, _ = run_cli(capsys, "plan", *EXAMPLE, "--disaggregate", "--gpu-hour-cost", "1.8")
    assert code == 0
    lines = [line for line in stdout.splitlines() if line.startswith("disaggregated: ")]
    assert len(lines) == 1 and "vs aggregated" in lines[0] and "$" in lines[0]
    code, stdout, _ = run_cli(capsys, "plan", *EXAMPLE, "--disaggregate", "--format", "json")
    path = tmp_path / "plan.json"
    path.write_text(stdout)
    record = load(path)
    assert record.disaggregated.best.id == json.loads(stdout)["disaggregated"]["best"]["id"]
    assert (
        record.to_dict()["disaggregated"]["tried"] == json.loads(stdout)["disaggregated"]["tried"]
    )


def test_without_the_flag_the_plan_is_unchanged(capsys, tmp_path):
    plain = plan(_request()).to_dict()
    searched = plan(_request(), disaggregate=True).to_dict()
    assert "disaggregated" not in plain
    assert {k: v for k, v in searched.items() if k != "disaggregated"} == plain
    code, stdout, _ = run_cli(capsys, "plan", *EXAMPLE, "--format", "json")
    assert code == 0
    code, with_flag, _ = run_cli(capsys, "plan", *EXAMPLE, "--disaggregate", "--format", "json")
    searched_json = json.loads(with_flag)
    assert searched_json.pop("disaggregated")["best"] is not None
    assert searched_json == json.loads(stdout)
    path = tmp_path / "old.json"
    path.write_text(stdout)
    assert load(path).disaggregated is None


def test_disaggregate_needs_a_rate(capsys):
    code, _, stderr = run_cli(
        capsys, "plan", "-m", "llama-3-70b", "-H", "a100", "--disaggregate", "--format", "json"
    )
    assert code == 2 and "--disaggregate needs --rate" in stderr
