"""Mixture-of-experts, latent attention and windowed attention in the analytic model, against hand computations
and a simulation of routing (docs/analytic-model.md has the formulas).

The per-op hand computations here are of the eager op set (one op per reference module), so ``Workload`` below
defaults to ``implementation="eager"``; tests/test_moe_fused.py checks that the fused (headline) set has the
same FLOPs, weights and KV traffic.
"""

from __future__ import annotations

import dataclasses
import functools
import random

import pytest

from llmroof.results.records.analysis import AnalysisRecord
from llmroof.analytic import Workload as _Workload
from llmroof.analytic import analyze
from llmroof.analytic.memory import expert_param_count, kv_bytes_per_token, param_count
from llmroof.analytic.moe import Routing, expected_experts
from llmroof.errors import LlmroofError
from llmroof.specs import Precision, get_dtype, get_hardware, get_model

H200 = get_hardware("h200")
MIXTRAL = get_model("mixtral-8x7b")
DEEPSEEK = get_model("deepseek-v3")
BF16 = Precision.uniform("bf16")
Workload = functools.partial(_Workload, implementation="eager")


def ops_by_name(phase):
    return {op.name: op for op in phase.ops}


# --- experts touched ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("experts", "k", "tokens", "expected"), [
    # E * (1 - (1 - k/E)^T), worked by hand.
    (8, 2, 1, 2.0),
    (8, 2, 8, 8 * (1 - 0.75 ** 8)),  # 7.1991
    (8, 2, 64, 8 * (1 - 0.75 ** 64)),  # all but 8.1e-8
    (8, 2, 1024, 8.0),
    (256, 8, 1, 8.0),
    (256, 8, 8, 256 * (1 - (31 / 32) ** 8)),  # 57.42
    (256, 8, 64, 256 * (1 - (31 / 32) ** 64)),  # 222.44
    (256, 8, 1024, 256 * (1 - (31 / 32) ** 1024)),  # 256 - 2.0e-12
])
def test_expected_experts_touched(experts, k, tokens, expected) -> None:
    assert expected_experts(experts, k, tokens) == pytest.approx(expected, rel=1e-12)


def test_expected_experts_hand_values() -> None:
    assert expected_experts(8, 2, 8) == pytest.approx(7.19909668, abs=1e-8)
    assert expected_experts(256, 8, 8) == pytest.approx(57.4208, abs=1e-4)
    assert expected_experts(256, 8, 64) == pytest.approx(222.442, abs=1e-3)


def simulated_distinct(shares, k, tokens, trials, rng) -> float:
    """Route ``tokens`` tokens to k distinct experts each, drawn by weight without replacement; mean distinct."""
    experts = range(len(shares))
    total = 0
    for _ in range(trials):
        touched = set()
        for _ in range(tokens):
            pool, weights = list(experts), list(shares)
            for _ in range(k):
                pick = rng.choices(range(len(pool)), weights)[0]
                touched.add(pool.pop(pick))
                weights.pop(pick)
        total += len(touched)
    return total / trials


def test_uniform_formula_matches_a_routing_simulation() -> None:
    rng = random.Random(0)
    for tokens in (1, 4, 16):
        simulated = simulated_distinct([1.0] * 16, 2, tokens, 3000, rng)
        assert simulated == pytest.approx(expected_experts(16, 2, tokens), rel=0.02)


def test_skewed_formula_matches_a_routing_simulation() -> None:
    """A Zipf-weighted router: the formula, fed the assignment shares the simulation realises (what a measured
    histogram records), matches the simulated distinct count; only tokens' independence is assumed."""
    rng = random.Random(1)
    weights = [1 / (i + 1) ** 1.0 for i in range(16)]
    counts = [0] * 16
    for _ in range(20000):  # the load histogram of this router
        pool, w = list(range(16)), list(weights)
        for _ in range(2):
            pick = rng.choices(range(len(pool)), w)[0]
            counts[pool.pop(pick)] += 1
            w.pop(pick)
    measured = Routing(expert_load=tuple(counts))
    for tokens in (2, 8):
        simulated = simulated_distinct(weights, 2, tokens, 3000, rng)
        assert expected_experts(16, 2, tokens, measured) == pytest.approx(simulated, rel=0.03)
        assert expected_experts(16, 2, tokens, measured) < expected_experts(16, 2, tokens)


