"""``llmroof trace``: GPU-format traces written by a generator (tests/trace_gen.py) from the documented formats and
real kernel names, attributed exactly; the same kernels as an nsys SQLite export give the same result; bad input is
one line and exit 2."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

import pytest
from cli_runner import run_cli
from trace_gen import SPLITK, K, write_kineto, write_nsys

from llmroof.results.records import TraceRecord, load
from llmroof.specs.model import get_model
from llmroof.trace import TraceOptions, run_trace
from llmroof.trace.rules import Classifier

LLAMA = get_model("llama-3.2-1b")
MIXTRAL = get_model("mixtral-8x7b")
STEPS = [
    {
        "phase": "prefill",
        "batch": 1,
        "tokens": 512,
        "name": "execute_context_1(512)_generation_0(0)",
    },
    {"phase": "decode", "batch": 8, "tokens": 8, "name": "execute_context_0(0)_generation_8(8)"},
    {"phase": "decode", "batch": 8, "tokens": 8, "name": "execute_context_0(0)_generation_8(8)"},
]
SCENARIOS = {
    "eager with shapes": dict(),
    "cuda-graph replay, no cpu_ops": dict(graphs=True),
    "split-K GEMMs, TP all-reduce on a second stream": dict(split_k=True, allreduce=True, tp=2),
    "older spellings, gzipped": dict(old_spelling=True, gz=True),
    "graphs, split-K and TP together": dict(graphs=True, split_k=True, allreduce=True, tp=2),
}


def _check_exact(written, record: TraceRecord, model) -> None:
    expected = written.op_times_us()
    got = {(o.op, o.phase): o.time_s * 1e6 for o in record.ops}
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-9), key
    for op in record.ops:  # every per-layer op once per layer and step
        steps = sum(1 for s in written.steps if s["phase"] == op.phase)
        per_layer = op.op not in ("embed", "final_norm", "lm_head")
        assert op.count == (model.num_layers if per_layer else 1) * steps, op.op
        assert op.layers == (model.num_layers if per_layer else 0)
    categories = {name: category for name, _, category, _, _ in written.kernels}
    for kernel in record.kernels:
        assert kernel.category == categories[kernel.name], kernel.name
    unattributed = sum(d for _, op, _, d, _ in written.kernels if op is None)
    assert record.coverage.unattributed_s * 1e6 == pytest.approx(unattributed)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_generated_gpu_traces_are_attributed_exactly(tmp_path, scenario) -> None:
    kw = SCENARIOS[scenario]
    path = tmp_path / ("trace.json.gz" if kw.get("gz") else "trace.json")
    written = write_kineto(path, LLAMA, STEPS, **kw)
    record = run_trace([path], TraceOptions(model=LLAMA, context=1024, tp=kw.get("tp")))
    _check_exact(written, record, LLAMA)
    assert record.hardware.name == "h100-sxm" and record.hardware.source == "datasheet"
    assert [(s.phase, s.batch, s.source) for s in record.steps] == [
        ("prefill", 1, "annotation"),
        ("decode", 8, "annotation"),
        ("decode", 8, "annotation"),
    ]
    assert record.steps[0].prompt_tokens == 512 and record.steps[1].context_tokens == 1024
    assert record.coverage.classified_fraction == 1.0
    assert not [o.op for o in record.ops if o.suspect]
    assert all(
        o.roofline_fraction is not None and 0 < o.roofline_fraction <= 1.05 for o in record.ops
    )
    assert all(s.idle_s > 0 for s in record.steps)  # the generator leaves 2 us between kernels


def test_moe_layers_merge_routing_gemms_and_combine(tmp_path) -> None:
    steps = [{"phase": "decode", "batch": 8, "tokens": 8, "name": "ProfilerStep#1"}]
    for kw in (dict(moe=True), dict(moe=True, graphs=True, allreduce=True, tp=2)):
        written = write_kineto(tmp_path / "moe.json", MIXTRAL, steps, **kw)
        record = run_trace(
            [tmp_path / "moe.json"],
            TraceOptions(model=MIXTRAL, context=1024, batch=8, tp=kw.get("tp")),
        )
        _check_exact(written, record, MIXTRAL)
        ops = {o.op for o in record.ops}
        assert {"moe.router", "moe.gate_up", "moe.down"} <= ops and "mlp.residual" not in ops
        assert record.steps[0].source == "options" and record.steps[0].phase == "decode"


def test_a_kernel_faster_than_its_bound_is_suspect(tmp_path) -> None:
    """Mixtral's gate/up experts at batch 8 read ~1.9 GB a layer: 410 us on an H100 is beyond its bandwidth."""
    steps = [{"phase": "decode", "batch": 8, "tokens": 8, "name": "ProfilerStep#1"}]
    write_kineto(tmp_path / "moe.json", MIXTRAL, steps, moe=True)
    record = run_trace([tmp_path / "moe.json"], TraceOptions(model=MIXTRAL, context=1024, batch=8))
    suspect = {o.op: o for o in record.ops if o.suspect}
    assert set(suspect) == {"moe.gate_up"} and suspect["moe.gate_up"].roofline_fraction > 1.05
    assert any("moe.gate_up" in w for w in record.warnings)


