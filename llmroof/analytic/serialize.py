"""The JSON contract of an analysis (schema ``llmroof.analysis/1``, documented in ``docs/json-schema.md``)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from llmroof import schemas
from llmroof.analytic import comm
from llmroof.analytic.memory import active_param_count
from llmroof.analytic.ops import OpCost
from llmroof.version import __version__

if TYPE_CHECKING:
    from llmroof.analytic.analysis import Analysis, Phase, Roofline

SCHEMA = schemas.ANALYSIS


def op_to_dict(op: OpCost, roofline: Roofline) -> dict[str, Any]:
    compute = roofline.compute_time_s(op.flops)
    memory = roofline.memory_time_s(op.bytes)
    return {
        "phase": op.phase,
        "name": op.name,
        "count": op.count,
        "flops": op.flops,
        "weight_bytes": op.weight_bytes,
        "act_read_bytes": op.act_read_bytes,
        "act_write_bytes": op.act_write_bytes,
        "kv_read_bytes": op.kv_read_bytes,
        "kv_write_bytes": op.kv_write_bytes,
        "bytes": op.bytes,
        "intensity": op.intensity,
        "compute_time_s": compute,
        "memory_time_s": memory,
        "time_s": max(compute, memory),
        "bound": "compute" if compute > memory else "memory",
    }


def phase_to_dict(phase: Phase) -> dict[str, Any]:
    totals = phase.totals
    return {
        "flops": totals.flops,
        "bytes": totals.bytes,
        "weight_bytes": totals.weight_bytes,
        "act_read_bytes": totals.act_read_bytes,
        "act_write_bytes": totals.act_write_bytes,
        "kv_read_bytes": totals.kv_read_bytes,
        "kv_write_bytes": totals.kv_write_bytes,
        "intensity": totals.flops / totals.bytes if totals.bytes else None,
        "compute_time_s": phase.rank_times_s()[0],
        "memory_time_s": phase.rank_times_s()[1],
        "comm_time_s": phase.comm_time_s,
        "time_s": phase.time_s,
        "bound": phase.bound,
        "tokens": phase.tokens,
        "micro_batches": phase.micro_batches,
        "stage_times_s": list(phase.stage_times_s),
        "bubble_fraction": phase.bubble_fraction,
    }


def phases_to_dict(a: Analysis) -> tuple[dict[str, Any], dict[str, Any]]:
    """``phases.prefill`` and ``phases.decode`` of the analysis's own op set (without the eager view)."""
    prefill = phase_to_dict(a.prefill)
    prefill.update(
        ttft_s=a.prefill.time_s,
        tokens_per_s=a.prefill.tokens / a.prefill.time_s if a.prefill.time_s else None,
    )
    decode = phase_to_dict(a.decode)
    b = a.workload.batch
    decode.update(
        tpot_s=a.decode.time_s,
        tokens_per_s=a.decode_tokens_per_s,
        bytes_per_token=a.decode.totals.bytes / b,
        weight_bytes_per_token=a.decode.totals.weight_bytes / b,
        kv_traffic_bytes_per_token=(a.decode.totals.kv_read_bytes + a.decode.totals.kv_write_bytes)
        / b,
        act_bytes_per_token=(a.decode.totals.act_read_bytes + a.decode.totals.act_write_bytes) / b,
        expected_experts_per_layer=a.expected_experts_per_layer("decode"),
    )
    prefill.update(expected_experts_per_layer=a.expected_experts_per_layer("prefill"))
    return prefill, decode


def analysis_to_dict(a: Analysis) -> dict[str, Any]:
    w = a.workload
    eager = a.eager()
    prefill, decode = phases_to_dict(a)
    decode["compute_bound_batch"] = a.compute_bound_batch()
    # The eager op set's figures beside the headline (the same keys; equal to it when the headline is eager).
    prefill["eager"], decode["eager"] = phases_to_dict(eager)
    model = {
        "name": a.model.name,
        "attention": a.model.attention_kind,
        "params": a.params,
        "weight_bytes": a.weight_bytes,
        "kv_bytes_per_token": a.kv_bytes_per_token,
        "active_params": active_param_count(a.model),
        "experts": a.model.num_experts,
        "experts_per_token": a.model.experts_per_token,
        "moe_layers": a.model.moe_layers,
        "attention_window": a.model.sliding_window,
        "window_layers": a.model.window_layers,
        "spec": dataclasses.asdict(a.model),
    }
    roof = a.roofline
    hardware = a.hardware.to_dict()
    hardware.update(
        compute_dtype=a.compute_dtype,
        roofline_peak_flops_per_s=roof.peak_flops_per_s,
        ridge_point_flops_per_byte=roof.ridge_point,
    )
    precision = w.precision
    workload = {
        "batch": w.batch,
        "prompt_len": w.prompt_len,
        "context_len": w.context_len,
        "weight_dtype": precision.weight.name,
        "act_dtype": precision.activation.name,
        "kv_dtype": precision.kv.name,
        "weight_group_size": precision.weight.group_size or None,
        "implementation": w.implementation,
        "attention_kernel": w.attention_kernel,
        "fused_qkv": w.fused_qkv,
        "expert_dtype": precision.experts.name,
        "routing": w.routing.describe(),
        "mla_absorbed": w.mla_absorbed,
        "all_logits": w.all_logits,
        "memory_reserve_fraction": w.memory_reserve_fraction,
    }
    memory = {
        "weight_bytes_per_gpu": a.weight_bytes_per_gpu,
        "kv_tokens_per_sequence": a.kv_tokens,
        "kv_bytes_per_gpu": a.kv_bytes_per_gpu(w.batch, a.kv_tokens),
        "total_bytes_per_gpu": a.total_bytes_per_gpu(),
        "usable_bytes_per_gpu": a.usable_memory_bytes,
        "max_batch": a.max_batch(),
        "max_context": a.max_context(w.batch),
        "fits": a.fits,
        "stage_weight_bytes": list(a.stage_weight_bytes),
    }
    parallel = {
        "tp": w.tp,
        "pp": w.pp,
        "ep": w.ep,
        "gpus": w.tp * w.pp * w.ep,
        "micro_batches": w.micro_batches,
        "stage_layers": list(a.stage_layers),
        "kv_heads_per_rank": a.shard.kv_heads,
        "kv_replicated": a.model.num_kv_heads < w.tp or (a.model.is_mla and w.tp > 1),
        "comm_time_s": a.prefill.comm_time_s + a.decode.comm_time_s,
        "prefill_comm_time_s": a.prefill.comm_time_s,
        "decode_comm_time_s": a.decode.comm_time_s,
        "bubble_fraction": a.prefill.bubble_fraction,
        "gpipe_bubble_fraction": comm.bubble_fraction(w.pp, w.micro_batches),
        "comm": [dataclasses.asdict(c) for c in (*a.prefill.comm, *a.decode.comm)],
    }
    return {
        "schema": SCHEMA,
        "llmroof_version": __version__,
        "model": model,
        "hardware": hardware,
        "workload": workload,
        "ops": [
            op_to_dict(op, roof) | {"implementation": w.implementation}
            for op in (*a.prefill.ops, *a.decode.ops)
        ],
        "eager_ops": [
            op_to_dict(op, roof) | {"implementation": "eager"}
            for op in (*eager.prefill.ops, *eager.decode.ops)
        ],
        "phases": {"prefill": prefill, "decode": decode},
        "memory": memory,
        "parallel": parallel,
        "warnings": list(a.warnings),
    }
