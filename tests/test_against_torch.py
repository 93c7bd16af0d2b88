"""The analytic model's counts against a real torch module built from the same ModelSpec.

The oracle is ``reference_decoder.py``: parameters are counted on the module, FLOPs with
``torch.utils.flop_counter.FlopCounterMode`` (per module, so per llmroof op), bytes from the module's
parameters and KV-cache tensors. Counting runs on the ``meta`` device (shapes only), so each test is quick;
a few CPU runs check that the oracle itself is a working decoder (cached decode = full forward, eager = SDPA).

FlopCounterMode counts matrix products only (mm, addmm, bmm, SDPA), 2 FLOPs per multiply-add. The
elementwise ops (attn.norm, attn.rope, attn.softmax, mlp.act, residuals, final_norm) carry llmroof's
per-element conventions (ELEMENTWISE_FLOPS), which torch does not count, so they are not compared here.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from reference_decoder import KVCache, build, init_weights
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from llmroof.analytic.analysis import analyze
from llmroof.analytic.memory import kv_bytes_per_token, layer_param_count, param_count
from llmroof.analytic.ops import ELEMENTWISE_FLOPS, OpCost
from llmroof.analytic.workload import Workload
from llmroof.specs import DTYPES, MODEL_PRESETS, ModelSpec, Precision, get_hardware

H100 = get_hardware("h100")
LINEAR_OPS = ("attn.q", "attn.k", "attn.v", "attn.o", "mlp.gate", "mlp.up", "mlp.down")
BATCH, PROMPT, CONTEXT = 2, 5, 7  # b sequences, prompt s, decode context c (the new token included)


def shrink(spec: ModelSpec, **changes) -> ModelSpec:
    """``spec`` at toy size, 2 layers: up to 2 KV heads, up to 4 query heads per KV head (MHA stays MHA,
    MQA stays MQA), d = 32, the preset's MLP ratio, every flag (tying, gating, biases, norm) kept."""
    kv = min(spec.num_kv_heads, 2)
    heads = kv * min(spec.group_size, 4)
    hidden = heads * 32
    ratio = spec.intermediate_size / spec.hidden_size
    shrunk = dataclasses.replace(
        spec, name=f"tiny-{spec.name}", hidden_size=hidden, num_layers=2, num_heads=heads, num_kv_heads=kv,
        head_dim=32, intermediate_size=8 * round(ratio * hidden / 8), vocab_size=1000,
    )
    return dataclasses.replace(shrunk, **changes)


# The presets the reference decoder builds: dense, no latent attention or Gemma norms (windows switched off here;
# tests/test_moe_against_transformers.py checks those families against transformers' own classes).
DENSE_PRESETS = {name: spec for name, spec in MODEL_PRESETS.items()
                 if not (spec.is_moe or spec.is_mla or spec.sandwich_norms)}
FAMILIES: dict[str, ModelSpec] = {
    **{name: shrink(spec, sliding_window=None, layer_types=None)
       for name, spec in DENSE_PRESETS.items()},  # GQA, MHA, MQA, tied, untied, Falcon
    "qwen2-like": shrink(MODEL_PRESETS["llama-3.2-1b"], qkv_bias=True, model_type="qwen2"),
    "gated-all-biases": shrink(MODEL_PRESETS["llama-3-8b"], qkv_bias=True, attn_out_bias=True, mlp_bias=True),
    "gpt-like": shrink(MODEL_PRESETS["llama-2-7b"], gated_mlp=False, activation="gelu", norm="layernorm",
                       qkv_bias=True, attn_out_bias=True, mlp_bias=True, tie_word_embeddings=True),
    # H*d != hidden: the o projection is (H*d) x h, not square.
    "wide-heads": dataclasses.replace(shrink(MODEL_PRESETS["llama-3-8b"]), hidden_size=160),
}
FAMILY_IDS = list(FAMILIES)
FAMILY_SPECS = list(FAMILIES.values())


def test_families_cover_the_shapes():
    specs = FAMILY_SPECS
    assert {s.attention_kind for s in specs} == {"mha", "gqa", "mqa"}
    assert {s.tie_word_embeddings for s in specs} == {True, False}
    assert any(s.parallel_attention and s.norm == "layernorm" and not s.gated_mlp for s in specs)
    assert all(any(getattr(s, flag) for s in specs) for flag in ("qkv_bias", "attn_out_bias", "mlp_bias"))


