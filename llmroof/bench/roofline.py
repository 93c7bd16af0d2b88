"""Place a served level on the analytic roofline: the decode step of the served model, on the serving
hardware and its TP/PP layout, at the level's measured mean in-flight decode batch and mean context.

The model: a preset name, a config.json, or a folder holding one (the server's model id often is one).
The hardware: a catalog name; else the GPU that NVML names (matched to the catalog); else, for a server on
this machine's loopback, this CPU's ceilings measured by llmroof's probes (torch, imported only then).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from llmroof.errors import LlmroofError
from llmroof.results.records.bench import Level, NvmlWindow, RequestRecord, RooflinePlacement
from llmroof.specs.dtypes import Precision
from llmroof.specs.hardware import HardwareSpec
from llmroof.specs.model import ModelSpec

LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass(frozen=True, kw_only=True, slots=True)
class Deployment:
    """What the analytic model needs about the served deployment."""

    model: ModelSpec
    hardware: HardwareSpec
    precision: Precision = field(default_factory=Precision.uniform)
    tp: int = 1
    pp: int = 1


TUNED_SUFFIXES = ("-instruct", "-chat", "-it", "-hf")
"""Suffixes of fine-tuned variants that keep the base model's architecture (Llama-3.1-8B-Instruct)."""


def resolve_model(name: str) -> tuple[ModelSpec | None, str]:
    """The served model's spec (a hub id's fine-tune suffix dropped when only the base is a preset), or None
    and why not."""
    from llmroof.specs.model import get_model

    try:
        return get_model(name), ""
    except LlmroofError as exc:
        for suffix in TUNED_SUFFIXES:
            if name.lower().endswith(suffix):
                spec, _ = resolve_model(name[: -len(suffix)])
                if spec is not None:
                    return (
                        spec,
                        f"roofline model: {spec.name}, the architecture of {name!r} (pass --config to change)",
                    )
        return (
            None,
            f"no roofline: the model {name!r} is no preset, config.json or folder ({exc.message}); "
            "pass --config PRESET|config.json",
        )


def resolve_hardware(
    name: str | None,
    url: str,
    dtype: str,
    hardware_file: Any = None,
    nvml_module: Any = "auto",
    progress: Callable[[str], None] = lambda _: None,
) -> tuple[HardwareSpec | None, str]:
    """(hardware, method): ``catalog``, ``nvml: <GPU name>``, ``measured: <CPU>`` or ``none: <why>``."""
    from llmroof.specs.hardware import get_hardware

    if name is not None and name.lower() != "cpu":
        return get_hardware(name, hardware_file), "catalog"
    if name is None:
        gpu = nvml_gpu_name(nvml_module)
        if gpu:
            from llmroof.measure.profile import match_hardware

            spec = match_hardware(gpu)
            if spec is not None:
                return spec, f"nvml: {gpu}"
            return (
                None,
                f"none: NVML names {gpu!r}, which matches no catalog entry (pass --hardware)",
            )
        if urlsplit(url).hostname not in LOOPBACK:
            return None, "none: a remote server and no --hardware (pass --hardware NAME)"
    return measure_cpu(
        dtype, progress
    ), "measured: this CPU's ceilings, by llmroof's read and matmul probes"


def nvml_gpu_name(nvml_module: Any = "auto") -> str | None:
    """GPU 0's name through NVML, or None where NVML does not work."""
    from llmroof.measure import nvml as nv

    module = nv.load_pynvml() if nvml_module == "auto" else nvml_module
    device, _ = nv.open_nvml(module, index=0)
    if device is None:
        return None
    with contextlib.suppress(Exception):
        module.nvmlShutdown()
    return device.name or None


def measure_cpu(dtype: str, progress: Callable[[str], None]) -> HardwareSpec:
    """This CPU's measured ceilings (the probes ``llmroof profile`` uses) as a hardware entry."""
    from llmroof.measure.device import open_device
    from llmroof.measure.profile import (
        TORCH_DTYPES,
        ProfileConfig,
        measure_ceilings,
        measured_hardware,
    )
    from llmroof.specs.model import get_model

    if dtype not in TORCH_DTYPES:
        raise LlmroofError(
            f"--dtype {dtype}: the CPU ceilings are measured in {', '.join(TORCH_DTYPES)}"
        )
    device = open_device("cpu")
    config = ProfileConfig(
        model=get_model("llama-3.2-1b"),
        batches=(1,),
        prompt_len=1,
        contexts=(1,),
        dtype=dtype,
        warmup_ms=10.0,
        rep_ms=100.0,
        nvml=False,
    )
    progress("measuring this CPU's ceilings")
    ceilings, _ = measure_ceilings(device, config, device.torch, progress)
    return measured_hardware(device, ceilings, dtype, None)


