"""Capacity planning against hand-computed cases (memory, paged KV blocks, the steady-state formulas of
docs/planning.md), the fast decode model against ``analyze`` itself, the Pareto front against its
definition, and the recommendation and verdicts."""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmroof.analytic import Workload, analyze
from llmroof.plan import PlanRequest, batch_grid, layout_configs, pareto_front, plan, with_gpus_per_node
from llmroof.plan.ranking import miss_factor
from llmroof.plan.steps import DecodeModel, LinearOp, PiecewiseLinear, StageTimes
from llmroof.specs import Precision, get_hardware, get_model

H100 = get_hardware("h100-sxm")
A100 = get_hardware("a100-sxm-80gb")
LLAMA3_70B = get_model("llama-3-70b")
LLAMA3_8B = get_model("llama-3-8b")

USABLE_H100 = 77_309_411_328  # 0.9 * 80 GiB
# Llama-3-70B layer parameters: attention 2*8192*8192 + 2*8192*1024, MLP 3*8192*28672, two RMSNorms.
ATTENTION_70B, MLP_70B, NORMS_70B = 150_994_944, 704_643_072, 16_384
EMBEDDING_70B_BYTES = 128_256 * 8192 * 2


def request(**changes) -> PlanRequest:
    values = dict(model=LLAMA3_70B, hardware=(H100,), prompt_len=2048, output_len=512, max_gpus_per_replica=8)
    values.update(changes)
    return PlanRequest(**values)


def configs_of(result, tp: int, pp: int, hardware: str = "h100-sxm"):
    return [c for c in result.configs if (c.hardware, c.tp, c.pp) == (hardware, tp, pp)]


# --- memory: weights, paged KV, the largest number of sequences --------------------------------

def test_llama3_70b_in_bf16_needs_two_h100s() -> None:
    result = plan(request())
    single = configs_of(result, 1, 1)
    assert len(single) == 1 and not single[0].fits
    assert single[0].weight_bytes_per_gpu == 2 * 70_553_706_496  # every parameter in bf16
    assert single[0].rejected_reasons == ("does not fit: 131.42 GiB of weights per GPU, 72.00 GiB usable",)
    assert min(c.gpus_per_replica for c in result.configs if c.fits) == 2
    assert {(c.tp, c.pp) for c in result.configs if c.fits and c.gpus_per_replica == 2} == {(2, 1), (1, 2)}