# --- parameters ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", FAMILY_SPECS, ids=FAMILY_IDS)
def test_param_count_matches_module(spec):
    module = build(spec)
    assert sum(p.numel() for p in module.parameters()) == param_count(spec)
    assert sum(p.numel() for p in module.layers[0].parameters()) == layer_param_count(spec)


@pytest.mark.parametrize("spec", DENSE_PRESETS.values(), ids=DENSE_PRESETS.keys())
def test_full_size_param_count_matches_module(spec):
    module = build(spec)  # meta: the real shapes, no memory
    assert sum(p.numel() for p in module.parameters()) == param_count(spec)


def test_llama_3_8b_param_count_is_the_published_figure():
    assert param_count(MODEL_PRESETS["llama-3-8b"]) == 8_030_261_248  # model.safetensors.index.json / 2 bytes


# --- FLOPs ----------------------------------------------------------------------------------------------


def torch_flops(module, tokens, **kwargs) -> tuple[dict[str, int], int]:
    """FLOPs FlopCounterMode counts per module (names without the root class) and in all."""
    with FlopCounterMode(display=False) as counter:
        module(tokens, **kwargs)
    counts = counter.get_flop_counts()
    per_module = {name.partition(".")[2]: sum(ops.values()) for name, ops in counts.items() if "." in name}
    return per_module, sum(counts.get("Global", {}).values())


def prefill_flops(spec, *, kernel="eager", all_logits=False) -> tuple[dict[str, int], int]:
    module = build(spec)
    tokens = torch.zeros(BATCH, PROMPT, dtype=torch.long, device="meta")
    return torch_flops(module, tokens, attention_kernel=kernel, all_logits=all_logits)


def decode_flops(spec, *, kernel="eager") -> tuple[dict[str, int], int]:
    """One new token per sequence at position c-1, attending over the c-1 cached tokens and itself."""
    module = build(spec)
    cache = KVCache(spec, BATCH, CONTEXT, device="meta")
    tokens = torch.zeros(BATCH, 1, dtype=torch.long, device="meta")
    return torch_flops(module, tokens, cache=cache, start=CONTEXT - 1, attention_kernel=kernel)


def analytic_ops(spec, phase, **workload) -> dict[str, OpCost]:
    """The eager op set (one op per reference module) unless ``implementation`` says otherwise."""
    workload = {"implementation": "eager", **workload}
    analysis = analyze(spec, H100, Workload(batch=BATCH, prompt_len=PROMPT, context_len=CONTEXT, **workload))
    return {op.name: op for op in getattr(analysis, phase).ops}


def bias_elements(spec, name) -> int:
    module = build(spec).layers[0].get_submodule(name)
    return 0 if module.bias is None else module.bias.numel()


def check_matmul_ops(spec, ops, per_module, total, tokens, logit_rows, attention):
    """Each matrix-product op against its modules, per layer, and nothing counted outside them."""
    layers = spec.num_layers
    compared = 0
    linear = [name for name in LINEAR_OPS if name in ops]
    assert set(linear) == set(LINEAR_OPS) - (set() if spec.gated_mlp else {"mlp.gate"})
    for name in linear:
        op = ops[name]
        assert op.count == layers  # tp=1: one instance per layer
        # llmroof counts the bias add (t * out); FlopCounterMode counts addmm as its matmul only.
        expected = op.flops - tokens * bias_elements(spec, name)
        for n in range(layers):
            assert per_module[f"layers.{n}.{name}"] == expected, (name, n)
        compared += layers * expected
    for name, expected in attention.items():
        for n in range(layers):
            assert per_module[f"layers.{n}.attn.{name}"] == expected, (name, n)
        compared += layers * expected
    head = ops["lm_head"]
    assert head.count == 1
    assert per_module["lm_head"] == head.flops == 2 * logit_rows * spec.hidden_size * spec.vocab_size
    compared += head.flops
    assert total == compared  # every matrix product torch ran is one the analytic model lists


@pytest.mark.parametrize("all_logits", [False, True], ids=["last-logits", "all-logits"])
@pytest.mark.parametrize("spec", FAMILY_SPECS, ids=FAMILY_IDS)
def test_prefill_flops_match_flop_counter(spec, all_logits):
    ops = analytic_ops(spec, "prefill", all_logits=all_logits)
    per_module, total = prefill_flops(spec, all_logits=all_logits)
    t = BATCH * PROMPT
    # Eager attention computes the full s x s score matrix, then masks it.
    scores = ops["attn.scores"]
    assert scores.flops == ops["attn.context"].flops == 2 * BATCH * spec.num_heads * PROMPT * PROMPT * spec.head_dim
    check_matmul_ops(spec, ops, per_module, total, t, t if all_logits else BATCH,
                     {"scores": scores.flops, "context": ops["attn.context"].flops})


