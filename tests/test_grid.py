"""The vectorised grid (analytic/grid.py) against the scalar analyze: equal to the last bit (==, never approx)
at random configurations of every model preset, layout, precision and option."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from llmroof.analytic import Workload, analyze
from llmroof.analytic.analysis import BYTE_FIELDS
from llmroof.analytic.grid import analyze_grid
from llmroof.analytic.moe import Routing
from llmroof.analytic.sharding import shard_model
from llmroof.errors import LlmroofError
from llmroof.specs import MODEL_PRESETS, Precision, get_dtype, get_hardware
from llmroof.specs.hardware import builtin_hardware

PRECISIONS = [Precision.uniform("bf16"), Precision.uniform("fp8"), Precision.uniform("fp32"),
              Precision(weight=get_dtype("int4"), activation=get_dtype("bf16"), kv=get_dtype("fp8")),
              Precision(weight=get_dtype("int8"), activation=get_dtype("fp16"), kv=get_dtype("int8"))]


def _workload(model, rng: random.Random) -> Workload:
    """A random valid workload (layout, precision, options) for ``model``; its batch and lengths are the grid's."""
    while True:
        tp = rng.choice([1, 2, 4, 8])
        try:
            shard_model(model, tp)
        except LlmroofError:
            continue
        pp = rng.choice([1, 1, 2, 3, 4])
        micro_batches = rng.choice([1, 1, 2, 4])
        moe = {}
        if model.is_moe:  # expert parallelism over a divisor of the experts, uniform or skewed routing
            moe = {"ep": rng.choice([ep for ep in (1, 2, 4) if model.num_experts % ep == 0]),
                   "routing": rng.choice([Routing(), Routing(zipf_s=1.2)])}
        return Workload(batch=micro_batches * moe.get("ep", 1), tp=tp, pp=pp, micro_batches=micro_batches, **moe,
                        precision=rng.choice(PRECISIONS), implementation=rng.choice(["fused", "eager"]),
                        mla_absorbed=rng.random() < 0.7,
                        attention_kernel=rng.choice(["eager", "flash"]), fused_qkv=rng.random() < 0.5,
                        all_logits=rng.random() < 0.3, memory_reserve_fraction=rng.choice([0.0, 0.1, 0.25]))


def _assert_point_equal(grid, index: tuple[int, ...], model, hardware, base: Workload) -> None:
    b, s, c = (int(grid.batch[index]), int(grid.prompt_len[index]), int(grid.context_len[index]))
    m = base.micro_batches if b % (base.micro_batches * base.ep) == 0 else 1
    a = analyze(model, hardware, dataclasses.replace(base, batch=b, prompt_len=s, context_len=c, micro_batches=m))
    where = f"{model.name} {hardware.name} {base} b={b} s={s} c={c}"
    for phase in ("prefill", "decode"):
        scalar = getattr(a, phase)
        for key in ("flops", "bytes", *BYTE_FIELDS):
            assert grid.total(phase, key)[index] == getattr(scalar.totals, key), (where, phase, key)
        assert grid.bound(phase)[index] == scalar.bound, where
        for j, t in enumerate(scalar.stage_times_s):
            assert np.broadcast_to(getattr(grid, phase).stage_times_s[j], grid.shape)[index] == t, where
    assert grid.ttft_s[index] == a.prefill.time_s, where
    assert grid.tpot_s[index] == a.decode.time_s, where
    assert grid.decode_tokens_per_s[index] == a.decode_tokens_per_s, where
    assert grid.total_bytes_per_gpu[index] == a.total_bytes_per_gpu(), where
    assert bool(grid.fits[index]) is a.fits, where
    assert grid.max_batch[index] == a.max_batch(), where


@pytest.mark.parametrize("name", sorted(MODEL_PRESETS))
def test_grid_equals_scalar_analyze_bit_for_bit(name: str) -> None:
    model = MODEL_PRESETS[name]
    rng = random.Random(name)
    devices = builtin_hardware()
    for _ in range(3):
        hardware, base = rng.choice(devices), _workload(model, rng)
        # A 3-D grid: batch x prompt x context, each axis random (context beyond 2**20, batch beyond 1000).
        batch = base.ep * np.array(sorted(rng.sample(range(1, 1500), 5)))[:, None, None]
        prompt = np.array(rng.sample(range(1, 40_000), 3))[None, :, None]
        context = np.array(rng.sample(range(1, 2_000_000), 4))[None, None, :]
        grid = analyze_grid(model, hardware, base, batch=batch, prompt_len=prompt, context_len=context)
        assert grid.shape == (5, 3, 4)
        for _ in range(6):
            index = tuple(rng.randrange(n) for n in grid.shape)
            _assert_point_equal(grid, index, model, hardware, base)


def test_flat_arrays_and_defaults() -> None:
    """1-D arrays of equal length pair up point by point; an axis left out keeps the workload's value."""
    model, hardware = MODEL_PRESETS["llama-3-8b"], get_hardware("h100")
    base = Workload(prompt_len=1000, context_len=3000)
    grid = analyze_grid(model, hardware, base, batch=[1, 7, 64])
    assert grid.shape == (3,) and list(grid.context_len) == [3000] * 3
    for i in range(3):
        _assert_point_equal(grid, (i,), model, hardware, base)


def test_micro_batches_fall_back_to_one_where_they_do_not_divide() -> None:
    model, hardware = MODEL_PRESETS["llama-3-70b"], get_hardware("a100")
    base = Workload(batch=4, tp=2, pp=4, micro_batches=4)
    grid = analyze_grid(model, hardware, base, batch=np.arange(1, 13))
    assert list(grid.micro_batches) == [1, 1, 1, 4, 1, 1, 1, 4, 1, 1, 1, 4]
    for i in range(12):
        _assert_point_equal(grid, (i,), model, hardware, base)


def test_grid_rejects_what_would_overflow_int64_and_bad_values() -> None:
    model, hardware = MODEL_PRESETS["llama-3.1-405b"], get_hardware("h100")
    with pytest.raises(ValueError, match="overflow"):
        analyze_grid(model, hardware, Workload(tp=8), batch=[4096], prompt_len=[2**24])
    with pytest.raises(ValueError, match="positive"):
        analyze_grid(model, hardware, Workload(tp=8), batch=[0, 1])
    with pytest.raises(ValueError, match="integers"):
        analyze_grid(model, hardware, Workload(tp=8), batch=[1.5])


def test_arith_helpers_round_and_choose_as_python_does() -> None:
    from llmroof.analytic import arith

    ints = [1, 2**53 + 1, 2**53 + 3, 2**62 - 1, 3 * 2**60 + 12345]
    assert arith.to_float(np.array(ints)).tolist() == [float(i) for i in ints]  # round half to even, both
    floats = [0.5, 1.9999999999999998, 2.5e18, -0.7]
    assert arith.to_int(np.array(floats)).tolist() == [int(x) for x in floats]
    free, need = [7.0e10, 1.0e11, 3.3e10], [2.6e6, 3.0e5, 1.1e3]
    assert (np.array(free) // np.array(need)).tolist() == [f // n for f, n in zip(free, need)]
    assert arith.largest([3, 7, 5]) == 7 and arith.smallest([3.0, 1.0]) == 1.0
    assert arith.largest([np.array([1, 9]), np.array([4, 2])]).tolist() == [4, 9]
    assert arith.where(np.array([True, False]), "compute", "memory").tolist() == ["compute", "memory"]
    assert arith.where(False, "compute", "memory") == "memory"
