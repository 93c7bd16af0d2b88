"""``llmroof trace`` on real CPU traces made here: torch.profiler around a tiny random transformers Llama's
``generate()`` (shapes recorded and not) and around llmroof's own CPU kernels, against this machine's
calibrated ceilings."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from llmroof.trace import TraceOptions, run_trace
from llmroof.trace.roofs import calibrated_roofs

pytestmark = (
    pytest.mark.slow
)  # a calibration and three profiled runs: about a minute on 2 busy cores

PROMPT, NEW, BATCH, LAYERS = 12, 5, 2, 12
VOCAB = 512
"""Small: generate()'s logits processing over the vocabulary is not a model op."""
PROJECTIONS = ("attn.q", "attn.k", "attn.v", "attn.o", "mlp.gate", "mlp.up", "mlp.down")


@pytest.fixture(scope="module")
def ceilings():
    """This machine's ceilings, measured in short samples (0.2 ms batches, linear calls of at most 2 ms) over
    several rounds: on a shared machine a long sample is always preempted and reads low, while the traced ops,
    tens of microseconds each, often run whole inside one time slice; short samples see the same machine."""
    from llmroof.measure.ceilings import CalibrationPlan, calibrate
    from llmroof.measure.device import open_device

    plan = CalibrationPlan(
        name="short",
        rounds=6,
        time_budget_s=6.0,
        min_rounds=3,
        min_working_set_bytes=16 * 2**10,
        top_factor=4,
        budget_ms=2.0,
        batch_ms=0.2,
        min_samples=3,
        compute_max_call_ms=2.0,
        compute_max_n=512,
    )
    return calibrate(open_device("cpu", torch), threads=torch.get_num_threads(), plan=plan)


def _import_llama():
    """transformers' Llama, imported with the checkout's root off sys.path: ``python -m pytest`` puts it first,
    and its ``kernels/`` folder (installed as ``llmroof.kernels``) would shadow the Hugging Face ``kernels``
    package that transformers imports."""
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    saved = sys.path[:]
    sys.path[:] = [
        p for p in sys.path if p not in ("", ".", root) and Path(p or ".").resolve() != Path(root)
    ]
    shadow = sys.modules.pop("kernels", None)
    try:
        from transformers import LlamaConfig, LlamaForCausalLM
    finally:
        sys.path[:] = saved
        if shadow is not None:
            sys.modules.setdefault("kernels", shadow)
    return LlamaConfig, LlamaForCausalLM


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    """A random 12-layer Llama (GQA) and its config.json: enough layers that the model's ops, not generate()'s
    own (the mask and rotary tables before the layers, the logits processing after), are most of the time."""
    LlamaConfig, LlamaForCausalLM = _import_llama()

    folder = tmp_path_factory.mktemp("llama")
    torch.manual_seed(0)
    config = LlamaConfig(
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=LAYERS,
        num_attention_heads=8,
        num_key_value_heads=2,
        vocab_size=VOCAB,
        max_position_embeddings=128,
    )
    config.save_pretrained(folder)
    return LlamaForCausalLM(config).eval(), folder


def _generate_trace(model, path, *, shapes: bool) -> None:
    from torch.profiler import ProfilerActivity, profile

    ids = torch.randint(3, 512, (BATCH, PROMPT))
    kwargs = dict(
        attention_mask=torch.ones_like(ids),
        max_new_tokens=NEW,
        min_new_tokens=NEW,
        do_sample=False,
        pad_token_id=0,
    )
    with torch.no_grad():
        model.generate(ids, **kwargs)  # warm-up
        with profile(activities=[ProfilerActivity.CPU], record_shapes=shapes) as prof:
            model.generate(ids, **kwargs)
    prof.export_chrome_trace(str(path))


