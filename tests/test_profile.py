"""``llmroof profile`` end to end at tiny shapes on the CPU: results contents, extrapolation, interruption,
out-of-memory and skipped configurations, the CLI, and (marked ``cuda``) the GPU path."""

from __future__ import annotations


import dataclasses
import json

import pytest
from cli_runner import run_cli

from llmroof.errors import LlmroofError
from llmroof.measure import profile as profile_module
from llmroof.measure.device import open_device
from llmroof.measure.profile import ProfileConfig, match_hardware, profile
from llmroof.results.io import read_json
from llmroof.results.records.profile import ConfigResult, ProfileRecord
from llmroof.specs import get_model
from llmroof.specs.dtypes import Precision
from llmroof.results.save import saver

TINY = dataclasses.replace(get_model("llama-3-8b"), name="tiny", hidden_size=64, num_layers=3, num_heads=8,
                           num_kv_heads=2, head_dim=16, intermediate_size=128, vocab_size=256)


def tiny_config(**changes) -> ProfileConfig:
    values = dict(model=TINY, batches=(1, 2), prompt_len=8, contexts=(16,), layers=1, dtype="fp32",
                  warmup_ms=1.0, rep_ms=3.0)
    values.update(changes)
    return ProfileConfig(**values)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("run") / "results.json"
    record = profile(tiny_config(), open_device("cpu"), saver(path))
    assert isinstance(record, ProfileRecord)  # the run returns its record; the tests read its JSON
    return record.to_dict(), path


def test_results_file_holds_every_configuration(tiny_run) -> None:
    record, path = tiny_run
    assert read_json(path, "llmroof.profile/") == json.loads(json.dumps(record))
    assert record["schema"] == "llmroof.profile/1" and record["status"] == "complete"
    env = record["environment"]
    for key in ("llmroof_version", "command_line", "time_utc", "host", "os", "python", "torch", "device_name",
                "cpu_model", "threads"):
        assert key in env
    phases = [(c["phase"], c["batch"]) for c in record["configs"]]
    assert phases == [("prefill", 1), ("prefill", 2), ("decode", 1), ("decode", 2)]
    assert all(c["status"] == "ok" for c in record["configs"])


def test_ceilings_are_measured(tiny_run) -> None:
    ceilings = tiny_run[0]["ceilings"]
    assert ceilings["measured_bandwidth_bytes_per_s"] > 1e8
    assert ceilings["measured_copy_bandwidth_bytes_per_s"] > 1e8
    assert ceilings["measured_flops_per_s"] > 1e8
    # The DRAM roof is the best figure of any pattern beyond the last-level cache, not one probe.
    beyond = [f for f in ceilings["bandwidth"] if f["working_set_bytes"] >= 4 * max(ceilings["cache_capacity_bytes"].values())]
    assert ceilings["memory_bandwidth_bytes_per_s"] == max(f["best_bytes_per_s"] for f in beyond)
    assert ceilings["measured_bandwidth_bytes_per_s"] == ceilings["memory_bandwidth_bytes_per_s"]
    assert ceilings["measured_flops_per_s"] == ceilings["compute_flops_per_s"]["fp32"]
    calibration = tiny_run[0]["calibration"]
    assert calibration["status"] in ("measured", "reused") and calibration["fingerprint"]["plan"] == "quick"
    assert set(calibration["drift"]) == {"start", "end"}
    assert {"read", "copy"} <= set(calibration["drift"]["end"]["probes"])
    roofline = tiny_run[0]["roofline"]
    assert roofline["datasheet"] is None  # a CPU has no catalog peaks: the measured ceilings are the roofline
    assert roofline["measured"]["bandwidth_bytes_per_s"] == ceilings["measured_bandwidth_bytes_per_s"]