def test_skewed_routing_reduces_to_uniform() -> None:
    assert expected_experts(8, 2, 5, Routing(zipf_s=0.0)) == expected_experts(8, 2, 5)
    flat = Routing(expert_load=(3.0,) * 8)
    assert expected_experts(8, 2, 5, flat) == pytest.approx(expected_experts(8, 2, 5), rel=1e-12)
    # Zipf s: shares 1/i^s, normalised.
    shares = Routing(zipf_s=1.0).shares(4)
    assert shares == pytest.approx([12 / 25, 6 / 25, 4 / 25, 3 / 25])
    with pytest.raises(ValueError, match="lists 3 experts"):
        Routing(expert_load=(1, 2, 3)).shares(8)


# --- decode weight traffic -----------------------------------------------------------------------------------

def expert_bytes(model, precision=BF16) -> float:
    return 3 * model.hidden_size * model.expert_width * precision.weight.bytes_per_element


@pytest.mark.parametrize("batch", [1, 8, 64, 1024])
def test_decode_reads_the_experts_its_tokens_touch(batch) -> None:
    ops = ops_by_name(analyze(MIXTRAL, H200, Workload(batch=batch, context_len=512)).decode)
    experts = sum(ops[n].weight_bytes for n in ("moe.gate", "moe.up", "moe.down"))
    assert experts == pytest.approx(expected_experts(8, 2, batch) * expert_bytes(MIXTRAL), rel=1e-12)
    assert ops["moe.gate"].count == 32
    # FLOPs follow the tokens routed (b*k pairs), not the experts read.
    assert ops["moe.gate"].flops == 2 * batch * 2 * 4096 * 14336
    assert ops["moe.router"].flops == 2 * batch * 4096 * 8


def test_decode_at_batch_one_reads_top_k_and_at_large_batch_all() -> None:
    """Where the public calculators go wrong in opposite directions: k experts at batch 1, all E at a big batch."""
    a1 = analyze(DEEPSEEK, H200, Workload(batch=1, context_len=512))
    big = analyze(DEEPSEEK, H200, Workload(batch=1024, context_len=512))
    one_expert = expert_bytes(DEEPSEEK)
    routed = lambda a: sum(op.weight_bytes * op.count for op in a.decode.ops if op.name in ("moe.gate", "moe.up",
                                                                                           "moe.down"))
    assert routed(a1) == pytest.approx(58 * 8 * one_expert)
    assert routed(big) == pytest.approx(58 * 256 * one_expert, rel=1e-9)
    assert AnalysisRecord.of(a1).to_dict()["phases"]["decode"]["expected_experts_per_layer"] == 8
    # The bytes per generated token fall as the touched experts are shared.
    per_token = [analyze(DEEPSEEK, H200, Workload(batch=b, context_len=512)).decode.totals.weight_bytes / b
                 for b in (1, 8, 64)]
    assert per_token[0] > per_token[1] > per_token[2]


def test_decode_weight_bytes_total_at_batch_one() -> None:
    a = analyze(MIXTRAL, H200, Workload(batch=1, context_len=512))
    h, v = 4096, 32000
    skipped = 32 * 6 * 3 * h * 14336  # the 6 experts of each layer a single token does not use
    # Every other weight once in bf16 (one row of the embedding table).
    assert a.decode.totals.weight_bytes == 2 * (param_count(MIXTRAL) - skipped - v * h) + 2 * h


def test_all_experts_stay_resident() -> None:
    a = analyze(MIXTRAL, H200, Workload(batch=1))
    assert a.weight_bytes == 2 * param_count(MIXTRAL)
    assert a.weight_bytes_per_gpu == 2 * param_count(MIXTRAL)
    data = AnalysisRecord.of(a).to_dict()
    assert data["model"]["params"] == 46_702_792_704
    assert data["model"]["active_params"] == 46_702_792_704 - 32 * 6 * expert_param_count(MIXTRAL)


def test_prefill_touches_every_expert() -> None:
    a = analyze(MIXTRAL, H200, Workload(batch=1, prompt_len=512))
    assert a.expected_experts_per_layer("prefill") == pytest.approx(8)
    ops = ops_by_name(a.prefill)
    assert ops["moe.gate"].weight_bytes == pytest.approx(8 * 4096 * 14336 * 2)


