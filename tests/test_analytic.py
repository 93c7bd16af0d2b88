"""The analytic model against hand-computed figures (shared/reference facts and the formulas of
docs/analytic-model.md, worked by hand here)."""

from __future__ import annotations

import dataclasses

import pytest

from llmroof.analytic import Workload, analyze
from llmroof.analytic import comm
from llmroof.analytic.memory import kv_bytes_per_token, param_count
from llmroof.analytic.sharding import shard_model, stage_layers
from llmroof.errors import LlmroofError
from llmroof.specs import Precision, get_dtype, get_hardware, get_model
from llmroof.results.records.analysis import AnalysisRecord

H100 = get_hardware("h100-sxm")
LLAMA3_8B = get_model("llama-3-8b")


def ops_by_name(phase):
    return {op.name: op for op in phase.ops}


def test_decode_reads_every_weight_once_and_the_whole_kv_cache() -> None:
    a = analyze(LLAMA3_8B, H100, Workload(batch=1, context_len=2048))
    totals = a.decode.totals
    h, v = LLAMA3_8B.hidden_size, LLAMA3_8B.vocab_size
    # Every weight once in bf16, but only one looked-up row of the (untied) embedding table.
    assert totals.weight_bytes == 2 * (param_count(LLAMA3_8B) - v * h) + 2 * h
    assert totals.kv_read_bytes == 2048 * 131_072  # c tokens x KV bytes per token
    assert totals.kv_write_bytes == 131_072  # one new K and V per layer
    # At batch 1 every op is memory-bound: TPOT is the bytes over the bandwidth.
    assert a.decode.bound == "memory"
    assert a.decode.time_s == pytest.approx(totals.bytes / 3.35e12)
    # The headline is the fused (minimum-traffic) bound; the eager op set (docs/analytic-model.md) sits beside.
    decode = AnalysisRecord.of(a).to_dict()["phases"]["decode"]
    assert decode["tpot_s"] == pytest.approx(4.562e-3, rel=1e-3)
    assert decode["eager"]["tpot_s"] == pytest.approx(4.569e-3, rel=1e-3)


def test_batch_shares_weights_across_sequences() -> None:
    one = AnalysisRecord.of(analyze(LLAMA3_8B, H100, Workload(batch=1))).to_dict()["phases"]["decode"]
    many = AnalysisRecord.of(analyze(LLAMA3_8B, H100, Workload(batch=16))).to_dict()["phases"]["decode"]
    assert many["weight_bytes"] == pytest.approx(one["weight_bytes"] + 15 * 2 * LLAMA3_8B.hidden_size)
    assert many["kv_read_bytes"] == 16 * one["kv_read_bytes"]
    assert many["bytes_per_token"] < one["bytes_per_token"]


def test_projection_flops_and_gqa_attention() -> None:
    b, s = 2, 128
    ops = ops_by_name(analyze(LLAMA3_8B, H100, Workload(batch=b, prompt_len=s, implementation="eager")).prefill)
    t, h, d = b * s, 4096, 128
    assert ops["attn.q"].flops == 2 * t * h * 32 * d
    assert ops["attn.k"].flops == 2 * t * h * 8 * d
    assert ops["mlp.gate"].flops == 2 * t * h * 14336
    assert ops["attn.scores"].flops == 2 * b * 32 * s * s * d  # eager: the full s x s scores
    # GQA: K is read once per KV head (8), not per query head (32).
    assert ops["attn.scores"].kv_read_bytes == b * s * 8 * d * 2
    assert ops["attn.q"].count == LLAMA3_8B.num_layers
    # Serving engines compute logits for the last position only.
    assert ops["lm_head"].flops == 2 * b * h * 128_256
    all_logits = ops_by_name(analyze(LLAMA3_8B, H100, Workload(batch=b, prompt_len=s, all_logits=True,
                                                                implementation="eager")).prefill)
    assert all_logits["lm_head"].flops == 2 * t * h * 128_256


