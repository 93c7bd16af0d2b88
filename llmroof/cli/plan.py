"""``llmroof plan``: which device, tensor- and pipeline-parallel layout and number of concurrent sequences
serve a model within latency objectives, how many replicas a request rate needs, and at what cost."""

from __future__ import annotations

import math
from enum import Enum
from pathlib import Path
from typing import Any

import typer

from llmroof.cli.options import (
    DTYPE_HELP,
    HARDWARE_FILE,
    AttentionKernelChoice,
    resolve_hardware,
    resolve_model,
    resolve_precision,
)
from llmroof.cli.render import console, print_csv, print_json
from llmroof.errors import LlmroofError


class PlanFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    html = "html"


def plan(
    model: str = typer.Option(
        ..., "--model", "-m", help="Preset name, or a config.json (or its folder)."
    ),
    hardware: str = typer.Option(
        ...,
        "--hardware",
        "-H",
        help="Device, or devices separated by commas (h100,a100); see `llmroof hardware`.",
    ),
    prompt: int = typer.Option(2048, "--prompt", "-s", help="Prompt tokens per request."),
    output: int = typer.Option(512, "--output", "-o", help="Generated tokens per request."),
    rate: float | None = typer.Option(
        None, "--rate", help="Requests per second to serve (default: one replica)."
    ),
    ttft_slo: float | None = typer.Option(
        None, "--ttft-slo", help="Largest time to first token, ms."
    ),
    tpot_slo: float | None = typer.Option(
        None, "--tpot-slo", help="Largest time between a user's tokens, ms."
    ),
    gpus_per_node: int | None = typer.Option(
        None,
        "--gpus-per-node",
        help="GPUs per node: the largest tp, and where links turn inter-node "
        "(default: the catalog's, 8 for most devices).",
    ),
    gpu_hour_cost: str | None = typer.Option(
        None, "--gpu-hour-cost", help="USD per GPU-hour: one price, or one per device (2.5,1.8)."
    ),
    dtype: str = typer.Option(
        "bf16", "--dtype", help=f"Activation (compute) dtype; default for the others. {DTYPE_HELP}"
    ),
    weight_dtype: str | None = typer.Option(
        None, "--weight-dtype", help="Decoder linear weights' dtype."
    ),
    kv_dtype: str | None = typer.Option(None, "--kv-dtype", help="KV-cache dtype."),
    group_size: int | None = typer.Option(
        None, "--group-size", help="int4 quantisation group size (default 128)."
    ),
    calibrate: list[Path] | None = typer.Option(
        None,
        "--calibrate",
        dir_okay=False,
        help="A profile results file (llmroof profile) or bench result (llmroof bench) of a planned device; "
        "repeat for several devices.",
    ),
    max_gpus: int = typer.Option(16, "--max-gpus", help="Largest tp x pp per replica."),
    block_size: int = typer.Option(16, "--block-size", help="Tokens per paged KV-cache block."),
    reserve: float = typer.Option(
        0.1, "--reserve", help="Share of device memory kept back from weights and KV."
    ),
    attention_kernel: AttentionKernelChoice = typer.Option(
        AttentionKernelChoice.flash,
        "--attention-kernel",
        help="flash: one fused op (serving engines); eager.",
    ),
    top: int = typer.Option(
        5, "--top", help="Recommendations (or closest configurations) to give."
    ),
    simulate: bool = typer.Option(
        True,
        "--simulate/--no-simulate",
        help="With --rate: simulate the recommended configurations under Poisson arrivals "
        "and recommend only those whose p90 TTFT and TPOT meet the SLOs.",
    ),
    disaggregate: bool = typer.Option(
        False,
        "--disaggregate",
        help="With --rate: also simulate disaggregated prefill/decode layouts (xPyD) and report "
        "the best beside the recommendation.",
    ),
    fmt: PlanFormat = typer.Option(PlanFormat.table, "--format", "-f", help="Output format."),
    hardware_file: Path | None = HARDWARE_FILE,
) -> None:
    """Capacity plan: every TP x PP x concurrency on each device, the Pareto front, and a recommendation."""
    from llmroof.plan import PlanRequest, with_gpus_per_node
    from llmroof.plan import plan as make_plan
    from llmroof.plan.calibration import match_calibrations, read_calibration
    from llmroof.plan.request import OutOfRange

    # The library checks the numbers; a number out of range is told with the flag and the value as typed.
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
    spec = resolve_model(model)
    names = [name.strip() for name in hardware.split(",") if name.strip()]
    if not names:
        raise LlmroofError(
            "--hardware names no device", "e.g. --hardware h100 or --hardware h100,a100"
        )
    try:
        devices = tuple(
            with_gpus_per_node(resolve_hardware(name, hardware_file), gpus_per_node)
            for name in names
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
            attention_kernel=attention_kernel.value,
            calibration=calibrations,
        )
    except OutOfRange as exc:
        raise _said_with_flags(exc, given) from None
    except ValueError as exc:  # what PlanRequest checks across fields (a device named twice...)
        raise LlmroofError(str(exc)) from None
    try:
        if disaggregate and rate is None:
            raise LlmroofError("--disaggregate needs --rate", "e.g. --rate 10 --disaggregate")
        result = make_plan(request, top=top, simulate=simulate, disaggregate=disaggregate)
    except OutOfRange as exc:
        raise _said_with_flags(exc, given) from None
    if fmt is PlanFormat.json:
        print_json(result.to_dict())
    elif fmt is PlanFormat.csv:
        print_csv(
            c.to_dict() | {"rejected_reasons": "; ".join(c.rejected_reasons)}
            for c in result.configs
        )
    elif fmt is PlanFormat.html:
        import sys

        from llmroof.plan.html import render_plan_html

        sys.stdout.write(render_plan_html(result))
    else:
        from llmroof.report.console.plan import print_plan

        print_plan(result, console())


def _said_with_flags(exc: Any, given: dict[str, tuple[str, float | None]]) -> LlmroofError:
    """A number the library found out of range, told with its flag and the value as typed (SLOs in ms)."""
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


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)