def test_measured_figures_sit_beside_the_analytic_ones(tiny_run) -> None:
    record = tiny_run[0]
    decode = next(c for c in record["configs"] if c["phase"] == "decode" and c["batch"] == 2)
    # Extrapolation from 1 instantiated layer to the model's 3.
    assert decode["time_s"] == pytest.approx(decode["stack"]["median_s"] + 2 * decode["layer"]["median_s"])
    assert decode["tpot_s"] == decode["time_s"]
    assert decode["tokens_per_s"] == pytest.approx(2 / decode["tpot_s"])
    analytic = decode["analytic"]
    assert decode["roofline_fraction"] == pytest.approx(decode["roofline_time_s"] / decode["time_s"])
    assert decode["achieved_bytes_per_s"] == pytest.approx(analytic["bytes"] / decode["time_s"])
    assert decode["bytes_per_token"] == pytest.approx(analytic["bytes"] / 2)
    assert len(decode["stack"]["samples_s"]) == decode["stack"]["n"] >= 3
    names = [op["name"] for op in decode["ops"]]
    assert {"attn.scores", "attn.softmax", "attn.context", "lm_head"} <= set(names)
    for op in decode["ops"]:
        assert op["median_s"] > 0 and op["samples_s"]
        # Hierarchical roofline: tiny ops fit a cache, and are set against that level's roof.
        assert op["roofline_fraction"] == pytest.approx(op["roof_time_s"] / op["median_s"])
        assert op["roof_level"] in record["ceilings"]["cache_capacity_bytes"]
        assert op["roof_time_s"] <= op["time_s"] * (1 + 1e-9)  # a cache roof is never below the DRAM roof
        assert op["achieved_bytes_per_s"] == pytest.approx(op["bytes"] / op["median_s"])
    prefill = next(c for c in record["configs"] if c["phase"] == "prefill")
    assert "attn.flash" in {op["name"] for op in prefill["ops"]}
    assert prefill["ttft_s"] == prefill["time_s"]


def test_bound_is_the_fused_traffic_and_the_timed_eager_ops_sit_beside(tiny_run) -> None:
    """% of roofline is against the minimum-traffic (fused) bound; the per-op rows are the eager ops the
    kernels ran, and their totals are the ``analytic.eager`` figures."""
    from llmroof.analytic import analyze
    from llmroof.measure.profile import profile_workload
    from llmroof.specs import get_hardware

    record = tiny_run[0]
    config = tiny_config()
    for c in record["configs"]:
        length = c.get("prompt_len", c.get("context_len"))
        workload = profile_workload(config, c["phase"], c["batch"], length)
        assert workload.implementation == "fused"
        fused = getattr(analyze(config.model, get_hardware("h100"), workload), c["phase"])  # counts: any roof
        assert (c["analytic"]["flops"], c["analytic"]["bytes"]) == (fused.totals.flops, fused.totals.bytes)
        assert c["roofline_time_s"] == pytest.approx(c["analytic"]["time_s"])  # one rank: no comm
        eager = c["analytic"]["eager"]
        assert c["eager_roofline_time_s"] == pytest.approx(eager["time_s"]) and eager["time_s"] >= fused.time_s
        assert eager["bytes"] > c["analytic"]["bytes"]
        # The per-op rows are the eager set, named as the kernels are; their instances add up to its totals.
        assert sum(op["bytes"] * op["count"] for op in c["ops"]) == pytest.approx(eager["bytes"])
        assert "attn.qkv" not in {op["name"] for op in c["ops"]}
    assert record["workload"]["extrapolated"] and record["workload"]["layers_instantiated"] == 1


def test_nvml_is_off_on_the_cpu_and_says_so(tiny_run) -> None:
    assert tiny_run[0]["nvml"] == {"status": "off: NVML samples GPUs, and this run is on the CPU", "source": None}