def test_generate_trace_with_shapes(llama, ceilings, tmp_path) -> None:
    model, folder = llama
    from llmroof.specs.model import get_model

    _generate_trace(model, tmp_path / "generate.json", shapes=True)
    spec = get_model(str(folder))
    record = run_trace(
        [tmp_path / "generate.json"],
        TraceOptions(model=spec, roofs=calibrated_roofs(ceilings, "fp32"), dtype="fp32"),
    )
    assert record.coverage.attributed_fraction >= 0.90
    steps = [(s.phase, s.batch, s.prompt_tokens, s.context_tokens, s.source) for s in record.steps]
    assert steps == [("prefill", BATCH, PROMPT, None, "shapes")] + [
        ("decode", BATCH, None, PROMPT + k, "shapes") for k in range(1, NEW)
    ]
    ops = {(o.op, o.phase): o for o in record.ops}
    for name in PROJECTIONS:  # each projection once per layer, in every step
        assert ops[name, "prefill"].count == LAYERS and ops[name, "prefill"].layers == LAYERS
        assert ops[name, "decode"].count == LAYERS * (NEW - 1)
    assert ops["lm_head", "prefill"].count == 1 and ops["lm_head", "decode"].count == NEW - 1
    fractions = {
        (o.op, o.phase): o.roofline_fraction for o in record.ops if o.roofline_fraction is not None
    }
    assert max(fractions.values()) <= 1.05, sorted(fractions.items(), key=lambda kv: -kv[1])[:4]
    assert "launch" in {o.bound for o in record.ops}  # the norms' pieces: dispatch, not bandwidth


def test_generate_trace_without_shapes_takes_the_options(llama, ceilings, tmp_path) -> None:
    model, folder = llama
    from llmroof.specs.model import get_model

    _generate_trace(model, tmp_path / "noshapes.json", shapes=False)
    record = run_trace(
        [tmp_path / "noshapes.json"],
        TraceOptions(
            model=get_model(str(folder)),
            roofs=calibrated_roofs(ceilings, "fp32"),
            dtype="fp32",
            batch=BATCH,
            context=PROMPT + 3,
            prompt=PROMPT,
        ),
    )
    assert record.coverage.attributed_fraction >= 0.90
    assert len(record.steps) == NEW and {s.source for s in record.steps} == {"options"}
    assert [(s.phase, s.prompt_tokens, s.context_tokens) for s in record.steps] == [
        ("prefill", PROMPT, None)
    ] + [("decode", None, PROMPT + 3)] * (NEW - 1)
    ops = {(o.op, o.phase): o for o in record.ops}
    for name in PROJECTIONS:  # by position: q, k, v then o, gate, up, down
        assert ops[name, "prefill"].count == LAYERS and ops[name, "decode"].count == LAYERS * (
            NEW - 1
        )


def test_llmroof_kernels_trace(ceilings, tmp_path, tiny_config_json) -> None:
    """torch.profiler around llmroof's own CPU decoder stack (one prefill, ProfilerStep per pass)."""
    from llmroof.kernels.layers import DecoderStack
    from torch.profiler import ProfilerActivity, profile, schedule

    from llmroof.specs.model import get_model

    spec = get_model(str(tiny_config_json))
    stack = DecoderStack(spec, spec.num_layers, torch.float32, "cpu")
    tokens = torch.randint(0, spec.vocab_size, (1, 16))
    path = tmp_path / "kernels.json"
    with (
        torch.no_grad(),
        profile(
            activities=[ProfilerActivity.CPU],
            record_shapes=True,
            schedule=schedule(wait=0, warmup=1, active=2, repeat=1),
            on_trace_ready=lambda p: p.export_chrome_trace(str(path)),
        ) as prof,
    ):
        for _ in range(3):  # a warm-up step, then ProfilerStep#1 and #2
            stack.prefill(tokens, stack.new_cache(1, 16))
            prof.step()
    record = run_trace(
        [tmp_path / "kernels.json"],
        TraceOptions(
            model=spec, roofs=calibrated_roofs(ceilings, "fp32"), dtype="fp32", batch=1, prompt=16
        ),
    )
    assert [
        (s.name.startswith("ProfilerStep#"), s.phase, s.batch, s.prompt_tokens)
        for s in record.steps
    ] == [(True, "prefill", 1, 16)] * 2
    assert record.coverage.attributed_fraction >= 0.90
    names = {o.op for o in record.ops}
    assert {"attn.q", "attn.k", "attn.v", "attn.o", "mlp.down"} <= names
    over = [
        (o.op, o.roofline_fraction, o.bound, o.time_s)
        for o in record.ops
        if (o.roofline_fraction or 0) > 1.05
    ]
    assert not over
    json.dumps(record.to_dict())
