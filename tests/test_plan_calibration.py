"""Calibration of a plan by a profile results file: which profiles may calibrate which devices, what the
measured efficiencies change, and a real (tiny, CPU) profile read back."""

from __future__ import annotations


import dataclasses
import json
from pathlib import Path

import pytest

from llmroof.errors import LlmroofError
from llmroof.plan import PlanRequest, calibration_from_profile, plan, read_calibration
from llmroof.plan.calibration import match_calibrations
from llmroof.specs import get_hardware, get_model
from llmroof.results.save import saver

H100 = get_hardware("h100-sxm")
A100 = get_hardware("a100-sxm-80gb")
LLAMA3_8B = get_model("llama-3-8b")
RUN = Path(__file__).parent / "data" / "v0.1.0" / "profile.json"


def profile_record(hardware: str | None = "h100-sxm", kind: str = "cuda", decode=(0.5, 0.6, 0.7),
                   prefill=(0.25,), dtype: str = "bf16") -> dict:
    """A results file as ``llmroof profile`` writes it (0.1.0's, of tests/data), with the device, the
    datasheet entry and the configurations' datasheet fractions set here."""
    record = json.loads(RUN.read_text())
    ok = next(c for c in record["configs"] if c["phase"] == "decode" and c["status"] == "ok")
    configs = [ok | {"batch": i + 1, "roofline_fraction": f * 2, "datasheet_roofline_fraction": f}
               for i, f in enumerate(decode)]
    configs += [record["configs"][0] | {"datasheet_roofline_fraction": f} for f in prefill]
    configs.append({"phase": "decode", "batch": 64, "context_len": 16, "status": "skipped",
                    "reason": "needs about 90 GiB"})
    record["device"] |= {"kind": kind, "name": "NVIDIA H100 80GB HBM3" if kind == "cuda" else "AMD EPYC"}
    record["hardware"] = None if hardware is None else get_hardware(hardware).to_dict()
    record["workload"]["dtype"] = dtype
    record["configs"] = configs
    return record


def write(tmp_path, record, name="results.json"):
    path = tmp_path / name
    path.write_text(json.dumps(record))
    return path


def test_efficiencies_are_the_median_datasheet_fractions(tmp_path) -> None:
    cal = read_calibration(write(tmp_path, profile_record()))
    assert cal.hardware == "h100-sxm"
    assert cal.decode_efficiency == 0.6  # datasheet_roofline_fraction, not the measured-ceiling fraction
    assert cal.prefill_efficiency == 0.25
    assert cal.decode_range == (0.5, 0.7) and cal.decode_samples == 3 and cal.prefill_samples == 1


def test_calibration_divides_kernel_times_by_the_efficiency() -> None:
    base = dict(model=LLAMA3_8B, hardware=(H100,), prompt_len=512, output_len=128, max_gpus_per_replica=1)
    cal = calibration_from_profile(profile_record(decode=(0.5,), prefill=(0.25,)), "profile.json")
    plain = {c.concurrent_sequences: c for c in plan(PlanRequest(**base)).configs}
    calibrated = {c.concurrent_sequences: c for c in plan(PlanRequest(**base, calibration={"h100-sxm": cal})).configs}
    for b in (1, 8, 64):
        p, c = plain[b], calibrated[b]
        # tp = pp = 1: no links, so every decode step takes twice as long and every prefill four times.
        assert c.decode_step_s == pytest.approx(2 * p.decode_step_s)
        assert c.prefill_s == pytest.approx(4 * p.prefill_s)
        assert c.tpot_s == pytest.approx(2 * p.decode_step_s + b / 128 * 4 * p.prefill_s)
        assert c.weight_bytes_per_gpu == p.weight_bytes_per_gpu  # memory is not calibrated
        assert c.max_concurrent_sequences == p.max_concurrent_sequences


def test_a_profile_without_prefill_leaves_prefill_uncalibrated() -> None:
    cal = calibration_from_profile(profile_record(prefill=()), "p.json")
    assert cal.prefill_efficiency is None
    base = dict(model=LLAMA3_8B, hardware=(H100,), max_gpus_per_replica=1)
    plain = plan(PlanRequest(**base)).configs[0]
    result = plan(PlanRequest(**base, calibration={"h100-sxm": cal}))
    assert result.configs[0].prefill_s == pytest.approx(plain.prefill_s)
    assert any("uncalibrated (the profile timed no prefill)" in w for w in result.warnings)