def test_shared_experts_and_dense_layers() -> None:
    ops = ops_by_name(analyze(DEEPSEEK, H200, Workload(batch=4, prompt_len=16)).prefill)
    t = 4 * 16
    assert ops["moe.shared.gate"].flops == 2 * t * 7168 * 2048
    assert ops["moe.shared.gate"].count == 58
    assert ops["mlp.gate"].flops == 2 * t * 7168 * 18432 and ops["mlp.gate"].count == 3
    assert ops["moe.gate"].flops == 2 * t * 8 * 7168 * 2048


def test_skewed_routing_reads_fewer_experts() -> None:
    uniform = analyze(DEEPSEEK, H200, Workload(batch=32))
    skewed = analyze(DEEPSEEK, H200, Workload(batch=32, routing=Routing(zipf_s=1.0)))
    assert skewed.decode.totals.weight_bytes < uniform.decode.totals.weight_bytes
    assert skewed.decode.totals.flops == uniform.decode.totals.flops


def test_mxfp4_experts_are_counted_with_their_scales() -> None:
    oss = get_model("gpt-oss-120b")
    mxfp4 = get_dtype("mxfp4")
    assert mxfp4.bytes_per_element == 0.5 + 1 / 32  # 4.25 bits
    precision = Precision(weight=get_dtype("bf16"), activation=get_dtype("bf16"), kv=get_dtype("bf16"),
                          expert_weight=mxfp4)
    a = analyze(oss, H200, Workload(batch=1, precision=precision))
    h, w, e = 2880, 2880, 128
    expert = 3 * h * w * 0.53125 + (2 * w + h) * 2  # packed values, scales, bf16 biases
    assert a.weight_bytes == pytest.approx(2 * param_count(oss) - 36 * e * (2 * 3 * h * w - 3 * h * w * 0.53125))
    ops = ops_by_name(a.decode)
    touched = sum(ops[n].weight_bytes for n in ("moe.gate", "moe.up", "moe.down"))
    assert touched == pytest.approx(4 * expert)
    # fp8 with 128 x 128 blocks: one fp32 scale per 16384 weights.
    fp8 = get_dtype("fp8-block")
    assert fp8.nbytes(7168 * 2048) == 7168 * 2048 + (7168 // 128) * (2048 // 128) * 4


# --- expert parallelism ----------------------------------------------------------------------------------------

def test_expert_parallel_splits_experts_and_adds_all_to_all() -> None:
    base = analyze(MIXTRAL, H200, Workload(batch=8, tp=2))
    ep = analyze(MIXTRAL, H200, Workload(batch=8, tp=2, ep=4))
    # Every rank holds 2 of the 8 experts; the attention and embeddings are replicated over the 4 EP groups.
    experts_per_gpu = lambda a: a.stage_weight_bytes[0]
    expert_total = 32 * 8 * 3 * 4096 * 14336 * 2
    assert experts_per_gpu(base) - experts_per_gpu(ep) == pytest.approx(expert_total / 2 - expert_total / 8)
    # The same expected experts are read in all (spread over the ranks); the same FLOPs.
    routed = lambda a: sum(op.weight_bytes * op.count for op in a.decode.ops if op.name.startswith("moe.") and
                           op.name in ("moe.gate", "moe.up", "moe.down"))
    assert routed(ep) == pytest.approx(routed(base))
    assert ep.decode.totals.flops == pytest.approx(base.decode.totals.flops)
    names = {c.name for c in ep.decode.comm}
    assert {"comm.moe_dispatch", "comm.moe_combine"} <= names
    dispatch = next(c for c in ep.decode.comm if c.name == "comm.moe_dispatch")
    assert dispatch.bytes == 2 * 2 * 4096 * 2  # 2 sequences per rank x k=2 x h x bf16
    assert dispatch.count == 32
    data = AnalysisRecord.of(ep).to_dict()
    assert data["parallel"]["ep"] == 4 and data["parallel"]["gpus"] == 8
    assert ep.decode.tokens == 8


def test_expert_parallel_errors() -> None:
    with pytest.raises(LlmroofError, match="no experts"):
        analyze(get_model("llama-3-8b"), H200, Workload(batch=2, ep=2))
    with pytest.raises(LlmroofError, match="does not divide the 8 experts"):
        analyze(MIXTRAL, H200, Workload(batch=3, ep=3))
    with pytest.raises(ValueError, match="data-parallel"):
        Workload(batch=3, ep=2)


def test_moe_compute_bound_batch_is_the_first_compute_bound_batch() -> None:
    a = analyze(MIXTRAL, H200, Workload(batch=1, context_len=128))
    b = a.compute_bound_batch()
    assert b is not None
    at = lambda n: analyze(MIXTRAL, H200, Workload(batch=n, context_len=128)).decode.bound
    assert at(b) == "compute" and at(b - 1) == "memory"


# --- multi-head latent attention --------------------------------------------------------------------------------

def test_latent_kv_cache_of_deepseek_v3() -> None:
    assert kv_bytes_per_token(DEEPSEEK, BF16) == 61 * (512 + 64) * 2 == 70_272
    a = analyze(DEEPSEEK, H200, Workload(batch=2, context_len=4096, tp=8))
    # The latent has no heads: every tensor-parallel rank keeps all of it.
    assert a.stage_kv_bytes_per_token[0] == 70_272
    decode = a.decode.totals
    assert decode.kv_write_bytes == 8 * 2 * 70_272  # 8 ranks, 2 new tokens


def test_absorbed_decode_reads_the_latent_cache_once() -> None:
    b, c = 4, 4096
    flash = analyze(DEEPSEEK, H200, Workload(batch=b, context_len=c, attention_kernel="flash"))
    ops = ops_by_name(flash.decode)
    assert ops["attn.flash"].kv_read_bytes == b * c * (512 + 64) * 2
    # MQA over the latent: 128 heads, keys of 576, values of 512.
    assert ops["attn.flash"].flops == (2 * 576 + 2 * 512 + 5) * b * 128 * c
    assert ops["attn.q_absorb"].flops == 2 * b * 128 * 128 * 512
    assert ops["attn.v_absorb"].flops == 2 * b * 128 * 512 * 128
    # The absorbed weights are the two halves of W_kvb.
    naive = ops_by_name(analyze(DEEPSEEK, H200, Workload(batch=b, context_len=c, attention_kernel="flash",
                                                         mla_absorbed=False)).decode)
    assert ops["attn.q_absorb"].weight_bytes + ops["attn.v_absorb"].weight_bytes == naive["attn.kv_b"].weight_bytes
    # Decompressing every cached token every step costs far more FLOPs and traffic.
    assert naive["attn.kv_b"].flops == 2 * b * c * 512 * 128 * (128 + 128)
    assert naive["attn.kv_b"].kv_read_bytes == b * c * 512 * 2
    assert sum(o.flops for o in naive.values()) > 10 * sum(o.flops for o in ops.values() if o.name.startswith("attn"))


def test_prefill_decompresses() -> None:
    ops = ops_by_name(analyze(DEEPSEEK, H200, Workload(batch=1, prompt_len=64)).prefill)
    assert ops["attn.kv_b"].flops == 2 * 64 * 512 * 128 * 256
    assert ops["attn.scores"].flops == 2 * 128 * 64 * 64 * 192
    assert ops["attn.context"].flops == 2 * 128 * 64 * 64 * 128
    assert "attn.q_absorb" not in ops


# --- attention windows ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("context", "kept"), [(1000, 1000), (4096, 4096), (32768, 4096)])
def test_windowed_decode_reads_min_context_window(context, kept) -> None:
    mistral = get_model("mistral-7b")
    ops = ops_by_name(analyze(mistral, H200, Workload(batch=2, context_len=context)).decode)
    assert "attn.scores" not in ops  # every layer windowed
    assert ops["attn.window.scores"].kv_read_bytes == 2 * kept * 8 * 128 * 2
    assert ops["attn.window.scores"].flops == 2 * 2 * 32 * kept * 128


def test_alternating_windows_split_the_layers() -> None:
    gemma = get_model("gemma-2-9b")
    a = analyze(gemma, H200, Workload(batch=1, context_len=16384))
    ops = ops_by_name(a.decode)
    assert ops["attn.scores"].count == ops["attn.window.scores"].count == 21
    layer = 2 * 8 * 256 * 2
    assert a.decode.totals.kv_read_bytes == 21 * (16384 + 4096) * layer
    # Memory: full layers keep 16384 tokens, windowed ones 4096.
    assert a.kv_bytes_per_gpu(1, 16384) == (21 * 16384 + 21 * 4096) * layer
    assert a.kv_bytes_per_gpu(1, 1000) == 42 * 1000 * layer


def test_windowed_flash_prefill_pairs() -> None:
    mistral = dataclasses.replace(get_model("mistral-7b"), sliding_window=64)
    for s, pairs in ((32, 32 * 33 // 2), (100, 64 * 65 // 2 + 36 * 64)):
        ops = ops_by_name(analyze(mistral, H200, Workload(batch=1, prompt_len=s, attention_kernel="flash")).prefill)
        assert ops["attn.window.flash"].flops == (4 * 128 + 5) * 32 * pairs


def test_max_context_with_windows() -> None:
    mistral = get_model("mistral-7b")
    a = analyze(mistral, H200, Workload(batch=1))
    assert a.max_context(1) == 2**31 - 1  # the cache stops growing at the window
    gemma = analyze(get_model("gemma-2-9b"), H200, Workload(batch=8))
    c = gemma.max_context(8)
    assert gemma.kv_bytes_per_gpu(8, c) + gemma.weight_bytes_per_gpu <= gemma.usable_memory_bytes
    assert gemma.kv_bytes_per_gpu(8, c + 1) + gemma.weight_bytes_per_gpu > gemma.usable_memory_bytes
    assert gemma.max_batch(c) == 8


def test_formulas_take_arrays_of_tokens_and_contexts() -> None:
    """The MoE, MLA and window formulas are plain arithmetic on batch, prompt and context, so the vectorised path
    can evaluate them over numpy arrays; each element equals the scalar result."""
    np = pytest.importorskip("numpy")
    from llmroof.analytic.mla import mla_ops
    from llmroof.analytic.moe import moe_ops
    from llmroof.analytic.ops import PassShape, _attention_core
    from llmroof.analytic.sharding import shard_model

    tokens = np.array([1, 8, 64, 1024])
    shard = shard_model(MIXTRAL, 1)
    vector = moe_ops(MIXTRAL, shard, BF16, "decode", tokens, 32)
    for i, t in enumerate(tokens.tolist()):
        scalar = moe_ops(MIXTRAL, shard, BF16, "decode", t, 32)
        for v_op, s_op in zip(vector, scalar):
            for field in ("flops", "weight_bytes", "act_read_bytes", "act_write_bytes"):
                column = np.broadcast_to(getattr(v_op, field), tokens.shape)  # constants stay scalars
                assert column[i] == pytest.approx(getattr(s_op, field)), (v_op.name, field)
    contexts = np.array([100, 4096, 32768])
    window = _attention_core("attn.window", "decode", 2, 1, contexts, 4096, 32, 128, 1024, 2.0, 2.0, "eager", 32)
    assert list(window[0].kv_read_bytes) == [2 * min(c, 4096) * 1024 * 2 for c in contexts.tolist()]
    prefill = _attention_core("attn.window", "prefill", 1, np.array([32, 100]), np.array([32, 100]), 64, 32, 128,
                              1024, 2.0, 2.0, "flash", 32)
    assert list(prefill[0].flops) == [(4 * 128 + 5) * 32 * p for p in (32 * 33 // 2, 64 * 65 // 2 + 36 * 64)]
    deepseek = shard_model(DEEPSEEK, 1)
    shape = PassShape("decode", np.array([1, 4]), 1, np.array([4096, 4096]), np.array([1, 4]))
    ops = {op.name: op for op in mla_ops(DEEPSEEK, deepseek, BF16, shape, 61, attention_kernel="flash")}
    assert list(ops["attn.flash"].kv_read_bytes) == [b * 4096 * 576 * 2 for b in (1, 4)]


@pytest.mark.parametrize("name", ["mixtral-8x7b", "mixtral-8x22b", "qwen3-30b-a3b", "deepseek-v3", "deepseek-v2-lite",
                                  "gpt-oss-20b", "gpt-oss-120b", "gemma-2-9b", "mistral-7b"])
def test_every_parameter_is_resident_once(name) -> None:
    """The ops' weight bytes with every expert counted are the parameters (checked against transformers in
    test_moe_models.py) at 2 bytes each: nothing is left out or counted twice."""
    model = get_model(name)
    assert analyze(model, H200, Workload(batch=1)).weight_bytes == 2 * param_count(model)