def placement(
    level: Level, deployment: Deployment, nvml: NvmlWindow | None = None
) -> RooflinePlacement | None:
    """The level's decode step on the roofline; None when the level has no TPOT (no successful request)."""
    from llmroof.analytic import Workload, analyze

    measured_tpot = level.tpot_s.mean
    if measured_tpot is None or not level.mean_context_tokens:
        return None
    batch = max(1, round(level.mean_decode_batch))
    context = max(1, round(level.mean_context_tokens))
    prompt = max(1, round(level.input_tokens / max(1, level.requests - level.errors)))
    try:
        workload = Workload(
            batch=batch,
            prompt_len=prompt,
            context_len=context,
            precision=deployment.precision,
            tp=deployment.tp,
            pp=deployment.pp,
        )
        analysis = analyze(deployment.model, deployment.hardware, workload)
    except ValueError as exc:
        raise LlmroofError(f"the roofline of {deployment.model.name}: {exc}") from None
    bound = analysis.decode.time_s
    ceiling = analysis.decode_tokens_per_s
    return RooflinePlacement(
        tpot_bound_s=bound,
        tpot_fraction=bound / measured_tpot,
        bound=analysis.decode.bound,
        batch=batch,
        context_len=context,
        ceiling_tokens_per_s=ceiling,
        throughput_fraction=level.output_tokens_per_s / ceiling if ceiling else None,
        bytes_per_output_token=analysis.decode.totals.bytes / batch,
        compute_bound_batch=analysis.compute_bound_batch(),
        nvml=nvml,
    )


def with_placement(
    level: Level, deployment: Deployment | None, nvml: NvmlWindow | None = None
) -> Level:
    if deployment is None:
        return level
    return dataclasses.replace(level, roofline=placement(level, deployment, nvml))


# --- NVML: measured bytes per output token in the steady decode window ------------------------------


def steady_window(
    records: Sequence[RequestRecord], trim: float = 0.1
) -> tuple[float, float] | None:
    """The level's middle: from first send to last end, less ``trim`` of it at each side (ramp-up and drain)."""
    if not records:
        return None
    start, end = min(r.start_s for r in records), max(r.end_s for r in records)
    span = end - start
    return (start + trim * span, end - trim * span) if span > 0 else None


def tokens_in_window(records: Sequence[RequestRecord], window: tuple[float, float]) -> float:
    """Output tokens generated inside the window: each request's decode tokens spread evenly over its
    decode interval (first token to end), times the share of that interval inside the window."""
    lo, hi = window
    total = 0.0
    for r in records:
        if not r.ok or r.first_token_s is None or not r.output_tokens or r.output_tokens < 2:
            continue
        span = r.end_s - r.first_token_s
        if span <= 0:
            continue
        overlap = max(0.0, min(hi, r.end_s) - max(lo, r.first_token_s))
        total += (r.output_tokens - 1) * overlap / span
    return total


def nvml_window(
    samples: Sequence[Any],
    records: Sequence[RequestRecord],
    source: str | None,
    reason: str = "",
    origin_s: float = 0.0,
) -> NvmlWindow:
    """Average the NVML samples wholly inside the steady window (sample times are perf_counter seconds;
    ``origin_s`` maps them onto the run's timeline)."""
    from llmroof.measure.nvml import samples_within, summarize_samples

    window = steady_window(records)
    if source is None or window is None:
        return NvmlWindow(source=source, reason=reason or "no steady window")
    inside = samples_within(samples, window[0] + origin_s, window[1] + origin_s)
    summary = summarize_samples(inside)
    tokens = tokens_in_window(records, window)
    bandwidth = summary["mean_dram_bandwidth_bytes_per_s"]
    per_token = (
        bandwidth * (window[1] - window[0]) / tokens
        if bandwidth is not None and tokens > 0
        else None
    )
    why = (
        reason
        if inside
        else "no whole sampling window inside the steady decode window (a longer level helps)"
    )
    if inside and bandwidth is None:
        why = f"{source} reports a busy share, not bytes: no bytes per token (GPM, Hopper or newer, does)"
    return NvmlWindow(
        source=source,
        reason=why,
        window_s=window,
        samples=len(inside),
        mean_dram_bandwidth_bytes_per_s=bandwidth,
        mean_mem_busy_percent=summary["mean_mem_busy_percent"],
        output_tokens_in_window=tokens,
        measured_bytes_per_output_token=per_token,
    )