@pytest.mark.parametrize(
    "kw", [dict(graphs=True), dict(), dict(split_k=True, allreduce=True, tp=2)]
)
def test_nsys_sqlite_of_the_same_kernels_gives_the_same_result(tmp_path, kw) -> None:
    """The SQLite export has no CPU ops and no shapes: attribution by position must agree with the JSON's."""
    written = write_kineto(tmp_path / "trace.json", LLAMA, STEPS, **kw)
    write_nsys(tmp_path / "trace.sqlite", tmp_path / "trace.json")
    options = TraceOptions(model=LLAMA, context=1024, tp=kw.get("tp"))
    from_json = run_trace([tmp_path / "trace.json"], options)
    from_sqlite = run_trace([tmp_path / "trace.sqlite"], options)
    _check_exact(written, from_sqlite, LLAMA)
    assert [(o.op, o.phase, o.count) for o in from_json.ops] == [
        (o.op, o.phase, o.count) for o in from_sqlite.ops
    ]
    for a, b in zip(from_json.ops, from_sqlite.ops):
        assert a.time_s == pytest.approx(b.time_s, rel=1e-9) and a.bound_s == pytest.approx(
            b.bound_s
        )
    assert from_sqlite.hardware.name == "h100-sxm"


def test_profiler_steps_without_annotations_take_the_options(tmp_path) -> None:
    steps = [
        {"phase": "decode", "batch": 4, "tokens": 4, "name": "ProfilerStep#0"},
        {"phase": "decode", "batch": 4, "tokens": 4, "name": "ProfilerStep#1"},
    ]
    write_kineto(tmp_path / "t.json", LLAMA, steps, graphs=True)
    record = run_trace([tmp_path / "t.json"], TraceOptions(model=LLAMA, batch=4, context=300))
    assert [(s.name, s.phase, s.batch, s.context_tokens, s.source) for s in record.steps] == [
        ("ProfilerStep#0", "decode", 4, 300, "options"),
        ("ProfilerStep#1", "decode", 4, 300, "options"),
    ]


def test_mixed_steps_and_rank_files(tmp_path) -> None:
    steps = [
        {
            "phase": "decode",
            "batch": 8,
            "tokens": 8,
            "name": "execute_context_2(64)_generation_6(6)",
        }
    ]
    paths = []
    for rank in range(2):
        path = tmp_path / f"dp0_pp0_tp{rank}_dcp0_ep0_rank{rank}.1700000000.pt.trace.json"
        write_kineto(
            path, LLAMA, steps, tp=2, allreduce=True, distributed={"rank": rank, "world_size": 2}
        )
        paths.append(path)
    record = run_trace(paths, TraceOptions(model=LLAMA, context=512))
    assert record.layout.tp == 2 and record.layout.source == "file name"
    step = record.steps[0]
    assert (step.phase, step.batch, step.prompt_tokens, step.context_tokens) == (
        "mixed",
        8,
        32,
        512,
    )
    assert any("1 more rank file" in w for w in record.warnings)


