"""Property tests of the analytic model: sums of parts, monotonicity, GQA scaling, TP weight conservation."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmroof.analytic import Workload, analyze
from llmroof.analytic.analysis import BYTE_FIELDS
from llmroof.analytic.memory import norm_param_count
from llmroof.specs import DTYPES, Precision, get_hardware
from llmroof.specs.model import ModelSpec, alternating_layers
from llmroof.results.records.analysis import AnalysisRecord

H100 = get_hardware("h100-sxm")
FLOAT_DTYPES = [d for d in DTYPES.values() if not d.weight_only]


@st.composite
def models(draw) -> ModelSpec:
    kv = draw(st.sampled_from([1, 2, 4, 8]))
    group = draw(st.sampled_from([1, 2, 4]))
    head_dim = draw(st.sampled_from([32, 64, 128]))
    heads = kv * group
    layers = draw(st.integers(1, 40))
    # Attention windows: none, every layer, or alternating windowed and full layers (Gemma 2, gpt-oss).
    window = draw(st.sampled_from([None, None, 16, 1000, 4096]))
    types = alternating_layers(layers) if window and draw(st.booleans()) else None
    return ModelSpec(
        name="random",
        hidden_size=draw(st.sampled_from([256, 512, 1024, 4096])),
        num_layers=layers,
        sliding_window=window,
        layer_types=types,
        num_heads=heads,
        num_kv_heads=kv,
        head_dim=head_dim,
        intermediate_size=128 * draw(st.integers(1, 64)),
        vocab_size=64 * draw(st.integers(1, 2000)),
        tie_word_embeddings=draw(st.booleans()),
        gated_mlp=draw(st.booleans()),
        norm=draw(st.sampled_from(["rmsnorm", "layernorm"])),
        parallel_attention=draw(st.booleans()),
    )


@st.composite
def workloads(draw, **fixed) -> Workload:
    act = draw(st.sampled_from(FLOAT_DTYPES))
    weight = draw(st.sampled_from(list(DTYPES.values())))
    kv = draw(st.sampled_from(FLOAT_DTYPES))
    values = dict(
        batch=draw(st.integers(1, 256)),
        prompt_len=draw(st.integers(1, 4096)),
        context_len=draw(st.integers(1, 32768)),
        precision=Precision(weight=weight, activation=act, kv=kv),
        implementation=draw(st.sampled_from(["fused", "eager"])),
        attention_kernel=draw(st.sampled_from(["eager", "flash"])),
        fused_qkv=draw(st.booleans()),
        all_logits=draw(st.booleans()),
    )
    values.update(fixed)
    return Workload(**values)


@settings(max_examples=60, deadline=None)
@given(models(), workloads())
def test_totals_are_sums_of_parts(model, workload) -> None:
    a = analyze(model, H100, workload)
    for phase in (a.prefill, a.decode):
        expected_flops = sum(op.flops * op.count for op in phase.ops)
        assert phase.totals.flops == expected_flops
        for key in BYTE_FIELDS:
            assert getattr(phase.totals, key) == sum(getattr(op, key) * op.count for op in phase.ops)
        assert phase.totals.bytes == sum(op.bytes * op.count for op in phase.ops)
        # With one GPU the critical path is the sum of the op times.
        assert phase.time_s == pytest.approx(sum(a.roofline.time_s(op) * op.count for op in phase.ops), rel=1e-12)
    d = AnalysisRecord.of(a).to_dict()
    assert d["phases"]["decode"]["bytes"] == sum(op["bytes"] * op["count"] for op in d["ops"] if op["phase"] == "decode")
    eager = d["phases"]["decode"]["eager"]
    assert eager["bytes"] == sum(op["bytes"] * op["count"] for op in d["eager_ops"] if op["phase"] == "decode")


@settings(max_examples=60, deadline=None)
@given(models(), workloads(), st.integers(1, 64), st.integers(1, 4096))
def test_bytes_and_time_grow_with_batch_and_context(model, workload, extra_batch, extra_context) -> None:
    base = analyze(model, H100, workload)
    bigger_batch = analyze(model, H100, dataclasses.replace(workload, batch=workload.batch + extra_batch))
    longer = analyze(model, H100, dataclasses.replace(workload, context_len=workload.context_len + extra_context,
                                                      prompt_len=workload.prompt_len + extra_context))
    # A decode step whose every layer is windowed reads min(c, W) keys: past W a longer context costs nothing more.
    capped = model.window_layers == model.num_layers and workload.context_len >= model.sliding_window
    for other in (bigger_batch, longer):
        for phase in ("prefill", "decode"):
            ours, theirs = getattr(base, phase), getattr(other, phase)
            if other is longer and phase == "decode" and capped:
                assert theirs.totals == ours.totals
                continue
            assert theirs.totals.bytes > ours.totals.bytes
            assert theirs.totals.flops > ours.totals.flops
            assert theirs.time_s >= ours.time_s


@settings(max_examples=60, deadline=None)
@given(models(), workloads())
def test_gqa_kv_bytes_scale_with_kv_heads(model, workload) -> None:
    mha = analyze(model.with_kv_heads(model.num_heads), H100, workload)
    gqa = analyze(model, H100, workload)
    ratio = model.num_kv_heads / model.num_heads
    for phase in ("prefill", "decode"):
        for key in ("kv_read_bytes", "kv_write_bytes"):
            mha_bytes = getattr(getattr(mha, phase).totals, key)
            assert abs(getattr(getattr(gqa, phase).totals, key) - mha_bytes * ratio) <= 1e-9 * mha_bytes
    assert gqa.kv_bytes_per_token == mha.kv_bytes_per_token * ratio


@settings(max_examples=60, deadline=None)
@given(models(), st.sampled_from([1, 2, 4, 8]), st.sampled_from(FLOAT_DTYPES))
def test_per_gpu_weights_times_tp_equal_the_total_less_replicated_norms(model, tp, dtype) -> None:
    if model.num_heads % tp or model.num_kv_heads % tp or model.intermediate_size % tp or model.vocab_size % tp:
        return  # shapes that do not divide are rejected elsewhere; KV replication adds copies by design
    precision = Precision.uniform(dtype.name)
    a = analyze(model, H100, Workload(tp=tp, precision=precision))
    norms = (1 if model.parallel_attention else 2) * model.num_layers + 1
    replicated = norms * norm_param_count(model) * precision.unquantized.bytes_per_element
    per_gpu = a.weight_bytes_per_gpu
    assert abs(per_gpu * tp - (a.weight_bytes + (tp - 1) * replicated)) <= 1e-9 * a.weight_bytes


@settings(max_examples=40, deadline=None)
@given(models(), st.integers(1, 4))
def test_pipeline_keeps_work_and_splits_weights(model, pp) -> None:
    if pp > model.num_layers:
        return
    one = analyze(model, H100, Workload())
    piped = analyze(model, H100, Workload(pp=pp))
    assert piped.decode.totals == one.decode.totals
    # A tied lm_head needs its own copy of the table when it sits on another stage than the embedding.
    tied_copy = model.vocab_size * model.hidden_size * 2 if model.tie_word_embeddings and pp > 1 else 0
    assert abs(sum(piped.stage_weight_bytes) - (one.weight_bytes + tied_copy)) <= 1e-9 * one.weight_bytes
    assert piped.decode.time_s >= one.decode.time_s


@settings(max_examples=60, deadline=None)
@given(models(), workloads(implementation="fused"))
def test_fused_bound_has_the_eager_work_at_no_more_traffic(model, workload) -> None:
    """The headline (fused) op set against the eager set with flash attention: the same FLOPs, weights and KV
    traffic, no more activation traffic; and no slower than any eager variant on the roofline."""
    fused = analyze(model, H100, workload)
    flash = analyze(model, H100, dataclasses.replace(workload, implementation="eager", attention_kernel="flash",
                                                     fused_qkv=False))
    unfused = fused.eager()
    for phase in ("prefill", "decode"):
        ours, theirs = getattr(fused, phase).totals, getattr(flash, phase).totals
        for key in ("flops", "weight_bytes", "kv_read_bytes", "kv_write_bytes"):
            assert getattr(ours, key) == pytest.approx(getattr(theirs, key), rel=1e-12), key
        assert ours.act_read_bytes + ours.act_write_bytes < theirs.act_read_bytes + theirs.act_write_bytes
        for other in (flash, unfused):
            if other.workload.fused_qkv:
                continue  # a concatenated QKV's int4 scales round up once, not three times
            assert getattr(fused, phase).time_s <= getattr(other, phase).time_s * (1 + 1e-12)


@settings(max_examples=80, deadline=None)
@given(models(), workloads(), st.integers(1, 4), st.sampled_from([16, 24, 40, 80, 141]))
def test_max_batch_fits_and_one_more_does_not(model, workload, pp, memory_gib) -> None:
    """memory.max_batch is the largest batch that fits: at the same KV length as ``fits`` (max(prompt,
    context)), by the bytes on the fullest GPU."""
    if pp > model.num_layers:
        return
    hardware = dataclasses.replace(H100, memory_bytes=memory_gib * 2**30)
    base = analyze(model, hardware, dataclasses.replace(workload, pp=pp, micro_batches=1))
    largest = AnalysisRecord.of(base).to_dict()["memory"]["max_batch"]
    usable = base.usable_memory_bytes
    one_more = analyze(model, hardware, dataclasses.replace(base.workload, batch=largest + 1))
    assert not one_more.fits
    assert one_more.total_bytes_per_gpu() > usable * (1 - 1e-12)
    if largest >= 1:
        fitting = analyze(model, hardware, dataclasses.replace(base.workload, batch=largest))
        assert fitting.fits and AnalysisRecord.of(fitting).to_dict()["memory"]["fits"]
        assert fitting.total_bytes_per_gpu() <= usable * (1 + 1e-12)
