"""Naming each unit of a step by the model op it ran (``attn.q`` ... ``mlp.down``, ``lm_head``), with
its layer.

GEMMs are named by their input shapes (k, n) against the model's per-rank widths where the trace recorded
them, else by position: a layer's GEMMs follow the pattern [QKV group] attention [o] [MLP group, down],
with the group sizes read from the step (GEMMs before the first attention; GEMMs per layer = (all - lm_head)
/ layers). Every other unit is named by where it falls between these anchors: the norm group before the
QKV GEMMs is ``attn.norm``, what runs between them and the attention ``attn.rope``, the attention with its
combine and the cache write ``attn.flash``, a collective after ``attn.o`` ``comm.attn_allreduce``, and so on.
Units after ``lm_head`` (sampling) and before the first layer other than the embedding stay unattributed.
"""

from __future__ import annotations

from typing import Any

from llmroof.analytic.sharding import Shard
from llmroof.specs.model import ModelSpec
from llmroof.trace.units import Unit

QKV = ("attn.q", "attn.k", "attn.v", "attn.qkv")
MLP_IN = ("mlp.gate", "mlp.up", "mlp.gate_up", "moe.router")


def gemm_kn(unit: Unit) -> tuple[int, int] | None:
    """(k, n) of a GEMM op's recorded input shapes: ``linear(x[.., k], W[n, k])``, ``mm(x[m, k], W[k, n])``,
    ``addmm(bias, x[m, k], W[k, n])``, ``matmul(x[.., k], W[k, n])``."""
    shape = unit.shape
    if not shape or len(shape) < 2 or not shape[0] or not shape[1]:
        return None
    if unit.name == "aten::linear" and len(shape[1]) == 2:
        return shape[0][-1], shape[1][0]
    if unit.name == "aten::addmm" and len(shape) > 2 and shape[2]:
        return shape[1][-1], shape[2][-1]
    if len(shape[1]) == 2:
        return shape[0][-1], shape[1][-1]
    return None


def projection_shapes(model: ModelSpec, shard: Shard) -> dict[tuple[int, int], tuple[str, ...]]:
    """(k, n) -> the projections of that shape, in execution order."""
    h, q, kv, i = shard.hidden, shard.q_dim, shard.kv_dim, shard.intermediate
    table: dict[tuple[int, int], tuple[str, ...]] = {}

    def add(kn: tuple[int, int], *names: str) -> None:
        table[kn] = table.get(kn, ()) + names

    add((h, q), "attn.q")
    add((h, kv), "attn.k", "attn.v")
    add((h, q + 2 * kv), "attn.qkv")
    add((q, h), "attn.o")
    if model.moe_layers:
        add((h, model.num_experts or 0), "moe.router")
    if model.moe_layers < model.num_layers:
        add((h, i), *(("mlp.gate", "mlp.up") if model.gated_mlp else ("mlp.up",)))
        if model.gated_mlp:
            add((h, 2 * i), "mlp.gate_up")
        add((i, h), "mlp.down")
    add((h, shard.vocab), "lm_head")
    return table


def _template(a: int, m: int, model: ModelSpec) -> list[str]:
    """A layer's GEMM names from a QKV group of ``a`` and ``m`` GEMMs after ``attn.o``."""
    qkv = {1: ["attn.qkv"], 3: ["attn.q", "attn.k", "attn.v"]}.get(a, ["attn.qkv"] * a)
    if model.moe_layers == model.num_layers:
        mlp = ["moe.router"] * m
    elif m == 1:
        mlp = ["mlp.gate_up" if model.gated_mlp else "mlp.up"]
    elif m == 2:
        mlp = ["mlp.gate_up" if model.gated_mlp else "mlp.up", "mlp.down"]
    else:
        mlp = ["mlp.gate", "mlp.up"] + ["mlp.down"] * (m - 2)
    return [*qkv, "attn.o", *mlp]