def test_crossover_is_reported_next_to_the_analytic_one(tiny_run) -> None:
    from llmroof.analytic import Workload, analyze
    from llmroof.measure.profile import measured_hardware

    record = tiny_run[0]
    rows = record["crossover"]["decode"]
    assert rows[0]["context_len"] == 16 and rows[0]["batches_measured"] == [1, 2]
    decode = [c for c in record["configs"] if c["phase"] == "decode"]
    compute_bound = [c["batch"] for c in decode if c["bound_measured"] == "compute"]
    assert rows[0]["measured_batch"] == (min(compute_bound) if compute_bound else None)
    # The analytic batch, recomputed from the file's own ceilings: decode at c=16 on the measured roofline.
    measured = measured_hardware(open_device("cpu"), ProfileRecord.from_dict(record).ceilings, "fp32", None)
    expected = analyze(TINY, measured, Workload(context_len=16, prompt_len=1, precision=Precision.uniform("fp32")))
    assert rows[0]["analytic_batch"] == expected.compute_bound_batch()
    for c in decode:  # and the measured verdict is the larger share of its ceiling
        shares = (c["achieved_flops_per_s"] / record["ceilings"]["measured_flops_per_s"],
                  c["achieved_bytes_per_s"] / record["ceilings"]["measured_bandwidth_bytes_per_s"])
        assert c["bound_measured"] == ("compute" if shares[0] > shares[1] else "memory")


def test_interrupt_keeps_finished_configurations(tmp_path) -> None:
    path = tmp_path / "results.json"
    seen = []

    def progress(message: str) -> None:
        seen.append(message)
        if message.startswith("decode"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        profile(tiny_config(per_op=False), open_device("cpu"), saver(path), progress)
    record = read_json(path)
    assert record["status"] == "interrupted"
    assert [c["phase"] for c in record["configs"]] == ["prefill", "prefill"]
    assert all("time_s" in c for c in record["configs"])


def test_out_of_memory_is_recorded_and_the_run_goes_on(monkeypatch) -> None:
    # The KV cache of decode b=2 cannot be allocated: torch's own CPU allocator error (100 TB asked for).
    import torch

    from llmroof.kernels.layers import DecoderStack

    real = DecoderStack.new_cache

    def new_cache(self, batch, length):
        if (batch, length) == (2, 16):
            torch.empty(10**14, dtype=torch.uint8)
        return real(self, batch, length)

    monkeypatch.setattr(DecoderStack, "new_cache", new_cache)
    record = profile(tiny_config(per_op=False), open_device("cpu"), None)
    assert [(c.phase, c.batch, c.status) for c in record.configs] == [
        ("prefill", 1, "ok"), ("prefill", 2, "ok"), ("decode", 1, "ok"), ("decode", 2, "failed")]
    failed = record.configs[3]
    assert set(failed.to_dict()) == {"phase", "batch", "context_len", "status", "reason"}
    assert failed.reason is not None and failed.reason.startswith("out of memory: ")
    assert "DefaultCPUAllocator" in failed.reason and record.status == "complete"
    assert record.crossover is not None and record.crossover.decode is not None
    assert record.crossover.decode[0].batches_measured == (1,)  # the failed batch is not counted


def test_a_kernel_failure_marks_the_run_failed_and_keeps_the_file(tmp_path, monkeypatch) -> None:
    from llmroof.kernels.layers import DecoderStack

    def prefill(self, tokens, cache):
        raise ValueError("shape mismatch in a kernel")

    monkeypatch.setattr(DecoderStack, "prefill", prefill)
    path = tmp_path / "r.json"
    with pytest.raises(ValueError, match="shape mismatch"):
        profile(tiny_config(per_op=False), open_device("cpu"), saver(path))
    record = read_json(path)
    assert record["status"] == "failed" and record["error"] == "ValueError: shape mismatch in a kernel"
    assert record["configs"] == []  # nothing finished
    assert record["ceilings"]["measured_flops_per_s"] > 0  # what was measured is kept


def test_configurations_that_cannot_fit_are_skipped(tmp_path, monkeypatch) -> None:
    device = open_device("cpu")
    weights = profile_module.weights_bytes(tiny_config())
    monkeypatch.setattr(type(device), "memory_bytes", lambda self: (int(weights * 1.5), 2**34))
    record = profile(tiny_config(per_op=False, contexts=(16, 10**6)), device, None)
    skipped = [c for c in record.configs if c.status == "skipped"]
    assert skipped and all(c.context_len == 10**6 for c in skipped)
    assert "GiB free" in (skipped[0].reason or "")


def test_weights_that_cannot_fit_stop_before_allocating(tmp_path, monkeypatch) -> None:
    device = open_device("cpu")
    monkeypatch.setattr(type(device), "memory_bytes", lambda self: (1024, 2**34))
    with pytest.raises(LlmroofError, match="--layers"):
        profile(tiny_config(), device, None)


def test_config_validation() -> None:
    with pytest.raises(LlmroofError, match="torch kernels run in"):
        tiny_config(dtype="int8")
    with pytest.raises(LlmroofError, match="has 3 layers"):
        tiny_config(layers=4)


@pytest.mark.parametrize(("name", "entry"), [("NVIDIA H100 80GB HBM3", "h100-sxm"), ("NVIDIA H100 PCIe", "h100-pcie"),
                                             ("NVIDIA A100-SXM4-80GB", "a100-sxm-80gb"), ("NVIDIA L4", "l4"),
                                             ("NVIDIA L40S", "l40s"), ("NVIDIA H200", "h200-sxm"),
                                             ("Tesla T4", None)])
def test_gpu_names_match_catalog_entries(name, entry) -> None:
    match = match_hardware(name)
    assert (match.name if match else None) == entry




def test_cli_profile_json_and_table(capsys, tmp_path, tiny_config_json) -> None:
    base = ["profile", "--model", str(tiny_config_json), "--layers", "1", "--batch", "1", "--prompt", "8",
            "--context", "16", "--dtype", "fp32", "--warmup-ms", "1", "--rep-ms", "3"]
    code, out, _ = run_cli(capsys, *base, "--out", str(tmp_path / "a"), "--format", "json")
    assert code == 0
    printed = json.loads(out)
    assert printed == read_json(tmp_path / "a" / "results.json")
    assert printed["status"] == "complete"
    code, out, _ = run_cli(capsys, *base, "--no-per-op", "--out", str(tmp_path / "b"))
    assert code == 0
    for text in ("Calibrated ceilings", "Calibration: ", "Decode", "Prefill", "% of roofline",
                 "measured ceilings are the roofline",
                 "Results:"):
        assert text in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "cuda"], "no CUDA device"),
        (["--dtype", "int8"], "torch kernels run in"),
        (["--kv-dtype", "fp8"], "keep the KV cache in --dtype"),
        (["--layers", "99"], "has 2 layers"),
        (["--batch", "a,b"], "expected positive integers"),
        (["--context", "0"], "expected positive integers"),
    ],
)
def test_cli_profile_bad_input(capsys, tmp_path, tiny_config_json, args, message) -> None:
    code, _, err = run_cli(capsys, "profile", "--model", str(tiny_config_json), "--out", str(tmp_path), *args)
    assert code == 2 and message in err and "Traceback" not in err