def test_largest_batch_follows_from_memory_left_after_weights() -> None:
    # tp = 2: each rank holds half of every projection (and of the vocabulary), the norms whole.
    weights = 80 * 2 * ((ATTENTION_70B + MLP_70B) // 2 + NORMS_70B) + 2 * EMBEDDING_70B_BYTES // 2 + 2 * 8192
    assert weights == 70_555_025_408
    kv_per_token = 80 * 2 * (8 // 2) * 128 * 2  # L * (K and V) * kv heads per rank * d * bf16
    assert kv_per_token == 163_840
    blocks = math.ceil((2048 + 512) / 16)  # 160 blocks of 16 tokens per sequence
    expected = (USABLE_H100 - weights) // (kv_per_token * blocks * 16)
    assert expected == 16
    tp2 = configs_of(plan(request()), 2, 1)
    assert {c.max_concurrent_sequences for c in tp2} == {16}
    assert max(c.concurrent_sequences for c in tp2) == 16
    full = next(c for c in tp2 if c.concurrent_sequences == 16)
    assert full.weight_bytes_per_gpu == weights
    assert full.kv_bytes_per_gpu == 16 * blocks * 16 * kv_per_token


def test_the_partly_filled_last_block_counts() -> None:
    # S + O = 2049 tokens: 129 blocks, i.e. 2064 tokens of KV per sequence; 2049 tokens would fit 20.
    free = USABLE_H100 - 70_555_025_408
    assert free // (163_840 * 2049) == 20
    assert free // (163_840 * 129 * 16) == 19
    tp2 = configs_of(plan(request(prompt_len=2000, output_len=49)), 2, 1)
    assert {c.max_concurrent_sequences for c in tp2} == {19}


def test_pipeline_stages_each_hold_their_layers_kv_for_every_sequence() -> None:
    # tp 1, pp 2: 40 layers a stage; the first also holds the embedding, the last the final norm and lm_head.
    layer = 2 * (ATTENTION_70B + MLP_70B + NORMS_70B)
    stage_weights = (40 * layer + EMBEDDING_70B_BYTES, 40 * layer + 2 * 8192 + EMBEDDING_70B_BYTES)
    kv_per_token = 40 * 2 * 8 * 128 * 2
    per_sequence = kv_per_token * 160 * 16
    expected = min((USABLE_H100 - w) // per_sequence for w in stage_weights)
    pp2 = configs_of(plan(request()), 1, 2)
    assert {c.max_concurrent_sequences for c in pp2} == {expected} == {16}
    assert {c.weight_bytes_per_gpu for c in pp2} == {max(stage_weights)}
    assert all(c.concurrent_sequences % 2 == 0 for c in pp2)  # two micro-batches of equal size


@pytest.mark.parametrize("tp,pp", [(1, 1), (2, 1), (2, 2), (1, 3)])
def test_block_of_one_token_reproduces_analyze_max_batch(tp, pp) -> None:
    req = request(model=LLAMA3_8B, kv_block_tokens=1, prompt_len=3000, output_len=1000)
    workload = Workload(context_len=4000, tp=tp, pp=pp, precision=req.precision)
    per_stage = analyze(LLAMA3_8B, H100, workload).max_batch(4000)  # pp batches of this size in flight
    configs = configs_of(plan(request(model=LLAMA3_8B, kv_block_tokens=1, prompt_len=3000, output_len=1000)),
                         tp, pp)
    assert max(c.concurrent_sequences for c in configs) == per_stage * pp


# --- the decode step at any batch, against analyze ------------------------------------------------

CASES = [
    (LLAMA3_8B, H100, 1, 1, Precision.uniform("bf16"), "flash", 128),
    (LLAMA3_8B, H100, 2, 2, Precision.uniform("fp8"), "eager", 2304),
    (LLAMA3_70B, A100, 4, 3, Precision.uniform("bf16"), "flash", 4096),
    (LLAMA3_70B, H100, 8, 2, Precision.uniform("bf16"), "flash", 300),  # tp*pp = 16 crosses nodes
    (get_model("falcon-7b"), get_hardware("a10g"), 1, 2, Precision.uniform("bf16"), "eager", 1000),  # no peak
    (get_model("llama-3.2-1b"), H100, 1, 1, Precision.uniform("bf16"), "flash", 16),  # compute-bound at large b
]


@pytest.mark.parametrize("model,hardware,tp,pp,precision,kernel,context", CASES)
def test_decode_model_reproduces_analyze_at_every_batch(model, hardware, tp, pp, precision, kernel, context) -> None:
    base = Workload(batch=1, prompt_len=64, context_len=context, precision=precision, tp=tp, pp=pp,
                    attention_kernel=kernel, fused_qkv=True)
    two = dataclasses.replace(base, batch=2)
    fitted = DecodeModel.fit(analyze(model, hardware, base), analyze(model, hardware, two))
    for batch in (1, 2, 3, 7, 64, 333, 1024, 4096):
        expected = analyze(model, hardware, dataclasses.replace(base, batch=batch)).decode.stage_times_s
        assert fitted.stage_times_s(batch) == pytest.approx(expected, rel=1e-12)


times = st.floats(min_value=0.0, max_value=1e-2, allow_nan=False)


@given(st.lists(st.builds(LinearOp, times, times, times, times), min_size=1, max_size=25),
       st.integers(min_value=1, max_value=100_000))
def test_piecewise_sum_is_the_sum_of_the_maxima(ops, batch) -> None:
    expected = sum(op.time_s(batch) for op in ops)
    assert PiecewiseLinear.of(ops)(batch) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_the_fit_switches_ops_to_compute_bound() -> None:
    base = Workload(batch=1, context_len=16, attention_kernel="flash")
    model = get_model("llama-3.2-1b")
    at = lambda b: analyze(model, H100, dataclasses.replace(base, batch=b))  # noqa: E731
    assert at(1).decode.bound == "memory" and at(4096).decode.bound == "compute"
    fitted = DecodeModel.fit(at(1), at(2))
    assert fitted.stage_times_s(4096) == pytest.approx(at(4096).decode.stage_times_s, rel=1e-12)


def test_calibration_scales_kernels_not_links() -> None:
    base = Workload(batch=1, context_len=2048, tp=4, pp=2, attention_kernel="flash")
    one = analyze(LLAMA3_70B, H100, base)
    two = analyze(LLAMA3_70B, H100, dataclasses.replace(base, batch=2))
    fitted = DecodeModel.fit(one, two)
    stages = StageTimes.of(one.decode, one.stage_layers)
    assert all(c > 0 for c in stages.comm_s)  # all-reduces and a pipeline send
    assert fitted.stage_times_s(1, efficiency=0.5) == pytest.approx(
        [2 * k + c for k, c in zip(stages.kernel_s, stages.comm_s)], rel=1e-12)


# --- the steady state: TTFT, TPOT, throughput, replicas, cost ----------------------------------

def test_steady_state_formulas_by_hand() -> None:
    req = request(rate_qps=3.0, gpu_hour_cost_usd=(2.0,), prompt_len=1000, output_len=200)
    assert req.decode_context_len == 1100  # S + ceil(O/2): the mean KV length over a request's steps
    configs = {c.concurrent_sequences: c for c in configs_of(plan(req), 2, 1)}
    config = configs[8]
    a = analyze(LLAMA3_70B, H100, Workload(batch=8, prompt_len=1000, context_len=1100, tp=2,
                                           attention_kernel="flash", fused_qkv=True))
    step, prefill = a.decode.time_s, analyze(LLAMA3_70B, H100, dataclasses.replace(a.workload, batch=1)).prefill.time_s
    assert config.decode_step_s == pytest.approx(step, rel=1e-12)
    assert config.prefill_s == pytest.approx(prefill, rel=1e-12)
    tpot = step + 8 / 200 * prefill  # each step, 8/200 new requests' prefills run between the steps
    assert config.tpot_s == pytest.approx(tpot, rel=1e-12)
    assert config.ttft_s == pytest.approx(step + prefill, rel=1e-12)  # wait out the step in flight, then prefill
    assert config.tokens_per_s_per_user == pytest.approx(1 / tpot)
    assert config.tokens_per_s_per_gpu == pytest.approx(8 / tpot / 2)
    requests_per_s = 8 / tpot / 200
    assert config.replicas == math.ceil(3.0 / requests_per_s)
    assert config.total_gpus == 2 * config.replicas
    hours = config.total_gpus * 1e6 / (3.0 * 200 * 3600)  # the fleet's GPU-hours per million output tokens
    assert config.gpu_hours_per_million_tokens == pytest.approx(hours)
    assert config.usd_per_million_tokens == pytest.approx(2.0 * hours)


def test_short_outputs_queue_several_prefills_per_round() -> None:
    # O = 4 and B = 16: four requests are admitted per round; the last waits for the three before it.
    req = request(model=LLAMA3_8B, prompt_len=512, output_len=4, max_gpus_per_replica=1)
    config = next(c for c in plan(req).configs if c.concurrent_sequences == 16)
    assert config.ttft_s == pytest.approx(config.decode_step_s + 16 / 4 * config.prefill_s, rel=1e-12)
    assert config.tpot_s == pytest.approx(config.decode_step_s + 16 / 4 * config.prefill_s, rel=1e-12)
    one = next(c for c in plan(req).configs if c.concurrent_sequences == 2)  # half a prefill per round
    assert one.ttft_s == pytest.approx(one.decode_step_s + one.prefill_s, rel=1e-12)


def test_pipelined_round_is_set_by_the_busiest_stage() -> None:
    req = request(prompt_len=1000, output_len=200)
    config = next(c for c in configs_of(plan(req), 2, 2) if c.concurrent_sequences == 8)
    workload = Workload(batch=4, prompt_len=1000, context_len=1100, tp=2, pp=2, attention_kernel="flash",
                        fused_qkv=True)
    decode = analyze(LLAMA3_70B, H100, workload).decode.stage_times_s
    prefill = analyze(LLAMA3_70B, H100, dataclasses.replace(workload, batch=1)).prefill.stage_times_s
    # Two micro-batches of 4: each stage runs both every round, plus its share of 8/200 prefills.
    assert config.tpot_s == pytest.approx(max(2 * d + 8 / 200 * p for d, p in zip(decode, prefill)), rel=1e-12)
    assert config.ttft_s == pytest.approx(sum(decode) + sum(prefill), rel=1e-12)
    assert config.decode_step_s == pytest.approx(sum(decode), rel=1e-12)


def test_without_a_rate_one_replica_at_full_load() -> None:
    config = next(c for c in configs_of(plan(request(gpu_hour_cost_usd=(3.0,))), 2, 1) if c.concurrent_sequences == 4)
    assert (config.replicas, config.total_gpus) == (1, 2)
    assert config.gpu_hours_per_million_tokens == pytest.approx(1e6 / (config.tokens_per_s_per_gpu * 3600))
    assert config.usd_per_million_tokens == pytest.approx(3.0 * config.gpu_hours_per_million_tokens)


def test_times_grow_and_throughput_per_gpu_grows_with_concurrency() -> None:
    configs = configs_of(plan(request()), 4, 1)
    # the ladder of concurrencies from one sequence to the memory limit (27 at 0.2.0: 1..200)
    assert len(configs) >= 20 and configs[0].concurrent_sequences == 1
    for a, b in itertools.pairwise(configs):
        assert a.concurrent_sequences < b.concurrent_sequences
        assert a.tpot_s < b.tpot_s and a.ttft_s < b.ttft_s
        assert a.tokens_per_s_per_gpu < b.tokens_per_s_per_gpu


def test_grid_includes_the_largest_concurrency_that_meets_the_slo() -> None:
    req = request(tpot_slo_s=0.030, ttft_slo_s=1.0)
    configs = configs_of(plan(req), 4, 1)
    meeting = [c for c in configs if c.meets_slo]
    largest = max(meeting, key=lambda c: c.concurrent_sequences)
    # One more sequence (the grid may not hold it) misses the TPOT objective.
    assert largest.concurrent_sequences < largest.max_concurrent_sequences
    wider = dataclasses.replace(req, batch_points_per_doubling=10_000)  # every integer
    dense = {c.concurrent_sequences: c for c in layout_configs(wider, H100, 4, 1)}
    assert not dense[largest.concurrent_sequences + 1].meets_slo
    assert dense[largest.concurrent_sequences].tpot_s == pytest.approx(largest.tpot_s)


def test_with_a_rate_the_layouts_pick_is_the_fastest_on_the_fewest_replicas() -> None:
    req = request(rate_qps=10.0, tpot_slo_s=0.05)
    result = plan(req)
    best = result.best
    dense = layout_configs(dataclasses.replace(req, batch_points_per_doubling=10_000), H100, best.tp, best.pp)
    meeting = [c for c in dense if c.meets_slo]
    fewest = min(c.total_gpus for c in meeting)
    assert best.total_gpus == fewest
    assert best.concurrent_sequences == min(c.concurrent_sequences for c in meeting if c.total_gpus == fewest)


def test_batch_grid() -> None:
    assert batch_grid(1, 4) == [1]
    assert batch_grid(40, 4) == [1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 13, 16, 19, 23, 27, 32, 38, 40]
    assert batch_grid(9, 1) == [1, 2, 4, 8, 9]


# --- Pareto front, recommendation, verdicts ------------------------------------------------------

def test_pareto_front_against_its_definition() -> None:
    result = plan(request(hardware=(H100, A100)))
    configs = result.configs
    front = set(pareto_front(configs))
    assert front == set(result.pareto)

    def dominates(a, b) -> bool:
        return (a.hardware == b.hardware and a.tokens_per_s_per_gpu >= b.tokens_per_s_per_gpu
                and a.tokens_per_s_per_user >= b.tokens_per_s_per_user
                and (a.tokens_per_s_per_gpu > b.tokens_per_s_per_gpu
                     or a.tokens_per_s_per_user > b.tokens_per_s_per_user))

    fitting = [c for c in configs if c.fits]
    for i in front:
        assert not any(dominates(other, configs[i]) for other in fitting)
    for i, c in enumerate(configs):
        if c.fits and i not in front:
            assert any(dominates(configs[j], c) or dataclasses.astuple(configs[j])[2:] == dataclasses.astuple(c)[2:] for j in front)
    assert {configs[i].hardware for i in front} == {"h100-sxm", "a100-sxm-80gb"}


def test_recommendation_is_the_cheapest_that_meets_the_slos() -> None:
    req = request(rate_qps=5.0, ttft_slo_s=0.5, tpot_slo_s=0.05, gpu_hour_cost_usd=(2.5,))
    result = plan(req)
    assert result.status == "ok"
    meeting = [c for c in result.configs if c.meets_slo]
    best = result.best
    assert best.usd_per_million_tokens == min(c.usd_per_million_tokens for c in meeting)
    assert best.ttft_s <= 0.5 and best.tpot_s <= 0.05
    per_replica = best.requests_per_s_per_replica
    assert best.replicas * per_replica >= 5.0 > (best.replicas - 1) * per_replica
    ranks = [configs.rank for configs in result.recommended]
    assert ranks == list(range(1, len(ranks) + 1)) and len(ranks) <= 5
    layouts = [result.configs[r.index].layout for r in result.recommended]
    assert len(set(layouts)) == len(layouts)  # one per layout
    costs = [result.configs[r.index].usd_per_million_tokens for r in result.recommended]
    assert costs == sorted(costs)
    reason = result.recommended[0].reason
    assert reason.startswith(f"cheapest of the {len(meeting)} configurations that meet the SLOs")
    assert "TTFT" in reason and "TPOT" in reason and "QPS" in reason
    assert "Recommended: " + best.id in result.verdict


def test_impossible_slo_is_a_verdict_with_the_closest_configurations() -> None:
    req = request(tpot_slo_s=0.001, ttft_slo_s=10.0)
    result = plan(req)
    assert result.status == "no_config_meets_slo"
    assert not result.recommended and result.closest
    assert "No configuration meets TTFT <= 10 s and TPOT <= 1 ms" in result.verdict
    factors = [miss_factor(result.configs[r.index], req) for r in result.closest]
    assert factors == sorted(factors)
    nearest = min(miss_factor(c, req) for c in result.configs if c.fits)
    assert factors[0] == nearest
    assert result.closest[0].reason.startswith("misses TPOT")


def test_nothing_fits_is_a_verdict_too() -> None:
    result = plan(request(model=get_model("llama-3.1-405b"), hardware=(get_hardware("l4"),), max_gpus_per_replica=4))
    assert result.status == "does_not_fit"
    assert not any(c.fits for c in result.configs)
    assert "does not fit on up to 4 GPUs per replica of l4" in result.verdict
    assert result.closest and result.closest[0].reason.startswith("does not fit")


def test_excluded_tensor_parallel_degrees_are_listed_with_the_reason() -> None:
    result = plan(request(model=LLAMA3_70B))
    assert [e["tp"] for e in result.excluded] == [3, 5, 6, 7]
    assert "does not divide the 64 attention heads" in result.excluded[0]["reason"]
    assert {c.tp for c in result.configs} == {1, 2, 4, 8}


def test_gpus_per_node_limits_tensor_parallelism() -> None:
    result = plan(request(hardware=(with_gpus_per_node(H100, 4),)))
    assert max(c.tp for c in result.configs) == 4
    assert with_gpus_per_node(H100, None) is H100 and H100.gpus_per_node == 8


@pytest.mark.parametrize("changes,message", [
    (dict(rate_qps=-1.0), "rate_qps must be positive"),
    (dict(ttft_slo_s=0.0), "ttft_slo_s must be positive"),
    (dict(tpot_slo_s=float("inf")), "tpot_slo_s must be positive"),
    (dict(output_len=0), "output_len must be a positive integer"),
    (dict(gpu_hour_cost_usd=(1.0, 2.0)), "2 GPU-hour prices for 1 devices"),
    (dict(hardware=(H100, H100)), "named twice"),
    (dict(memory_reserve_fraction=1.0), "memory_reserve_fraction"),
])
def test_request_validation(changes, message) -> None:
    with pytest.raises(ValueError, match=message):
        request(**changes)


def test_out_of_range_names_the_field_value_and_range() -> None:
    from llmroof.plan.request import OutOfRange

    with pytest.raises(OutOfRange) as caught:
        request(kv_block_tokens=0)
    assert (caught.value.field, caught.value.value, caught.value.bound) == ("kv_block_tokens", 0, "positive")
    with pytest.raises(OutOfRange, match="gpus_per_node must be a positive integer, got 0"):
        with_gpus_per_node(H100, 0)
    with pytest.raises(OutOfRange, match="top must be a positive integer"):
        plan(request(), top=0)


def test_json_record_has_the_contract_keys() -> None:
    data = plan(request(rate_qps=2.0, tpot_slo_s=0.05)).to_dict()
    assert data["schema"] == "llmroof.plan/1"
    assert {"request", "status", "verdict", "counts", "configs", "pareto", "recommended", "closest", "calibration",
            "excluded", "warnings"} <= set(data)
    for config in data["configs"]:
        assert {"tp", "pp", "max_concurrent_sequences", "weight_bytes_per_gpu", "kv_bytes_per_gpu", "ttft_s", "tpot_s",
                "tokens_per_s_per_gpu", "tokens_per_s_per_user", "meets_slo", "replicas", "total_gpus",
                "usd_per_million_tokens", "rejected_reasons"} <= set(config)
    assert data["recommended"][0]["rank"] == 1 and data["recommended"][0]["reason"]


def test_worked_example_of_the_docs() -> None:
    """docs/planning.md, "Worked example, continued": Llama-3-70B, tp 2, 16 sequences, 2 requests/s."""
    req = request(rate_qps=2.0, ttft_slo_s=0.5, tpot_slo_s=0.05, gpu_hour_cost_usd=(2.5,))
    config = next(c for c in configs_of(plan(req), 2, 1) if c.concurrent_sequences == 16)
    # The fused (minimum-traffic) op set since issue 11; the eager flash + fused-QKV set gave 23.153 / 170.32 ms.
    assert config.decode_step_s == pytest.approx(23.071e-3, abs=1e-6)
    assert config.prefill_s == pytest.approx(160.40e-3, abs=1e-5)
    assert config.tpot_s == pytest.approx(28.083e-3, abs=1e-6)
    assert config.ttft_s == pytest.approx(183.47e-3, abs=1e-5)
    assert (config.tokens_per_s_per_replica, config.tokens_per_s_per_gpu, config.tokens_per_s_per_user) == \
        pytest.approx((569.7, 284.9, 35.6), abs=0.1)
    assert config.requests_per_s_per_replica == pytest.approx(1.113, abs=1e-3)
    assert (config.replicas, config.total_gpus) == (2, 4)
    assert config.gpu_hours_per_million_tokens == pytest.approx(1.085, abs=1e-3)
    assert config.usd_per_million_tokens == pytest.approx(2.71, abs=0.01)