def test_rules_cover_current_nvidia_and_amd_names(tmp_path) -> None:
    classify = Classifier()
    names = {
        "nvjet_tst_128x64_64x8_2x1_v_bz_TNN": "gemm",
        "Cijk_Alik_Bljk_BBS_BH_MT128x128x32_MI16x16x8x1_SN_1LDSB0": "gemm",
        "void cutlass::device_kernel<flash::FlashAttnFwdSm90<cutlass::bfloat16_t>>": "attention",
        "void flashinfer::BatchPrefillWithPagedKVCacheKernel<>": "attention",
        "void flashinfer::BatchDecodeWithPagedKVCacheKernelMLA<>": "attention_decode",
        "ck_tile::kentry<ck_tile::FmhaFwdKernel<>>": "attention",
        "triton_poi_fused_mul_silu_0": "activation",
        "triton_red_fused__to_copy_add_mean_mul_pow_rsqrt_0": "norm",
        "ncclDevKernel_AllReduce_Sum_bf16_RING_LL(ncclDevKernelArgsStorage<4096ul>)": "communication",
        "void vllm::cross_device_reduce_2stage<__nv_bfloat16, 8>": "communication",
        "void multimem_all_reduce_kernel<>": "communication",
        "void vllm::moe::topkGatingSoftmax<8, 8>": "moe_routing",
        "void tensorrt_llm::kernels::mmha::masked_multihead_attention_kernel<>": "attention_decode",
        "void vllm::scaled_fp8_quant_kernel<>": "quantize",
        "aiter::fmoe_bf16_g1u1": "moe_gemm",
        "void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<c10::BFloat16>>": "elementwise",
        "Memcpy HtoD (Pinned -> Device)": "copy",
        SPLITK: "gemm",
        "some_kernel_nobody_knows": "other",
    }
    for name, category in {**names, **{v[1]: v[2] for v in K.values()}}.items():
        assert classify(name)[0] == category.replace("attention_prefill", "attention"), name
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\npattern = "nobody_knows"\ncategory = "sampling"\n')
    code_classifier = Classifier(
        __import__("llmroof.trace.rules", fromlist=["read_rules"]).read_rules(rules)
    )
    assert code_classifier("some_kernel_nobody_knows")[0] == "sampling"


