"""Rebuild llmroof's specs (model, hardware, workload) from the records in a results file, so the report
can run the analytic engine for what the file does not hold itself: attention variants and sweeps.

Pure: no torch, no I/O. Each function reads the typed record (:class:`~llmroof.results.records.ProfileRecord`
or :class:`~llmroof.results.records.AnalysisRecord`); a caller that holds the file's dict may pass it, and it is
read into its record here. Each returns None where the record is incomplete or from another version, and the
report then leaves the section that needed it out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from llmroof.analytic import Workload
from llmroof.analytic.workload import AttentionKernel, Implementation
from llmroof.errors import LlmroofError
from llmroof.results.records import AnalysisRecord, ProfileRecord
from llmroof.results.records.base import Record
from llmroof.specs.dtypes import Precision, get_dtype
from llmroof.specs.hardware import HardwareSpec
from llmroof.specs.model import ModelSpec

_MODEL_FIELDS = {f.name for f in dataclasses.fields(ModelSpec)}
_HARDWARE_FIELDS = {f.name for f in dataclasses.fields(HardwareSpec)}
# A placeholder capacity for rooflines whose device memory the file does not record (a CPU run): the
# report shows no memory figure computed with it.
UNKNOWN_MEMORY_BYTES = 2**60

R = TypeVar("R", bound=Record)


def as_record(data: R | Mapping[str, Any], cls: type[R]) -> R | None:
    """``data`` as a ``cls`` record: itself, or the file's dict read into one (None where it cannot be)."""
    if isinstance(data, cls):
        return data
    try:
        return cls.from_dict(data)
    except LlmroofError:
        return None


def model_spec(
    record: ProfileRecord | AnalysisRecord | Mapping[str, Any],
) -> ModelSpec | None:
    """The ``ModelSpec`` of the record's ``model.spec`` (both schemas hold one)."""
    parsed: ProfileRecord | AnalysisRecord | None
    if isinstance(record, (ProfileRecord, AnalysisRecord)):
        parsed = record
    elif isinstance(record, Mapping) and record.get("schema") == AnalysisRecord.SCHEMA:
        parsed = as_record(record, AnalysisRecord)
    else:
        parsed = as_record(record, ProfileRecord)
    return None if parsed is None else spec_of(parsed.model.spec)


def spec_of(spec: Mapping[str, Any] | None) -> ModelSpec | None:
    """A ``ModelSpec`` from its fields as a results file holds them (``model.spec``)."""
    if not isinstance(spec, Mapping):
        return None
    values = {k: v for k, v in spec.items() if k in _MODEL_FIELDS}
    if isinstance(values.get("layer_types"), list):  # JSON has no tuples
        values["layer_types"] = tuple(values["layer_types"])
    try:
        return ModelSpec(**values)
    except (TypeError, ValueError):
        return None


def hardware_spec(entry: Mapping[str, Any] | None) -> HardwareSpec | None:
    """A catalog entry (``hardware`` of either schema, a free-form mapping) back as a ``HardwareSpec``."""
    if not isinstance(entry, Mapping):
        return None
    values = {k: v for k, v in entry.items() if k in _HARDWARE_FIELDS}
    values["aliases"] = tuple(values.get("aliases") or ())
    try:
        return HardwareSpec(**values)
    except (TypeError, ValueError):
        return None


def analysis_workload(data: AnalysisRecord | Mapping[str, Any]) -> Workload | None:
    """The ``Workload`` of an ``llmroof.analysis/1`` record."""
    record = as_record(data, AnalysisRecord)
    if record is None:
        return None
    w, par = record.workload, record.parallel
    try:
        weight = get_dtype(w.weight_dtype)
        if w.weight_group_size and weight.group_size:
            weight = weight.with_group_size(int(w.weight_group_size))
        expert = w.expert_dtype
        precision = Precision(
            weight=weight,
            activation=get_dtype(w.act_dtype),
            kv=get_dtype(w.kv_dtype),
            expert_weight=get_dtype(expert) if expert and expert != weight.name else None,
        )
        return Workload(
            batch=w.batch,
            prompt_len=w.prompt_len,
            context_len=w.context_len,
            precision=precision,
            tp=par.tp,
            pp=par.pp,
            ep=1 if par.ep is None else par.ep,
            routing=_routing(w.routing),
            mla_absorbed=True if w.mla_absorbed is None else w.mla_absorbed,
            micro_batches=par.micro_batches,
            pp_layers=tuple(par.stage_layers) if par.stage_layers else None,
            # files from before the fused headline counted the eager op set
            implementation=cast(
                Implementation, "eager" if w.implementation is None else w.implementation
            ),
            attention_kernel=cast(AttentionKernel, w.attention_kernel),
            fused_qkv=w.fused_qkv,
            all_logits=w.all_logits,
            memory_reserve_fraction=w.memory_reserve_fraction,
        )
    except (TypeError, ValueError, LlmroofError):
        return None


def profile_roofline_hardware(
    data: ProfileRecord | Mapping[str, Any],
) -> tuple[HardwareSpec | None, str]:
    """The roofline a profile's extra analyses use: the datasheet entry where the run had one (a GPU),
    else the measured ceilings (whose memory capacity the file does not record) and, for a parallel run,
    the measured link. Returns (spec, label)."""
    record = as_record(data, ProfileRecord)
    if record is None:
        return None, ""
    sheet = hardware_spec(record.hardware)
    if sheet is not None:
        return sheet, f"{sheet.display_name} datasheet"
    measured = record.roofline.measured if record.roofline is not None else None
    bandwidth = measured.bandwidth_bytes_per_s if measured is not None else None
    flops = measured.peak_flops_per_s if measured is not None else None
    if not bandwidth or not flops:
        return None, ""
    link = record.parallel.link if record.parallel else None
    link_bandwidth, link_latency = (
        (link.bandwidth_bytes_per_s or 1e9, link.latency_s or 1e-5) if link else (1e9, 1e-5)
    )
    try:
        spec = HardwareSpec(
            name="measured",
            display_name="measured ceilings",
            memory_bytes=UNKNOWN_MEMORY_BYTES,
            memory_bandwidth_bytes_per_s=bandwidth,
            peak_flops_per_s={record.workload.dtype: flops},
            link_bandwidth_bytes_per_s=link_bandwidth,
            link_latency_s=link_latency,
            internode_bandwidth_bytes_per_s=link_bandwidth,
            internode_latency_s=link_latency,
        )
    except ValueError:
        return None, ""
    return spec, "the measured ceilings"


def profile_precision(data: ProfileRecord | Mapping[str, Any]) -> Precision | None:
    """The run's one dtype as a uniform precision."""
    record = as_record(data, ProfileRecord)
    try:
        return None if record is None else Precision.uniform(record.workload.dtype)
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