@pytest.mark.parametrize("spec", FAMILY_SPECS, ids=FAMILY_IDS)
def test_decode_flops_match_flop_counter(spec):
    ops = analytic_ops(spec, "decode")
    per_module, total = decode_flops(spec)
    scores = ops["attn.scores"]
    assert scores.flops == 2 * BATCH * spec.num_heads * CONTEXT * spec.head_dim  # one query over c keys
    check_matmul_ops(spec, ops, per_module, total, BATCH, BATCH,
                     {"scores": scores.flops, "context": ops["attn.context"].flops})


FLASH_SPECS = {name: FAMILIES[name] for name in ("llama-3-8b", "llama-2-7b", "falcon-7b", "qwen2-like")}


def sdpa_formula(spec, queries, keys) -> int:
    """What FlopCounterMode counts for torch's SDPA kernels (flash, efficient, cuDNN) on these shapes."""
    b, d = BATCH, spec.head_dim
    kv_shape = (b, spec.num_kv_heads, keys, d)
    return sdpa_flop_count((b, spec.num_heads, queries, d), kv_shape, kv_shape)


# On a CPU build torch dispatches SDPA to _scaled_dot_product_flash_attention_for_cpu, which has no flop
# formula (FlopCounterMode counts 0 for it); on the meta device SDPA runs its math path, whose bmm FLOPs
# equal the formula torch registers for the CUDA kernels (sdpa_flop_count), which the tests also check.


@pytest.mark.parametrize("spec", FLASH_SPECS.values(), ids=FLASH_SPECS.keys())
def test_flash_decode_flops_match_sdpa(spec):
    ops = analytic_ops(spec, "decode", attention_kernel="flash")
    per_module, total = decode_flops(spec, kernel="flash")
    pairs = BATCH * spec.num_heads * CONTEXT  # each query head of each new token visits all c keys
    matmul = ops["attn.flash"].flops - ELEMENTWISE_FLOPS["softmax"] * pairs  # llmroof adds its softmax convention
    assert matmul == sdpa_formula(spec, 1, CONTEXT)
    check_matmul_ops(spec, ops, per_module, total, BATCH, BATCH, {"flash": matmul})


@pytest.mark.parametrize("spec", FLASH_SPECS.values(), ids=FLASH_SPECS.keys())
def test_flash_prefill_flops_relate_to_sdpa(spec):
    """torch counts causal SDPA as the full s x s square; llmroof counts the s(s+1)/2 pairs a causal kernel
    visits, so torch = llmroof's matmul FLOPs * 2s / (s+1)."""
    ops = analytic_ops(spec, "prefill", attention_kernel="flash")
    per_module, total = prefill_flops(spec, kernel="flash")
    s = PROMPT
    visible = int(torch.ones(s, s).tril().sum())  # causal (query, key) pairs of one head
    assert visible == s * (s + 1) // 2
    matmul = ops["attn.flash"].flops - ELEMENTWISE_FLOPS["softmax"] * BATCH * spec.num_heads * visible
    assert matmul == 4 * BATCH * spec.num_heads * visible * spec.head_dim
    square = sdpa_formula(spec, s, s)
    assert square * (s + 1) == matmul * 2 * s
    check_matmul_ops(spec, ops, per_module, total, BATCH * s, BATCH, {"flash": square})


# --- bytes ----------------------------------------------------------------------------------------------


def param_bytes(params, prefix: str) -> int:
    return sum(p.numel() * p.element_size() for name, p in params.items() if name.startswith(prefix + "."))