def test_cli_json_carries_the_contract_keys_and_loads(tmp_path, capsys) -> None:
    write_kineto(tmp_path / "t.json", LLAMA, STEPS)
    code, out, err = run_cli(
        capsys,
        "trace",
        str(tmp_path / "t.json"),
        "--model",
        "llama-3.2-1b",
        "--context",
        "1024",
        "--format",
        "json",
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["schema"] == "llmroof.trace/1" and data["hardware"]["name"] == "h100-sxm"
    assert data["model"]["name"] == "llama-3.2-1b"
    assert {"kernel_time_s", "attributed_fraction", "classified_fraction"} <= set(data["coverage"])
    assert {"category", "time_s", "fraction"} <= set(data["categories"][0])
    for step in data["steps"]:
        assert {"phase", "batch", "time_s", "bound_s", "roofline_fraction", "idle_s"} <= set(step)
        assert ("context_tokens" in step) or ("prompt_tokens" in step)
    for op in data["ops"]:
        assert {
            "op",
            "category",
            "count",
            "layers",
            "time_s",
            "bound_s",
            "roofline_fraction",
            "bound",
            "kernels",
        } <= set(op)
        assert op["bound"] in ("memory", "compute", "launch")
    (tmp_path / "out.json").write_text(out)
    record = load(tmp_path / "out.json")
    assert isinstance(record, TraceRecord) and record.to_dict() == data
    assert len(record.to_pandas()) == len(data["ops"])
    assert set(record.to_pandas(kernels=True)["name"]) == {k["name"] for k in data["kernels"]}
    code, out, _ = run_cli(
        capsys, "trace", str(tmp_path / "t.json"), "--model", "llama-3.2-1b", "--format", "csv"
    )
    assert code == 0 and out.splitlines()[0].startswith("name,category,op,count,time_s")
    code, out, _ = run_cli(capsys, "trace", str(tmp_path / "t.json"), "--model", "llama-3.2-1b")
    assert code == 0 and "ranked by time lost" in out and "attributed" in out


def _bad_inputs(tmp_path: Path) -> dict[str, Path]:
    write_kineto(tmp_path / "good.json", LLAMA, STEPS[:1])
    text = (tmp_path / "good.json").read_text()
    files = {
        "truncated gzip": ("t.json.gz", gzip.compress(text.encode())[:-200]),
        "invalid JSON": ("bad.json", b'{"traceEvents": [{"ph": "X", "cat": "kernel",,}]}'),
        "truncated JSON": ("cut.json", text.encode()[: len(text) // 2]),
        "control characters": (
            "ctl.json",
            b'{"traceEvents": [{"name": "a\x01b", "cat": "kernel"}]}',
        ),
        "no kernels": ("empty.json", b'{"traceEvents": [], "deviceProperties": []}'),
        "not UTF-8": ("latin.json", b'{"traceEvents": ["\xff"]}'),
    }
    out = {}
    for what, (name, data) in files.items():
        (tmp_path / name).write_bytes(data)
        out[what] = tmp_path / name
    db = sqlite3.connect(tmp_path / "nokernels.sqlite")
    db.execute("CREATE TABLE StringIds (id INTEGER, value TEXT)")
    db.commit()
    db.close()
    out["SQLite without the kernel table"] = tmp_path / "nokernels.sqlite"
    return out


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys) -> None:
    for what, path in _bad_inputs(tmp_path).items():
        code, out, err = run_cli(capsys, "trace", str(path), "--model", "llama-3.2-1b")
        assert code == 2, (what, err)
        assert err.startswith("llmroof: error: ") and len(err.strip().splitlines()) == 1, (
            what,
            err,
        )
        assert "Traceback" not in err


def test_an_unknown_device_is_one_line_with_a_hint(tmp_path, capsys) -> None:
    write_kineto(tmp_path / "t.json", LLAMA, STEPS[:1], device="NVIDIA Quantum Abacus 9000")
    code, _, err = run_cli(capsys, "trace", str(tmp_path / "t.json"), "--model", "llama-3.2-1b")
    assert code == 2 and "not in the catalog" in err and "--hardware" in err
    assert len(err.strip().splitlines()) == 1
    code, out, err = run_cli(
        capsys,
        "trace",
        str(tmp_path / "t.json"),
        "--model",
        "llama-3.2-1b",
        "--hardware",
        "a100-sxm-80gb",
        "--format",
        "json",
    )
    assert code == 0 and json.loads(out)["hardware"]["name"] == "a100-sxm-80gb"


def test_the_reader_streams_values_cut_across_pieces(tmp_path, monkeypatch) -> None:
    """Pieces of 64 characters: every event is cut somewhere; the result is that of one read."""
    from llmroof.trace import chrome

    write_kineto(tmp_path / "t.json", LLAMA, STEPS[:2])
    whole = run_trace([tmp_path / "t.json"], TraceOptions(model=LLAMA, context=1024))
    monkeypatch.setattr(chrome, "CHUNK_CHARS", 64)
    pieces = run_trace([tmp_path / "t.json"], TraceOptions(model=LLAMA, context=1024))
    assert pieces.to_dict() == whole.to_dict()


def test_nested_cpu_ops_are_counted_once(tmp_path) -> None:
    """A CPU-only trace: aten::linear holds aten::t and aten::addmm (one starting with it): one unit, its time
    once; the calibrated roofs come from a ceilings file."""
    events = []
    for i, (name, ts, dur) in enumerate(
        [
            ("aten::embedding", 0, 10),
            ("aten::linear", 20, 50),
            ("aten::addmm", 20, 40),
            ("aten::t", 21, 1),
            ("aten::add", 80, 5),
        ]
    ):
        events.append(
            {
                "ph": "X",
                "cat": "cpu_op",
                "name": name,
                "pid": 1,
                "tid": 1,
                "ts": ts,
                "dur": dur,
                "args": {"External id": i + 1},
            }
        )
    (tmp_path / "cpu.json").write_text(json.dumps({"traceEvents": events}))
    from llmroof.trace.chrome import read_chrome
    from llmroof.trace.rules import Classifier
    from llmroof.trace.units import build_units

    units = build_units(read_chrome(tmp_path / "cpu.json"), Classifier())
    assert [(u.name, u.busy_us) for u in units] == [
        ("aten::embedding", 10),
        ("aten::linear", 50),
        ("aten::add", 5),
    ]


def test_a_gpu_launch_floor_bounds_the_small_kernels(tmp_path, capsys) -> None:
    """With a 10 us launch floor (the third wall), the norms are `bound: launch` at the floor, the gate/up GEMM is not."""
    write_kineto(tmp_path / "t.json", LLAMA, STEPS[1:2])
    code, out, err = run_cli(
        capsys,
        "trace",
        str(tmp_path / "t.json"),
        "--model",
        "llama-3.2-1b",
        "--context",
        "1024",
        "--launch-floor",
        "1e-5",
        "--format",
        "json",
    )
    assert code == 0, err
    ops = {o["op"]: o for o in json.loads(out)["ops"]}
    assert ops["attn.norm"]["bound"] == "launch"
    assert ops["attn.norm"]["launches"] * 1e-5 > ops["attn.norm"]["bound_s"]  # one launch per layer
    assert ops["mlp.gate_up"]["bound"] == "memory"  # 67 MB of weights: 20 us at 3.35 TB/s
    assert json.loads(out)["hardware"]["launch_floor_s"] == 1e-5
