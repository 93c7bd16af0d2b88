"""``plan`` on mixture-of-experts models: expert parallelism is searched, and decode steps follow the experts
touched at each batch (not a straight line through batch 1 and 2)."""

from __future__ import annotations

import dataclasses

import pytest

from llmroof.analytic import Workload, analyze
from llmroof.plan import PlanRequest, layout_configs, plan
from llmroof.plan.planner import expert_parallel_degrees
from llmroof.plan.steps import DecodeModel, ExactDecode
from llmroof.specs import get_hardware, get_model

H200 = get_hardware("h200")
MIXTRAL = get_model("mixtral-8x7b")


def test_expert_parallel_degrees() -> None:
    assert expert_parallel_degrees(get_model("llama-3-8b"), 8) == [1]
    assert expert_parallel_degrees(MIXTRAL, 8) == [1, 2, 4, 8]
    assert expert_parallel_degrees(get_model("deepseek-v3"), 6) == [1, 2, 4]


def test_plan_searches_expert_parallel_layouts() -> None:
    result = plan(PlanRequest(model=MIXTRAL, hardware=(H200,), max_gpus_per_replica=4, output_len=64))
    layouts = {(c.tp, c.pp, c.ep) for c in result.configs if c.fits}
    assert (1, 1, 2) in layouts and (2, 1, 2) in layouts and (1, 1, 4) in layouts
    for c in result.configs:
        assert c.gpus_per_replica == c.tp * c.pp * c.ep
        if c.fits:
            assert c.concurrent_sequences % (c.pp * c.ep) == 0
    assert any(" ep2 " in c.id for c in result.configs)


def test_moe_decode_is_analysed_at_each_batch() -> None:
    workload = Workload(batch=1, context_len=2048, attention_kernel="flash")
    one = analyze(MIXTRAL, H200, workload)
    exact = ExactDecode.of(one)
    for batch in (1, 7, 64):
        expected = analyze(MIXTRAL, H200, dataclasses.replace(workload, batch=batch)).decode.stage_times_s
        assert exact.stage_times_s(batch) == pytest.approx(list(expected))
    # A straight line through batch 1 and 2 would read about k more experts per sequence forever.
    line = DecodeModel.fit(one, analyze(MIXTRAL, H200, dataclasses.replace(workload, batch=2)))
    assert line.stage_times_s(256)[0] > 2 * exact.stage_times_s(256)[0]


def test_expert_parallel_layout_rows() -> None:
    request = PlanRequest(model=MIXTRAL, hardware=(H200,), output_len=64)
    rows = layout_configs(request, H200, 1, 1, ep=4)
    assert rows and all(r.ep == 4 and r.gpus_per_replica == 4 for r in rows)
    assert rows[0].concurrent_sequences == 4