@pytest.mark.cuda
def test_profile_on_a_real_gpu_with_cuda_graphs(tmp_path) -> None:
    device = open_device("cuda")
    record = profile(tiny_config(dtype="bf16", cuda_graphs=True), device, None)
    decode = [c for c in record["configs"] if c["phase"] == "decode"]
    assert record["status"] == "complete" and all(c["cuda_graph"] for c in decode)
    assert record["environment"]["cuda"] is not None
    assert record["ceilings"]["measured_bandwidth_bytes_per_s"] > 1e11


@pytest.mark.cuda
def test_l2_flush_and_events_on_a_real_gpu() -> None:
    import torch

    from llmroof.measure.timer import bench

    device = open_device("cuda")
    x = torch.ones(2**20, device="cuda")
    samples = bench(lambda: x.sum(), device, warmup_ms=1, rep_ms=5)
    assert len(samples) >= 3 and all(0 < s < 0.1 for s in samples)
    assert device.cache_bytes > 2**20


def test_summary_survives_a_context_where_every_batch_was_skipped(capsys, tmp_path, tiny_config_json, monkeypatch) -> None:
    from llmroof.cli.render import console
    from llmroof.report.console.profile import print_summary
    from llmroof.results.records import ProfileRecord

    record = ProfileRecord.from_dict({
        "schema": "llmroof.profile/1", "status": "complete", "environment": {}, "hardware": None,
        "model": {"name": "tiny", "attention": "gqa", "spec": {}},
        "device": {"name": "cpu", "kind": "cpu", "cache_bytes": 2**20},
        "workload": {"batches": [64], "prompt_len": 8, "contexts": [131072], "dtype": "fp32",
                     "layers_instantiated": 1, "layers_total": 2, "extrapolated": True},
        "ceilings": {"method": "calibrated", "measured_bandwidth_bytes_per_s": 1e10,
                     "measured_copy_bandwidth_bytes_per_s": 1e10, "measured_flops_per_s": 1e11,
                     "compute_dtype": "fp32"},
        "roofline": {"measured": {"peak_flops_per_s": 1e11, "bandwidth_bytes_per_s": 1e10, "label": "measured"},
                     "datasheet": None},
        "nvml": {"status": "off"},
        "configs": [{"phase": "decode", "batch": 64, "context_len": 131072, "status": "skipped",
                     "reason": "needs about 9 GiB"}],
        "crossover": {"decode": [{"context_len": 131072, "measured_batch": None, "analytic_batch": None,
                                  "batches_measured": []}]},
        "notes": ["a note"]})
    print_summary(record, tmp_path / "results.json", console())
    out = capsys.readouterr().out
    assert "skipped: needs about 9 GiB" in out and "note: a note" in out


