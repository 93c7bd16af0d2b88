"""The Python API: what the CLI does, for notebooks and scripts (``docs/api.md``).

    import llmroof
    run = llmroof.load("llmroof-runs/20260101-120000")   # any results file, or a run's folder
    run.to_pandas()                                       # a row per configuration, units in column names

:func:`analyze` and :func:`profile` take the CLI's options as keyword arguments and return the records the
CLI writes as JSON. Nothing here prints. Every number is checked as the CLI checks it at parse time (finite,
of sensible size, within the option's bounds), and bad input raises the :class:`~llmroof.errors.LlmroofError`
the CLI prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from llmroof.errors import LlmroofError, check_numbers
from llmroof.results.records import load

if TYPE_CHECKING:
    from llmroof.analytic.workload import AttentionKernel, Implementation
    from llmroof.results.records import AnalysisRecord, ProfileRecord

__all__ = ["analyze", "load", "profile"]


def analyze(
    *,
    model: str = "llama-3-8b",
    hardware: str = "h100-sxm",
    batch: int = 1,
    prompt_len: int = 512,
    context_len: int = 2048,
    tp: int = 1,
    pp: int = 1,
    micro_batches: int = 1,
    pp_layers: Sequence[int] | None = None,
    dtype: str = "bf16",
    weight_dtype: str | None = None,
    kv_dtype: str | None = None,
    group_size: int | None = None,
    kv_heads: int | None = None,
    attention_kernel: AttentionKernel = "eager",
    fused_qkv: bool = False,
    all_logits: bool = False,
    reserve: float = 0.1,
    hardware_file: str | Path | None = None,
    implementation: Implementation = "fused",
    ep: int = 1,
    expert_dtype: str | None = None,
    zipf: float = 0.0,
    expert_load: Sequence[float] | None = None,
    mla_absorbed: bool = True,
) -> AnalysisRecord:
    """``llmroof analyze``: the analytic roofline of one workload (the ``llmroof.analysis/1`` record).

    ``model`` is a preset or a config.json (or its folder); ``hardware`` a catalog name. Lengths are tokens:
    ``prompt_len`` per sequence for prefill, ``context_len`` the KV cache of the decode step. ``implementation``:
    the headline op set (``fused``, the minimum-traffic bound, or ``eager``). Mixture-of-experts models: ``ep``
    expert-parallel ranks, ``expert_dtype`` of the experts' weights, routing skewed by a Zipf exponent ``zipf``
    or a measured ``expert_load`` histogram (one count per expert); MLA models: ``mla_absorbed`` decode."""
    check_numbers(
        batch=batch,
        prompt_len=prompt_len,
        context_len=context_len,
        tp=tp,
        pp=pp,
        micro_batches=micro_batches,
        pp_layers=list(pp_layers or ()),
        group_size=group_size,
        kv_heads=kv_heads,
        reserve=reserve,
        ep=ep,
        zipf=zipf,
        expert_load=list(expert_load or ()),
    )
    from llmroof.analytic import Workload, checked_analyze
    from llmroof.analytic.moe import Routing
    from llmroof.analytic.serialize import analysis_to_dict
    from llmroof.results.records import AnalysisRecord
    from llmroof.specs import get_hardware, get_model
    from llmroof.specs.dtypes import resolve_precision

    spec = get_model(model)
    if kv_heads is not None:
        spec = spec.with_kv_heads(kv_heads)
    device = get_hardware(hardware, None if hardware_file is None else Path(hardware_file))
    try:
        workload = Workload(
            batch=batch,
            prompt_len=prompt_len,
            context_len=context_len,
            precision=resolve_precision(dtype, weight_dtype, kv_dtype, group_size, expert_dtype),
            tp=tp,
            pp=pp,
            ep=ep,
            micro_batches=micro_batches,
            pp_layers=None if pp_layers is None else tuple(pp_layers),
            routing=Routing(
                zipf_s=zipf,
                expert_load=None if expert_load is None else tuple(float(v) for v in expert_load),
            ),
            mla_absorbed=mla_absorbed,
            implementation=implementation,
            attention_kernel=attention_kernel,
            fused_qkv=fused_qkv,
            all_logits=all_logits,
            memory_reserve_fraction=reserve,
        )
    except ValueError as exc:
        raise LlmroofError(str(exc)) from None
    return AnalysisRecord.from_dict(analysis_to_dict(checked_analyze(spec, device, workload)))


def profile(
    *,
    model: str | None = None,
    device: str = "auto",
    batches: Sequence[int] | None = None,
    prompt_len: int | None = None,
    contexts: Sequence[int] | None = None,
    dtype: str = "bf16",
    layers: int | None = None,
    threads: int | None = None,
    per_op: bool = True,
    cuda_graphs: bool = False,
    nvml: bool = True,
    warmup_ms: float = 25.0,
    rep_ms: float = 100.0,
    hardware: str | None = None,
    tp_simulate: int = 1,
    out: str | Path | None = None,
) -> ProfileRecord:
    """``llmroof profile`` on one device: time the kernels here and place them on the roofline.

    Defaults are the CLI's, sized for the device (on a CPU: Llama-3.2-1B, 2 layers, batches 1 and 4, prompt
    128, contexts 512 and 2048). With ``out`` (a folder), ``results.json`` is written there atomically after
    every finished configuration, as the CLI does. Parallel runs (``--tp``/``--pp``) start processes: use
    the CLI for those."""
    check_numbers(
        batches=list(batches or ()),
        prompt_len=prompt_len,
        contexts=list(contexts or ()),
        layers=layers,
        threads=threads,
        warmup_ms=warmup_ms,
        rep_ms=rep_ms,
        tp_simulate=tp_simulate,
    )
    from llmroof.runs.profile import prepare_profile, run_profile

    job = prepare_profile(
        model=model,
        device=device,
        batches=batches,
        prompt_len=prompt_len,
        contexts=contexts,
        dtype=dtype,
        layers=layers,
        threads=threads,
        per_op=per_op,
        cuda_graphs=cuda_graphs,
        nvml=nvml,
        warmup_ms=warmup_ms,
        rep_ms=rep_ms,
        hardware=hardware,
        tp_simulate=tp_simulate,
    )
    path = None if out is None else Path(out) / "results.json"
    record = run_profile(job, path, argv=["llmroof.profile()"])
    assert record is not None, "a single-device run returns its record"
    return record
