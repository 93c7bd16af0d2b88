"""``llmroof.measure.profile_record``: the one way single-device and parallel runs assemble ``llmroof.profile/1``."""

from __future__ import annotations

import pytest

from llmroof.analytic import Workload, analyze
from llmroof.measure import profile_record
from llmroof.measure.profile_record import ProfileRun, timing_stats
from llmroof.specs.dtypes import Precision
from llmroof.specs.hardware import get_hardware
from llmroof.specs.model import get_model


def _run() -> tuple[ProfileRun, list[dict]]:
    saved: list[dict] = []
    run = ProfileRun(lambda record: saved.append(dict(record)), {"status": "running"})
    return run, saved


def test_a_finished_run_is_complete_and_saved() -> None:
    run, saved = _run()
    with run.recording(lambda: run.record.update(finished=True)):
        run.record["configs"] = []
    assert saved[-1] == {"status": "complete", "configs": [], "finished": True}


@pytest.mark.parametrize(("raised", "status"), [(KeyboardInterrupt, "interrupted"), (RuntimeError, "failed")])
def test_a_stopped_run_says_why_and_keeps_what_it_had(raised, status) -> None:
    run, saved = _run()
    with pytest.raises(raised), run.recording():
        run.record["configs"] = [{"phase": "decode"}]
        raise raised("stop")
    assert saved[-1]["status"] == status and saved[-1]["configs"] == [{"phase": "decode"}]
    assert ("error" in saved[-1]) is (status == "failed")


def test_per_token_figures_of_each_phase() -> None:
    decode = profile_record.per_token("decode", 4, 2048, 0.02, 8e9)
    assert decode == {"tpot_s": 0.02, "tokens_per_s": 200.0, "bytes_per_token": 2e9}
    prefill = profile_record.per_token("prefill", 2, 128, 0.5, 1e9)
    assert prefill == {"ttft_s": 0.5, "tokens_per_s": 512.0, "bytes_per_token": 1e9 / 256}
    assert profile_record.config_head("prefill", 2, 128) == {"phase": "prefill", "batch": 2, "prompt_len": 128}


def test_op_rows_set_the_roof_time_against_the_measured_median() -> None:
    analysis = analyze(get_model("llama-3.2-1b"), get_hardware("h100"),
                       Workload(batch=1, prompt_len=1, context_len=512, precision=Precision.uniform("bf16")))
    op = analysis.decode.ops[0]
    untimed = profile_record.op_row(op, analysis.decode.roofline, None)
    assert untimed.name == op.name and untimed.roofline_fraction is None and untimed.median_s is None
    assert "roofline_fraction" not in untimed.to_dict()
    time_s = untimed.time_s
    row = profile_record.op_row(op, analysis.decode.roofline, timing_stats([2 * time_s]))
    assert row.roofline_fraction == pytest.approx(0.5) and row.median_s == 2 * time_s
    assert row.achieved_bytes_per_s == pytest.approx(op.bytes / (2 * time_s))
    placed = profile_record.op_row(op, analysis.decode.roofline, timing_stats([time_s]), roof_time_s=time_s / 4)
    assert placed.roofline_fraction == pytest.approx(0.25) and placed.roof_time_s == time_s / 4
    assert placed.extra == {}  # every key of the row is a declared field