def test_ceiling_notes_flag_runs_faster_than_the_roofline() -> None:
    ok = ConfigResult(status="ok", phase="prefill", batch=4, prompt_len=128)
    skipped = ConfigResult(status="skipped", phase="prefill", batch=8, prompt_len=128)
    assert profile_module.ceiling_notes([dataclasses.replace(ok, roofline_fraction=0.9)]) == []
    notes = profile_module.ceiling_notes([dataclasses.replace(ok, roofline_fraction=1.44), skipped])
    assert len(notes) == 1 and "144%" in notes[0] and "measured low" in notes[0]


def test_cpu_default_instantiates_two_layers_of_a_named_model(capsys, tmp_path, tiny_config_json) -> None:
    config = json.loads(tiny_config_json.read_text()) | {"num_hidden_layers": 5}
    tiny_config_json.write_text(json.dumps(config))
    code, out, _ = run_cli(capsys, "profile", "--model", str(tiny_config_json), "--batch", "1", "--prompt", "8",
                           "--context", "16", "--dtype", "fp32", "--warmup-ms", "1", "--rep-ms", "3", "--no-per-op",
                           "--out", str(tmp_path / "r"), "--format", "json")
    workload = json.loads(out)["workload"]
    assert code == 0 and workload["layers_instantiated"] == 2 and workload["layers_total"] == 5


def test_tp_simulate_on_a_cpu_needs_a_catalog_link(capsys, tmp_path, tiny_config_json) -> None:
    code, _, err = run_cli(capsys, "profile", "--model", str(tiny_config_json), "--tp-simulate", "2",
                           "--out", str(tmp_path))
    assert code == 2 and "--tp-simulate on a CPU needs --hardware" in err


def test_what_the_profiler_writes_reads_back_as_its_record(tiny_run) -> None:
    from llmroof.results.records import ProfileRecord

    record, path = tiny_run
    run = ProfileRecord.from_dict(read_json(path))
    assert run.to_dict() == json.loads(json.dumps(record)) and not run.extra  # every key is a field
    assert all(not c.extra and not (c.analytic and c.analytic.extra) for c in run.configs)
    parts = (run.device, run.model, run.workload, run.nvml, run.ceilings, run.roofline, run.crossover)
    assert [type(p).__name__ for p in parts if p is None or p.extra] == []  # declared, every one
    assert [c.label for c in run.configs] == ["prefill b=1 s=8", "prefill b=2 s=8", "decode b=1 c=16",
                                              "decode b=2 c=16"]