def test_flash_counts_causal_pairs_and_minimum_traffic() -> None:
    b, s = 1, 256
    ops = ops_by_name(analyze(LLAMA3_8B, H100, Workload(batch=b, prompt_len=s, attention_kernel="flash",
                                                         implementation="eager")).prefill)
    assert "attn.scores" not in ops and "attn.softmax" not in ops
    flash = ops["attn.flash"]
    assert flash.flops == (4 * 128 + 5) * 32 * s * (s + 1) // 2
    assert flash.kv_read_bytes == 2 * s * 8 * 128 * 2
    assert flash.act_read_bytes == flash.act_write_bytes == s * 32 * 128 * 2


def test_int4_weights_count_group_scales() -> None:
    precision = Precision(weight=get_dtype("int4"), activation=get_dtype("bf16"), kv=get_dtype("bf16"))
    ops = ops_by_name(analyze(LLAMA3_8B, H100, Workload(precision=precision, implementation="eager")).decode)
    n = 4096 * 4096
    assert ops["attn.q"].weight_bytes == n / 2 + n / 128 * 2
    # Embedding, norms and lm_head stay 16-bit.
    assert ops["lm_head"].weight_bytes == 128_256 * 4096 * 2
    assert get_dtype("int4").with_group_size(64).bytes_per_element == 0.5 + 2 / 64


def test_fp8_kv_cache_halves_kv_traffic() -> None:
    fp8 = Precision(weight=get_dtype("bf16"), activation=get_dtype("bf16"), kv=get_dtype("fp8"))
    base = analyze(LLAMA3_8B, H100, Workload()).decode.totals
    half = analyze(LLAMA3_8B, H100, Workload(precision=fp8)).decode.totals
    assert half.kv_read_bytes == base.kv_read_bytes / 2
    assert kv_bytes_per_token(LLAMA3_8B, fp8) == 65_536


def test_int4_is_weight_only() -> None:
    with pytest.raises(ValueError, match="weight-only"):
        Precision.uniform("int4")


