"""Rebuild llmroof's specs (model, hardware, workload) from the records in a results file, so the report
can run the analytic engine for what the file does not hold itself: attention variants and sweeps.

Pure: no torch, no I/O. Each function returns None where the record is incomplete or from another version,
and the report then leaves the section that needed it out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from llmroof.analytic import Workload
from llmroof.errors import LlmroofError
from llmroof.results.records.profile import ProfileRecord
from llmroof.specs.dtypes import Precision, get_dtype
from llmroof.specs.hardware import HardwareSpec
from llmroof.specs.model import ModelSpec

_MODEL_FIELDS = {f.name for f in dataclasses.fields(ModelSpec)}
_HARDWARE_FIELDS = {f.name for f in dataclasses.fields(HardwareSpec)}
# A placeholder capacity for rooflines whose device memory the file does not record (a CPU run): the
# report shows no memory figure computed with it.
UNKNOWN_MEMORY_BYTES = 2**60


def model_spec(record: dict[str, Any]) -> ModelSpec | None:
    """The ``ModelSpec`` of ``record["model"]["spec"]`` (both schemas hold one)."""
    return spec_of((record.get("model") or {}).get("spec"))


def spec_of(spec: Mapping[str, Any] | None) -> ModelSpec | None:
    """A ``ModelSpec`` from its fields as a results file holds them (``model.spec``)."""
    if not isinstance(spec, dict):
        return None
    values = {k: v for k, v in spec.items() if k in _MODEL_FIELDS}
    if isinstance(values.get("layer_types"), list):  # JSON has no tuples
        values["layer_types"] = tuple(values["layer_types"])
    try:
        return ModelSpec(**values)
    except (TypeError, ValueError):
        return None


def hardware_spec(entry: Mapping[str, Any] | None) -> HardwareSpec | None:
    """A catalog entry (``hardware`` of either schema) back as a ``HardwareSpec``."""
    if not isinstance(entry, dict):
        return None
    values = {k: v for k, v in entry.items() if k in _HARDWARE_FIELDS}
    values["aliases"] = tuple(values.get("aliases") or ())
    try:
        return HardwareSpec(**values)
    except (TypeError, ValueError):
        return None


def analysis_workload(data: dict[str, Any]) -> Workload | None:
    """The ``Workload`` of an ``llmroof.analysis/1`` record."""
    w, par = data.get("workload") or {}, data.get("parallel") or {}
    try:
        weight = get_dtype(w["weight_dtype"])
        if w.get("weight_group_size") and weight.group_size:
            weight = weight.with_group_size(int(w["weight_group_size"]))
        expert = w.get("expert_dtype")
        precision = Precision(
            weight=weight,
            activation=get_dtype(w["act_dtype"]),
            kv=get_dtype(w["kv_dtype"]),
            expert_weight=get_dtype(expert) if expert and expert != weight.name else None,
        )
        return Workload(
            batch=w["batch"],
            prompt_len=w["prompt_len"],
            context_len=w["context_len"],
            precision=precision,
            tp=par.get("tp", 1),
            pp=par.get("pp", 1),
            ep=par.get("ep", 1),
            routing=_routing(w.get("routing")),
            mla_absorbed=w.get("mla_absorbed", True),
            micro_batches=par.get("micro_batches", 1),
            pp_layers=tuple(par["stage_layers"]) if par.get("stage_layers") else None,
            # files from before the fused headline counted the eager op set
            implementation=w.get("implementation", "eager"),
            attention_kernel=w.get("attention_kernel", "eager"),
            fused_qkv=w.get("fused_qkv", False),
            all_logits=w.get("all_logits", False),
            memory_reserve_fraction=w.get("memory_reserve_fraction", 0.1),
        )
    except (KeyError, TypeError, ValueError, LlmroofError):
        return None


def profile_roofline_hardware(record: ProfileRecord) -> tuple[HardwareSpec | None, str]:
    """The roofline a profile's extra analyses use: the datasheet entry where the run had one (a GPU),
    else the measured ceilings (whose memory capacity the file does not record) and, for a parallel run,
    the measured link. Returns (spec, label)."""
    sheet = hardware_spec(record.hardware)
    if sheet is not None:
        return sheet, f"{sheet.display_name} datasheet"
    measured = record.roofline.measured if record.roofline else None
    bandwidth = measured.bandwidth_bytes_per_s if measured else None
    flops = measured.peak_flops_per_s if measured else None
    dtype = record.workload.dtype
    if not bandwidth or not flops:
        return None, ""
    link = (record.parallel or {}).get("link") or {}  # a free-form object: the measured link
    link_bandwidth, link_latency = (
        link.get("bandwidth_bytes_per_s") or 1e9,
        link.get("latency_s") or 1e-5,
    )
    try:
        spec = HardwareSpec(
            name="measured",
            display_name="measured ceilings",
            memory_bytes=UNKNOWN_MEMORY_BYTES,
            memory_bandwidth_bytes_per_s=bandwidth,
            peak_flops_per_s={dtype: flops},
            link_bandwidth_bytes_per_s=link_bandwidth,
            link_latency_s=link_latency,
            internode_bandwidth_bytes_per_s=link_bandwidth,
            internode_latency_s=link_latency,
        )
    except ValueError:
        return None, ""
    return spec, "the measured ceilings"


def profile_precision(record: ProfileRecord) -> Precision | None:
    try:
        return Precision.uniform(record.workload.dtype)
    except LlmroofError:
        return None


def _routing(text: Any) -> Any:
    """The routing an analysis names (``uniform``, ``Zipf s=1.2``); a measured histogram is not in the record,
    so it comes back uniform."""
    from llmroof.analytic.moe import UNIFORM, Routing

    if isinstance(text, str) and text.startswith("Zipf s="):
        try:
            return Routing(zipf_s=float(text.removeprefix("Zipf s=")))
        except ValueError:
            return UNIFORM
    return UNIFORM