@pytest.mark.parametrize("spec", FAMILY_SPECS, ids=FAMILY_IDS)
def test_decode_weight_bytes_match_module(spec):
    """bf16: every op's weight bytes are the bytes of its module's parameters; a tied lm_head reads the
    shared table whole, the embedding only the b looked-up rows."""
    module = build(spec, dtype=torch.bfloat16)
    analysis = analyze(spec, H100, Workload(batch=BATCH, context_len=CONTEXT, implementation="eager"))
    ops = {op.name: op for op in analysis.decode.ops}
    params = dict(module.named_parameters(remove_duplicate=False))  # a tied lm_head.weight appears twice
    layer_ops = [op for op in ops.values() if op.count == spec.num_layers]
    assert {op.name for op in layer_ops} == {name for name in ops if name.startswith(("attn.", "mlp."))}
    for n in range(spec.num_layers):
        for op in layer_ops:
            assert param_bytes(params, f"layers.{n}.{op.name}") == op.weight_bytes, (op.name, n)
        assert param_bytes(params, f"layers.{n}") == sum(op.weight_bytes for op in layer_ops)
    assert param_bytes(params, "final_norm") == ops["final_norm"].weight_bytes
    assert param_bytes(params, "lm_head") == ops["lm_head"].weight_bytes
    assert ops["embed"].weight_bytes == BATCH * spec.hidden_size * 2

    read = sum(op.weight_bytes * op.count for op in ops.values() if op.name != "embed")
    assert read == sum(p.numel() * 2 for name, p in params.items() if name != "embed.weight")
    assert analysis.weight_bytes == sum(p.numel() * 2 for p in module.parameters())  # shared table once


KV_DTYPES = {"bf16": torch.bfloat16, "fp8": torch.float8_e4m3fn, "fp32": torch.float32}


@pytest.mark.parametrize("kv_dtype", KV_DTYPES, ids=KV_DTYPES)
@pytest.mark.parametrize("spec", FAMILY_SPECS, ids=FAMILY_IDS)
def test_kv_bytes_match_cache_tensors(spec, kv_dtype):
    bf16 = DTYPES["bf16"]
    precision = Precision(weight=bf16, activation=bf16, kv=DTYPES[kv_dtype])
    cache = KVCache(spec, BATCH, CONTEXT, dtype=KV_DTYPES[kv_dtype], device="meta")
    assert cache.bytes_per_token == kv_bytes_per_token(spec, precision)

    # A decode step reads each layer's K and V for c tokens (each KV head once) and writes one token's.
    ops = {op.name: op for op in analyze(spec, H100, Workload(batch=BATCH, context_len=CONTEXT, precision=precision,
                                                              implementation="eager")).decode.ops}
    layer_kv = cache.k[0].numel() * cache.k.element_size() * 2  # [b, kv, c, d], K and V
    assert ops["attn.scores"].kv_read_bytes + ops["attn.context"].kv_read_bytes == layer_kv
    written = sum(op.kv_write_bytes for op in ops.values())
    assert written == layer_kv / CONTEXT


# --- the fused (headline) op set -------------------------------------------------------------------------

# Each fused op is a group of eager ops (the reference's modules) run as one kernel.
FUSED_GROUPS = {
    "attn.norm": ("attn.norm",),
    "attn.qkv": ("attn.q", "attn.k", "attn.v", "attn.rope"),
    "attn.flash": ("attn.flash",),
    "attn.o": ("attn.o", "attn.residual"),
    "mlp.norm": ("mlp.norm",),
    "mlp.gate_up": ("mlp.gate", "mlp.up", "mlp.act"),
    "mlp.up": ("mlp.up", "mlp.act"),  # non-gated MLP: GELU in the up epilogue
    "mlp.down": ("mlp.down", "mlp.residual"),
    "embed": ("embed",), "final_norm": ("final_norm",), "lm_head": ("lm_head",),
}


@pytest.mark.parametrize("phase", ["prefill", "decode"])
@pytest.mark.parametrize("spec", FAMILY_SPECS, ids=FAMILY_IDS)
def test_fused_ops_are_groups_of_the_eager_ops(spec, phase):
    """The fused set partitions the eager set with flash attention (whose matrix products are checked against
    FlopCounterMode above): each fused op has its group's FLOPs, weights and KV traffic, and no more
    activation traffic; every eager op falls in exactly one group."""
    fused = analytic_ops(spec, phase, implementation="fused")
    eager = analytic_ops(spec, phase, attention_kernel="flash")
    grouped = [name for op in fused for name in FUSED_GROUPS[op]]
    assert sorted(grouped) == sorted(eager)
    for name, op in fused.items():
        members = [eager[m] for m in FUSED_GROUPS[name]]
        assert op.count == members[0].count
        for key in ("flops", "weight_bytes", "kv_read_bytes", "kv_write_bytes"):
            assert getattr(op, key) == sum(getattr(m, key) for m in members), (name, key)
        assert op.act_read_bytes + op.act_write_bytes <= sum(m.act_read_bytes + m.act_write_bytes for m in members)