def test_a_cpu_profile_does_not_calibrate_a_gpu_plan(tmp_path) -> None:
    with pytest.raises(LlmroofError, match="measured on AMD EPYC, the CPU"):
        read_calibration(write(tmp_path, profile_record(hardware=None, kind="cpu")))
    # Even one run with a GPU's datasheet beside it (llmroof profile --hardware h100 on a CPU).
    with pytest.raises(LlmroofError, match="the CPU"):
        read_calibration(write(tmp_path, profile_record(kind="cpu")))


def test_an_unmatched_gpu_does_not_calibrate() -> None:
    with pytest.raises(LlmroofError, match="matches no catalog entry"):
        calibration_from_profile(profile_record(hardware=None), "p.json")


def test_a_profile_of_another_device_is_refused() -> None:
    cal = calibration_from_profile(profile_record(hardware="a100-sxm-80gb"), "a100.json")
    with pytest.raises(LlmroofError, match="a profile of a100-sxm-80gb .* cannot calibrate a plan for h100-sxm"):
        match_calibrations(["h100-sxm"], [cal])


def test_every_planned_device_needs_its_profile() -> None:
    cal = calibration_from_profile(profile_record(), "h100.json")
    with pytest.raises(LlmroofError, match="no profile of a100-sxm-80gb"):
        match_calibrations(["h100-sxm", "a100-sxm-80gb"], [cal])
    with pytest.raises(LlmroofError, match="both profile h100-sxm"):
        match_calibrations(["h100-sxm"], [cal, dataclasses.replace(cal, source="again.json")])
    assert match_calibrations(["h100-sxm"], [cal]) == {"h100-sxm": cal}
    assert match_calibrations(["h100-sxm"], []) == {}
    with pytest.raises(ValueError, match="none was given for a100"):
        PlanRequest(model=LLAMA3_8B, hardware=(H100, A100), calibration={"h100-sxm": cal})


def test_a_profile_with_no_completed_decode_is_refused() -> None:
    with pytest.raises(LlmroofError, match="no completed decode measurement"):
        calibration_from_profile(profile_record(decode=()), "p.json")


def test_a_truncated_profile_is_a_user_error(tmp_path) -> None:
    record = profile_record()
    del record["configs"][0]["status"]
    with pytest.raises(LlmroofError, match=r"configs\[0\]: the key 'status' is missing"):
        read_calibration(write(tmp_path, record))


def test_not_a_profile_is_refused(tmp_path) -> None:
    with pytest.raises(LlmroofError, match="expected llmroof.profile/"):
        read_calibration(write(tmp_path, {"schema": "llmroof.analysis/1"}))
    with pytest.raises(LlmroofError, match="no such file"):
        read_calibration(tmp_path / "missing.json")


def test_dtype_mismatch_is_noted() -> None:
    cal = calibration_from_profile(profile_record(dtype="fp16"), "p.json")
    result = plan(PlanRequest(model=LLAMA3_8B, hardware=(H100,), max_gpus_per_replica=1,
                              calibration={"h100-sxm": cal}))
    assert any("computed in fp16, the plan in bf16" in w for w in result.warnings)
    assert result.to_dict()["calibration"]["h100-sxm"]["decode_efficiency"] == 0.6


@pytest.mark.slow
def test_a_real_profile_file_reads_back(tmp_path) -> None:
    """A tiny CPU profile, as ``llmroof profile`` writes it: refused (CPU), yet its fields are the ones
    calibration reads (the datasheet fractions exist when a datasheet entry is given)."""
    pytest.importorskip("torch")
    from llmroof.measure.device import open_device
    from llmroof.measure.profile import ProfileConfig, profile

    tiny = dataclasses.replace(LLAMA3_8B, name="tiny", hidden_size=64, num_layers=2, num_heads=8, num_kv_heads=2,
                               head_dim=8, intermediate_size=128, vocab_size=256)
    config = ProfileConfig(model=tiny, batches=(1, 2), prompt_len=8, contexts=(16,), layers=1, dtype="fp32",
                           warmup_ms=1.0, rep_ms=2.0, per_op=False, hardware=H100)
    path = tmp_path / "results.json"
    profile(config, open_device("cpu"), saver(path))
    with pytest.raises(LlmroofError, match="the CPU"):
        read_calibration(path)
    record = json.loads(path.read_text())
    record["device"]["kind"] = "cuda"  # as if it had run on the H100 its datasheet names
    cal = calibration_from_profile(record, str(path))
    fractions = sorted(c["datasheet_roofline_fraction"] for c in record["configs"] if c["phase"] == "decode")
    assert cal.hardware == "h100-sxm" and cal.decode_samples == 2
    assert cal.decode_efficiency == pytest.approx(sum(fractions) / 2)
    assert cal.prefill_samples == 2