def test_tensor_parallel_comm_follows_the_ring_formula() -> None:
    tp, b = 4, 8
    a = analyze(LLAMA3_8B, H100, Workload(batch=b, tp=tp))
    message = b * 4096 * 2  # one token per sequence, hidden wide, bf16
    allreduce = 2 * (tp - 1) / tp * message / 450e9 + 2 * (tp - 1) * 1e-6
    by_name = {c.name: c for c in a.decode.comm}
    assert by_name["comm.attn_allreduce"].time_s == pytest.approx(allreduce)
    assert by_name["comm.attn_allreduce"].count == by_name["comm.mlp_allreduce"].count == 32
    logits = b * 128_256 * 2
    gather = (tp - 1) / tp * logits / 450e9 + (tp - 1) * 1e-6
    expected = (2 * 32 + 1) * allreduce + gather
    assert a.decode.comm_time_s == pytest.approx(expected)
    compute = sum(op.count // tp * a.roofline.time_s(op) for op in a.decode.ops)
    assert a.decode.time_s == pytest.approx(compute + expected)


def test_tensor_parallel_shards() -> None:
    shard = shard_model(LLAMA3_8B, 8)
    assert (shard.heads, shard.kv_heads, shard.intermediate, shard.vocab) == (4, 1, 1792, 16032)
    mqa = shard_model(get_model("falcon-7b").with_kv_heads(1), 71)
    assert mqa.kv_heads == 1  # one KV head replicated on every rank
    ops = ops_by_name(analyze(LLAMA3_8B, H100, Workload(tp=2, implementation="eager")).decode)
    assert ops["attn.q"].count == 2 * 32
    assert ops["attn.q"].weight_bytes == 4096 * 2048 * 2


@pytest.mark.parametrize(
    ("spec", "tp", "message"),
    [
        (LLAMA3_8B, 3, "does not divide the 32 attention heads"),
        (get_model("falcon-7b"), 2, "does not divide the 71 attention heads"),
        (LLAMA3_8B, 64, "does not divide the 32 attention heads"),
        (dataclasses.replace(LLAMA3_8B, intermediate_size=14335), 2, "does not divide the MLP width"),
        (dataclasses.replace(LLAMA3_8B, num_heads=48, num_kv_heads=12), 8, "does not divide the 12 KV heads"),
        (dataclasses.replace(LLAMA3_8B, num_heads=48, num_kv_heads=3), 8, "cannot replicate the 3 KV heads"),
    ],
)
def test_impossible_tensor_parallelism(spec, tp, message) -> None:
    with pytest.raises(LlmroofError, match=message):
        analyze(spec, H100, Workload(tp=tp))


def test_fewer_kv_heads_than_ranks_replicates_them() -> None:
    assert shard_model(LLAMA3_8B, 16).kv_heads == 1  # each of the 8 KV heads lives on 2 ranks
    assert AnalysisRecord.of(analyze(LLAMA3_8B, H100, Workload(tp=16))).to_dict()["parallel"]["kv_replicated"]


def test_pipeline_stages_and_gpipe_schedule() -> None:
    assert stage_layers(32, 4) == (8, 8, 8, 8)
    assert stage_layers(30, 4) == (8, 8, 7, 7)
    assert stage_layers(32, 2, (20, 12)) == (20, 12)
    with pytest.raises(LlmroofError):
        stage_layers(32, 2, (20, 11))
    with pytest.raises(LlmroofError, match="more stages"):
        stage_layers(4, 8)
    a = analyze(LLAMA3_8B, H100, Workload(batch=8, pp=4, micro_batches=4))
    stages = a.prefill.stage_times_s
    assert a.prefill.time_s == pytest.approx(sum(stages) + 3 * max(stages))
    # Stages carry the embedding and lm_head unevenly, so the bubble is close to, not exactly, GPipe's.
    assert a.prefill.bubble_fraction == pytest.approx(comm.bubble_fraction(4, 4), abs=0.05)
    assert comm.bubble_fraction(4, 4) == pytest.approx(3 / 7)
    # Decode latency is the sum over stages; throughput has pp batches in flight.
    assert a.decode.time_s == pytest.approx(sum(a.decode.stage_times_s))
    assert a.decode_tokens_per_s == pytest.approx(4 * 8 / max(a.decode.time_s, 4 * max(a.decode.stage_times_s)))


def test_pipeline_send_is_bytes_over_bandwidth_plus_latency() -> None:
    a = analyze(LLAMA3_8B, H100, Workload(batch=4, pp=2))
    send = next(c for c in a.decode.comm if c.name == "comm.pp_send")
    assert send.time_s == pytest.approx(4 * 4096 * 2 / 450e9 + 1e-6)
    big = analyze(get_model("llama-3.1-405b"), H100, Workload(tp=8, pp=2))
    assert next(c for c in big.decode.comm if c.name == "comm.pp_send").link == "inter-node network"


def test_workload_validation() -> None:
    with pytest.raises(ValueError, match="micro-batches"):
        Workload(batch=3, micro_batches=2)
    with pytest.raises(ValueError, match="batch must be a positive integer"):
        Workload(batch=0)


def test_memory_limits_llama3_70b_on_h100() -> None:
    model = get_model("llama-3-70b")
    one = analyze(model, H100, Workload())
    assert one.weight_bytes == pytest.approx(2 * param_count(model))
    assert not one.fits and one.max_batch(2048) == 0  # 141 GB of bf16 weights need at least 2 GPUs
    two = analyze(model, H100, Workload(tp=2, context_len=4096))
    free = 80 * 2**30 * 0.9 - two.weight_bytes_per_gpu
    per_sequence = 80 * 2 * 4 * 128 * 2 * 4096  # layers x K,V x kv/tp heads x d x bf16 x tokens
    assert two.max_batch(4096) == int(free // per_sequence)
    assert two.max_context(1) == int(free // (80 * 2 * 4 * 128 * 2))
    assert two.fits


def test_compute_bound_batch_is_where_decode_flips() -> None:
    workload = Workload(context_len=128, attention_kernel="flash")
    a = analyze(LLAMA3_8B, H100, workload)
    b_star = a.compute_bound_batch()
    assert b_star is not None and 100 < b_star < 1000
    assert analyze(LLAMA3_8B, H100, dataclasses.replace(workload, batch=b_star)).decode.bound == "compute"
    assert analyze(LLAMA3_8B, H100, dataclasses.replace(workload, batch=b_star - 1)).decode.bound == "memory"
    # At long contexts KV traffic grows with the batch as fast as FLOPs: decode never turns compute-bound.
    assert analyze(LLAMA3_8B, H100, Workload(context_len=32768)).compute_bound_batch() is None


def test_missing_peak_is_bandwidth_only_with_a_warning() -> None:
    a = analyze(LLAMA3_8B, get_hardware("a10g"), Workload())
    assert a.roofline.peak_flops_per_s is None
    assert any("no published bf16 peak" in w for w in a.warnings)
    assert a.decode.bound == "memory"


def test_no_fit_is_reported() -> None:
    a = analyze(get_model("llama-3.1-405b"), H100, Workload())
    assert not a.fits
    assert any("does not fit" in w for w in a.warnings)


def test_decode_pipeline_in_steady_state_has_no_bubble_when_even() -> None:
    model = dataclasses.replace(LLAMA3_8B, tie_word_embeddings=False)
    a = analyze(model, H100, Workload(batch=8, pp=2))
    stages = a.decode.stage_times_s
    assert a.decode.bubble_fraction == pytest.approx(1 - sum(stages) / (2 * max(stages)))
    assert a.decode_tokens_per_s == pytest.approx(8 / max(stages))
    assert analyze(model, H100, Workload(batch=8)).decode.bubble_fraction == 0.0


def test_memory_totals_agree_with_fits() -> None:
    a = analyze(LLAMA3_8B, H100, Workload(prompt_len=500_000, context_len=2048))
    memory = AnalysisRecord.of(a).to_dict()["memory"]
    assert memory["kv_tokens_per_sequence"] == 500_000
    assert memory["total_bytes_per_gpu"] > memory["usable_bytes_per_gpu"]
    assert not memory["fits"]


def test_rank_times_are_per_gpu() -> None:
    one = AnalysisRecord.of(analyze(LLAMA3_8B, H100, Workload(batch=8))).to_dict()["phases"]["decode"]
    four = AnalysisRecord.of(analyze(LLAMA3_8B, H100, Workload(batch=8, tp=4))).to_dict()["phases"]["decode"]
    # Each of 4 ranks reads about a quarter of the weights: its memory time is about a quarter.
    assert four["memory_time_s"] == pytest.approx(one["memory_time_s"] / 4, rel=0.05)
    assert four["memory_time_s"] <= four["time_s"]


def test_fused_decode_traffic_by_hand() -> None:
    """The headline (fused) decode step of Llama-3-8B at b=1, c=2048, bf16: weights + KV read + KV write + the
    activations that pass between fused kernels, counted by hand (docs/analytic-model.md, worked example)."""
    a = analyze(LLAMA3_8B, H100, Workload(batch=1, context_len=2048))
    x, q, i = 4096 * 2, 4096 * 2, 14336 * 2  # bytes of one token's [h], [H*d] and [i] activations
    # attn.norm, attn.qkv, attn.flash, attn.o (+ residual), mlp.norm, mlp.gate_up, mlp.down (+ residual)
    layer_read = x + x + q + (q + x) + x + x + (i + x)
    layer_write = x + q + q + x + x + i + x
    assert (layer_read, layer_write) == (94_208, 77_824)
    totals = a.decode.totals
    assert totals.act_read_bytes == 32 * layer_read + x + x  # + final_norm, lm_head
    assert totals.act_write_bytes == 32 * layer_write + x + x + 128_256 * 2  # + embed, final_norm, logits
    assert totals.kv_read_bytes == 32 * 2 * 2048 * 1024 * 2
    assert totals.kv_write_bytes == 32 * 2 * 1024 * 2
    weights = 2 * (param_count(LLAMA3_8B) - 128_256 * 4096) + 2 * 4096  # every weight once, one embedding row
    assert totals.weight_bytes == weights
    assert totals.bytes == 15_284_218_368
    assert a.decode.time_s == pytest.approx(15_284_218_368 / 3.35e12)
    eager = a.eager().decode.totals
    assert eager.flops == totals.flops and eager.bytes == 15_307_172_352


def test_fused_ops_are_named_hierarchically_and_fuse_the_elementwise_ops() -> None:
    ops = analyze(LLAMA3_8B, H100, Workload(batch=2, prompt_len=64)).prefill.ops
    assert [op.name for op in ops] == ["embed", "attn.norm", "attn.qkv", "attn.flash", "attn.o", "mlp.norm",
                                       "mlp.gate_up", "mlp.down", "final_norm", "lm_head"]
    by_name = {op.name: op for op in ops}
    t, h = 2 * 64, 4096
    # RoPE in the QKV epilogue: K and V go straight to the cache, only Q is written as an activation.
    assert by_name["attn.qkv"].act_write_bytes == t * 4096 * 2
    assert by_name["attn.qkv"].kv_write_bytes == 2 * t * 1024 * 2
    # The residual add in the o / down epilogue: the residual is read, one [t, h] sum written.
    assert by_name["attn.o"].act_read_bytes == t * 4096 * 2 + t * h * 2
    # SiLU * up in the gate/up epilogue: one [t, i] written.
    assert by_name["mlp.gate_up"].act_write_bytes == t * 14336 * 2


def test_headline_is_fused_and_eager_is_shown_beside() -> None:
    d = AnalysisRecord.of(analyze(LLAMA3_8B, H100, Workload(batch=8, prompt_len=2048, context_len=4096))).to_dict()
    assert d["workload"]["implementation"] == "fused"
    eager = analyze(LLAMA3_8B, H100, Workload(batch=8, prompt_len=2048, context_len=4096, implementation="eager"))
    for phase in ("prefill", "decode"):
        headline = d["phases"][phase]
        assert headline["eager"]["time_s"] == getattr(eager, phase).time_s > headline["time_s"]
    # Eager prefill attention computes the full s x s scores; a decode token visits all c keys either way.
    assert d["phases"]["prefill"]["eager"]["flops"] > d["phases"]["prefill"]["flops"]
    assert d["phases"]["decode"]["eager"]["flops"] == d["phases"]["decode"]["flops"]
    assert d["phases"]["prefill"]["eager"]["ttft_s"] > 1.2 * d["phases"]["prefill"]["ttft_s"]
    assert {op["implementation"] for op in d["ops"]} == {"fused"}
    assert {op["implementation"] for op in d["eager_ops"]} == {"eager"}
    assert "attn.scores" in {op["name"] for op in d["eager_ops"]}


def test_max_batch_agrees_with_fits_at_the_longer_of_prompt_and_context() -> None:
    """Prompt 2048, context 1024: the cache must hold 2048 tokens. By hand for Llama-3-8B on an H100:
    usable 0.9 * 80 GiB, weights 16,060,522,496 bytes, KV 131,072 bytes per token."""
    usable, weights = 0.9 * 80 * 2**30, 16_060_522_496
    expected = int((usable - weights) // (131_072 * 2048))
    assert expected == 228
    a = analyze(LLAMA3_8B, H100, Workload(batch=expected, prompt_len=2048, context_len=1024))
    memory = AnalysisRecord.of(a).to_dict()["memory"]
    assert memory["max_batch"] == expected and memory["fits"]
    over = analyze(LLAMA3_8B, H100, Workload(batch=expected + 1, prompt_len=2048, context_len=1024))
    assert AnalysisRecord.of(over).to_dict()["memory"]["max_batch"] == expected and not over.fits
    assert a.max_batch(1024) == 456  # at the decode context alone twice as many would fit: the old, wrong answer


def test_fused_prefill_traffic_of_a_small_model_by_hand() -> None:
    """A Falcon-like layer (parallel attention, LayerNorm, GELU MLP, no biases), prefill b=2, s=3, bf16:
    every weight once, the new K and V written once and read once, and each activation that crosses a
    fused kernel written once and read once per consumer."""
    spec = dataclasses.replace(get_model("falcon-7b"), name="tiny", hidden_size=64, num_layers=2, num_heads=4,
                               num_kv_heads=2, head_dim=16, intermediate_size=128, vocab_size=100,
                               qkv_bias=False, attn_out_bias=False, mlp_bias=False, tie_word_embeddings=False)
    assert spec.parallel_attention and not spec.gated_mlp and spec.norm == "layernorm"
    b, s, L = 2, 3, 2
    t, h, q, kv, i, V = b * s, 64, 64, 32, 128, 100
    a = analyze(spec, H100, Workload(batch=b, prompt_len=s, context_len=8))
    assert [op.name for op in a.prefill.ops] == ["embed", "attn.norm", "attn.qkv", "attn.flash", "attn.o",
                                                 "mlp.up", "mlp.down", "final_norm", "lm_head"]
    # attn.norm: x -> n; attn.qkv: n -> q (K, V to the cache); attn.flash: q -> o; attn.o: o, x -> x';
    # mlp.up: n -> u; mlp.down: u, x' -> x''.
    layer_read = h + h + q + (q + h) + h + (i + h)
    layer_write = h + q + q + h + i + h
    totals = a.prefill.totals
    assert totals.act_read_bytes == 2 * (L * t * layer_read + t * h + b * h)  # + final_norm, lm_head (last token)
    assert totals.act_write_bytes == 2 * (L * t * layer_write + t * h + t * h + b * V)  # + embed, norm, logits
    assert totals.kv_write_bytes == 2 * L * 2 * t * kv
    assert totals.kv_read_bytes == 2 * L * 2 * b * s * kv
    layer_weights = 2 * h + h * (q + 2 * kv) + q * h + h * i + i * h  # LayerNorm weight and bias, QKV, O, up, down
    # + the embedding rows looked up, the final norm, lm_head
    assert totals.weight_bytes == 2 * (L * layer_weights + t * h + 2 * h + V * h)
    assert totals.bytes == sum(getattr(totals, key) for key in ("weight_bytes", "act_read_bytes", "act_write_bytes",
                                                          "kv_read_bytes", "kv_write_bytes"))


def test_the_ring_fit_recovers_the_link_it_was_built_from() -> None:
    from llmroof.analytic.comm import Link, allreduce_time_s, fit_ring_allreduce

    link = Link("test", 100e9, 5e-6)
    sizes = [4096, 65536, 2**20, 16 * 2**20]
    times = [allreduce_time_s(s, 4, link) for s in sizes]
    assert fit_ring_allreduce(sizes, times, 4) == pytest.approx((100e9, 5e-6))
    assert fit_ring_allreduce(sizes[:2], times[:2], 4) == pytest.approx((100e9, 5e-6))  # two points: exact
    assert fit_ring_allreduce(sizes, times[::-1], 4) is None  # slower for smaller messages: no fit
    assert fit_ring_allreduce(sizes[:1], times[:1], 4) is None


def test_pass_bubble_is_gpipe_with_even_stages() -> None:
    from llmroof.analytic.comm import bubble_fraction, pass_bubble_fraction

    pp, m, stage_s = 4, 8, 0.01
    pass_s = (m + pp - 1) * stage_s  # GPipe: m micro-batches through pp even stages
    assert pass_bubble_fraction([stage_s] * pp, m, pass_s) == pytest.approx(bubble_fraction(pp, m))
    assert pass_bubble_fraction([stage_s], m, m * stage_s) == 0.0