FUSED_MATMULS = {"attn.qkv": ("attn.q", "attn.k", "attn.v"), "attn.o": ("attn.o",),
                 "mlp.gate_up": ("mlp.gate", "mlp.up"), "mlp.up": ("mlp.up",), "mlp.down": ("mlp.down",)}


@pytest.mark.parametrize("phase", ["prefill", "decode"])
@pytest.mark.parametrize("spec", FLASH_SPECS.values(), ids=FLASH_SPECS.keys())
def test_fused_matmul_flops_match_flop_counter(spec, phase):
    """Each fused GEMM's matrix product against FlopCounterMode on its group of reference modules (the
    reference run with SDPA): the op's FLOPs less its bias and its element-wise epilogue."""
    fused = analytic_ops(spec, phase, implementation="fused")
    per_module, _ = (prefill_flops(spec, kernel="flash") if phase == "prefill"
                     else decode_flops(spec, kernel="flash"))
    t = BATCH * (PROMPT if phase == "prefill" else 1)
    h, i = spec.hidden_size, spec.intermediate_size
    act = ELEMENTWISE_FLOPS[spec.activation] + (ELEMENTWISE_FLOPS["mul"] if spec.gated_mlp else 0)
    epilogue = {"attn.qkv": ELEMENTWISE_FLOPS["rope"] * t * (spec.q_dim + spec.kv_dim), "attn.o": t * h,
                "mlp.gate_up": act * t * i, "mlp.up": act * t * i, "mlp.down": t * h}
    for name, modules in FUSED_MATMULS.items():
        if name not in fused or (name == "mlp.up" and spec.gated_mlp):
            continue
        bias = sum(bias_elements(spec, m) for m in modules)
        for n in range(spec.num_layers):
            torch_matmul = sum(per_module[f"layers.{n}.{m}"] for m in modules)
            assert fused[name].flops - t * bias - epilogue[name] == torch_matmul, (name, n)


@pytest.mark.parametrize("spec", FAMILY_SPECS, ids=FAMILY_IDS)
def test_fused_weight_bytes_match_module_groups(spec):
    """bf16: each fused op reads exactly its modules' parameters (attn.qkv: q, k and v; mlp.gate_up: gate and
    up)."""
    params = dict(build(spec, dtype=torch.bfloat16).named_parameters(remove_duplicate=False))
    ops = analytic_ops(spec, "decode", implementation="fused")
    for name, op in ops.items():
        if name.startswith(("attn.", "mlp.")):
            modules = [m for m in FUSED_GROUPS[name] if m.split(".")[1] not in ("rope", "act", "residual", "flash")]
            assert sum(param_bytes(params, f"layers.0.{m}") for m in modules) == op.weight_bytes, name


# --- the oracle itself ----------------------------------------------------------------------------------

ORACLE_SPECS = {name: FAMILIES[name] for name in ("llama-3-8b", "falcon-7b", "gpt-like", "wide-heads")}


@pytest.mark.parametrize("spec", ORACLE_SPECS.values(), ids=ORACLE_SPECS.keys())
def test_reference_decoder_is_consistent(spec):
    """Cached decode equals the full forward, eager attention equals torch's SDPA, last-token logits are the
    last row of all logits: the oracle is a working decoder, so its counts are a real model's counts."""
    module = init_weights(build(spec))
    tokens = torch.randint(0, spec.vocab_size, (BATCH, CONTEXT), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        full = module(tokens, all_logits=True)  # [b, c, V]
        flash = module(tokens, all_logits=True, attention_kernel="flash")
        last = module(tokens)
        cache = KVCache(spec, BATCH, CONTEXT, dtype=torch.float32)
        module(tokens[:, :-1], cache=cache)
        step = module(tokens[:, -1:], cache=cache, start=CONTEXT - 1)
        chunk_cache = KVCache(spec, BATCH, CONTEXT, dtype=torch.float32)
        module(tokens[:, :3], cache=chunk_cache)
        chunk = module(tokens[:, 3:], cache=chunk_cache, start=3, all_logits=True, attention_kernel="flash")
    assert full.shape == (BATCH, CONTEXT, spec.vocab_size)
    torch.testing.assert_close(flash, full)
    torch.testing.assert_close(last, full[:, -1:])
    torch.testing.assert_close(step, full[:, -1:])
    torch.testing.assert_close(chunk, full[:, 3:])
    assert torch.isfinite(full).all()
    if spec.tie_word_embeddings:
        assert module.lm_head.weight is module.embed.weight
