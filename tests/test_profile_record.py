"""``llmroof.measure.profile_record``: the one way single-device and parallel runs assemble ``llmroof.profile/1``."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from llmroof.analytic import Workload, analyze
from llmroof.measure import profile_record
from llmroof.measure.profile_record import ProfileRun, timing_stats
from llmroof.results.records.profile import ConfigResult, NvmlSampling, ProfileRecord, ProfileWorkload
from llmroof.specs.dtypes import Precision
from llmroof.specs.hardware import get_hardware
from llmroof.specs.model import get_model


def _started() -> ProfileRecord:
    """A run that has just started, as ``header`` builds it (a fake CPU device)."""
    device = SimpleNamespace(kind="cpu", index=None, name="fake cpu", cache_bytes=2**20, is_cuda=False,
                             torch=SimpleNamespace(__version__="0", get_num_threads=lambda: 1))
    workload = ProfileWorkload(batches=(1,), prompt_len=8, contexts=(16,), dtype="fp32", layers_instantiated=1,
                               layers_total=2, extrapolated=True)
    return profile_record.header(device, get_model("llama-3.2-1b"), workload, ["llmroof"],
                                 NvmlSampling(status="off: test", source=None), notes=())


def _run() -> tuple[ProfileRun, list[dict]]:
    saved: list[dict] = []
    run = ProfileRun(lambda record: saved.append(record), _started())
    return run, saved


def test_the_started_record_is_a_profile_record_whose_schema_only_to_dict_writes() -> None:
    record = _started()
    assert record.status == "running" and record.configs == () and record.device.name == "fake cpu"
    assert record.model.attention == "gqa" and record.model.spec["num_layers"] == 16
    data = record.to_dict()
    assert list(data)[:2] == ["schema", "status"] and data["schema"] == "llmroof.profile/1"
    assert ProfileRecord.from_dict(data) == record and data["hardware"] is None and data["notes"] == []
    assert "calibration" not in data and "ceilings" not in data  # not known yet: left out, not null


def test_a_finished_run_is_complete_and_saved() -> None:
    run, saved = _run()
    config = ConfigResult(phase="decode", batch=1, context_len=16, status="skipped", reason="too big")
    with run.recording(lambda: run.advance(notes=("finished",))):
        run.add(config)
    assert saved[-2]["status"] == "running" and saved[-2]["configs"] == [config.to_dict()]
    assert saved[-1]["status"] == "complete" and saved[-1]["notes"] == ["finished"]
    assert ProfileRecord.from_dict(saved[-1]) == run.record and run.record.configs == (config,)


@pytest.mark.parametrize(("raised", "status"), [(KeyboardInterrupt, "interrupted"), (RuntimeError, "failed")])
def test_a_stopped_run_says_why_and_keeps_what_it_had(raised, status) -> None:
    run, saved = _run()
    config = ConfigResult(phase="decode", batch=1, context_len=16, status="ok", time_s=0.5)
    with pytest.raises(raised), run.recording():
        run.add(config)
        raise raised("stop")
    assert saved[-1]["status"] == status and saved[-1]["configs"] == [config.to_dict()]
    assert ("error" in saved[-1]) is (status == "failed") and run.record.status == status
    assert run.record.error == (f"{raised.__name__}: stop" if status == "failed" else None)


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