def attribute(
    units: list[Unit], model: ModelSpec, shard: Shard
) -> list[tuple[str | None, int | None]]:
    """(op name or None, layer or None) of each unit of one step."""
    table = projection_shapes(model, shard)
    known = {kn for kn in table}
    gemms = [
        i
        for i, u in enumerate(units)
        if u.category == "gemm"
        and u.role != "reduce"
        and (gemm_kn(u) is None or gemm_kn(u) in known)
    ]
    attention = [
        i for i, u in enumerate(units) if u.category.startswith("attention") and u.role != "reduce"
    ]
    layers = max(len(attention), 1)
    names = _gemm_names(units, gemms, attention, layers, table, model)
    out: list[tuple[str | None, int | None]] = []
    anchor, layer, norm_seen, moe_gemms = "start", -1, False, 0
    for index, unit in enumerate(units):
        cat = unit.category
        if index in names:
            name = names[index]
            if name in QKV and anchor != "qkv":
                layer += 1
            anchor = {"attn.o": "o", "mlp.down": "down", "lm_head": "lm_head"}.get(
                name, "qkv" if name in QKV else "mlp_in"
            )
            norm_seen, moe_gemms = False, 0
            out.append((name, None if name == "lm_head" else layer))
            continue
        if unit.role == "reduce" and out:
            out.append(out[-1])  # the second launch of a split kernel: merged into the op before it
            continue
        if cat.startswith("attention"):
            anchor = "attn"
            out.append(("attn.flash", layer))
            continue
        out.append(_by_position(unit, anchor, norm_seen, layer, len(attention)))
        if out[-1][0] in ("attn.norm", "mlp.norm", "final_norm"):
            norm_seen = True
        if cat == "moe_routing" and moe_gemms >= 2:
            out[-1] = ("moe.down", layer)  # the weighted sum of the experts' outputs
        elif cat == "moe_gemm":
            moe_gemms += 1
            out[-1] = ("moe.gate_up" if moe_gemms == 1 else "moe.down", layer)
            if moe_gemms > 1:
                anchor = "down"
                norm_seen = False
        elif anchor == "mlp_in" and moe_gemms == 1:
            out[-1] = ("moe.gate_up", layer)
        elif anchor == "mlp_in" and cat == "moe_routing" and moe_gemms == 0:
            out[-1] = ("moe.router", layer)
    return out


def _by_position(
    unit: Unit, anchor: str, norm_seen: bool, layer: int, layers: int
) -> tuple[str | None, Any]:
    cat = unit.category
    is_norm = cat == "norm" or norm_seen
    if anchor == "start":
        if unit.role == "embed":
            return "embed", None
        return ("attn.norm", 0) if is_norm else (None, None)
    if anchor == "qkv":
        return ("attn.flash", layer) if cat == "kv_cache_write" else ("attn.rope", layer)
    if anchor == "attn":
        return "attn.flash", layer
    if anchor == "o":
        if cat == "communication":
            return "comm.attn_allreduce", layer
        return ("mlp.norm", layer) if is_norm else ("attn.residual", layer)
    if anchor == "mlp_in":
        return "mlp.act", layer
    if anchor == "down":
        if cat == "communication":
            return "comm.mlp_allreduce", layer
        if is_norm:
            return ("final_norm", None) if layer >= layers - 1 else ("attn.norm", layer + 1)
        return "mlp.residual", layer
    return None, None  # after lm_head: sampling, not a model op


def _gemm_names(
    units: list[Unit],
    gemms: list[int],
    attention: list[int],
    layers: int,
    table: dict[tuple[int, int], tuple[str, ...]],
    model: ModelSpec,
) -> dict[int, str]:
    """Unit index -> projection name, for every projection GEMM of the step."""
    if not gemms:
        return {}
    first_attention = attention[0] if attention else len(units)
    a = sum(1 for g in gemms if g < first_attention)
    has_head = (len(gemms) - 1) % layers == 0 and len(gemms) > 1
    per_layer = (len(gemms) - (1 if has_head else 0)) // layers
    template = _template(a, max(per_layer - a - 1, 0), model) if per_layer > a else []
    names: dict[int, str] = {}
    for j, g in enumerate(gemms):
        if has_head and j == len(gemms) - 1:
            names[g] = "lm_head"
        elif template:
            names[g] = template[j % per_layer]
        else:
            names[g] = "attn.qkv"
    # Shapes, where recorded, override the position (and tell k from v by order within a layer).
    used: dict[tuple[int, int], int] = {}
    for g in gemms:
        kn = gemm_kn(units[g])
        if kn is None or kn not in table:
            continue
        candidates = table[kn]
        if names[g] in candidates:
            continue
        turn = used.get(kn, 0)
        names[g] = candidates[turn % len(candidates)]
        used[kn] = turn + 1
    return names
