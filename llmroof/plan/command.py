"""The one library call behind ``llmroof plan``: its options as typed (names, texts, ms) ->
:class:`~llmroof.plan.records.Plan`. A number out of the library's range is told with its flag and
the value as typed."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from llmroof.errors import LlmroofError
from llmroof.plan.records import Plan


def plan_command(
    *,
    model: str,
    hardware: str,
    prompt: int = 2048,
    output: int = 512,
    rate: float | None = None,
    ttft_slo: float | None = None,
    tpot_slo: float | None = None,
    gpus_per_node: int | None = None,
    gpu_hour_cost: str | None = None,
    dtype: str = "bf16",
    weight_dtype: str | None = None,
    kv_dtype: str | None = None,
    group_size: int | None = None,
    calibrate: list[Path] | None = None,
    block_size: int = 16,
    reserve: float = 0.1,
    max_gpus: int = 16,
    attention_kernel: Literal["eager", "flash"] = "flash",
    top: int = 5,
    simulate: bool = True,
    disaggregate: bool = False,
    hardware_file: Path | None = None,
) -> Plan:
    """Resolve the names (model, devices, dtypes, calibrations) and plan; ``ttft_slo`` and
    ``tpot_slo`` in ms, ``gpu_hour_cost`` one price or one per device (``2.5,1.8``)."""
    from llmroof.plan.calibration import match_calibrations, read_calibration
    from llmroof.plan.planner import plan as make_plan
    from llmroof.plan.request import OutOfRange, PlanRequest, with_gpus_per_node
    from llmroof.specs.dtypes import resolve_precision
    from llmroof.specs.hardware import get_hardware
    from llmroof.specs.model import get_model

    # The planner checks the numbers; one out of range is told with its flag and the value as typed.
    given = {
        "prompt_len": ("--prompt", prompt),
        "output_len": ("--output", output),
        "rate_qps": ("--rate", rate),
        "ttft_slo_s": ("--ttft-slo", ttft_slo),
        "tpot_slo_s": ("--tpot-slo", tpot_slo),
        "gpus_per_node": ("--gpus-per-node", gpus_per_node),
        "max_gpus_per_replica": ("--max-gpus", max_gpus),
        "kv_block_tokens": ("--block-size", block_size),
        "memory_reserve_fraction": ("--reserve", reserve),
        "top": ("--top", top),
    }
    spec = get_model(model)
    names = [name.strip() for name in hardware.split(",") if name.strip()]
    if not names:
        raise LlmroofError(
            "--hardware names no device", "e.g. --hardware h100 or --hardware h100,a100"
        )
    try:
        devices = tuple(
            with_gpus_per_node(get_hardware(name, hardware_file), gpus_per_node) for name in names
        )
        calibrations = match_calibrations(
            [d.name for d in devices], [read_calibration(p) for p in calibrate or []]
        )
        request = PlanRequest(
            model=spec,
            hardware=devices,
            prompt_len=prompt,
            output_len=output,
            rate_qps=rate,
            ttft_slo_s=None if ttft_slo is None else ttft_slo / 1e3,
            tpot_slo_s=None if tpot_slo is None else tpot_slo / 1e3,
            precision=resolve_precision(dtype, weight_dtype, kv_dtype, group_size),
            gpu_hour_cost_usd=_prices(gpu_hour_cost, len(devices)),
            kv_block_tokens=block_size,
            memory_reserve_fraction=reserve,
            max_gpus_per_replica=max_gpus,
            attention_kernel=attention_kernel,
            calibration=calibrations,
        )
    except OutOfRange as exc:
        raise _said_with_flags(exc, given) from None
    except ValueError as exc:  # what PlanRequest checks across fields (a device named twice...)
        raise LlmroofError(str(exc)) from None
    try:
        if disaggregate and rate is None:
            raise LlmroofError("--disaggregate needs --rate", "e.g. --rate 10 --disaggregate")
        return make_plan(request, top=top, simulate=simulate, disaggregate=disaggregate)
    except OutOfRange as exc:
        raise _said_with_flags(exc, given) from None


def _said_with_flags(exc: Any, given: dict[str, tuple[str, float | None]]) -> LlmroofError:
    """A number the planner found out of range, told with its flag and the value as typed (SLOs in
    ms)."""
    flag, value = given[exc.field]
    return LlmroofError(f"{flag} must be {exc.bound}, got {value:g}")


def _prices(text: str | None, devices: int) -> tuple[float, ...] | None:
    """``2.5`` (every device) or ``2.5,1.8`` (one per device, in the order of --hardware)."""
    if text is None:
        return None
    try:
        prices = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise LlmroofError(
            f"--gpu-hour-cost {text!r}: expected a price in USD, or one per device (2.5,1.8)"
        ) from None
    if any(not (p >= 0 and math.isfinite(p)) for p in prices):
        raise LlmroofError(f"--gpu-hour-cost {text!r}: prices must be non-negative numbers")
    if len(prices) == 1:
        return prices * devices
    if len(prices) != devices:
        raise LlmroofError(
            f"--gpu-hour-cost gives {len(prices)} prices for {devices} devices",
            "give one price for all, or one per device in the order of --hardware",
        )
    return prices
