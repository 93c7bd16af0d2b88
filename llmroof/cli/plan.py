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
from llmroof.units import gib, seconds, si


class PlanFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    html = "html"


def plan(
    model: str = typer.Option(..., "--model", "-m", help="Preset name, or a config.json (or its folder)."),
    hardware: str = typer.Option(..., "--hardware", "-H",
                                 help="Device, or devices separated by commas (h100,a100); see `llmroof hardware`."),
    prompt: int = typer.Option(2048, "--prompt", "-s", help="Prompt tokens per request."),
    output: int = typer.Option(512, "--output", "-o", help="Generated tokens per request."),
    rate: float | None = typer.Option(None, "--rate", help="Requests per second to serve (default: one replica)."),
    ttft_slo: float | None = typer.Option(None, "--ttft-slo", help="Largest time to first token, ms."),
    tpot_slo: float | None = typer.Option(None, "--tpot-slo", help="Largest time between a user's tokens, ms."),
    gpus_per_node: int | None = typer.Option(None, "--gpus-per-node",
                                             help="GPUs per node: the largest tp, and where links turn inter-node "
                                                  "(default: the catalog's, 8 for most devices)."),
    gpu_hour_cost: str | None = typer.Option(None, "--gpu-hour-cost",
                                             help="USD per GPU-hour: one price, or one per device (2.5,1.8)."),
    dtype: str = typer.Option("bf16", "--dtype",
                              help=f"Activation (compute) dtype; default for the others. {DTYPE_HELP}"),
    weight_dtype: str | None = typer.Option(None, "--weight-dtype", help="Decoder linear weights' dtype."),
    kv_dtype: str | None = typer.Option(None, "--kv-dtype", help="KV-cache dtype."),
    group_size: int | None = typer.Option(None, "--group-size", help="int4 quantisation group size (default 128)."),
    calibrate: list[Path] | None = typer.Option(None, "--calibrate", dir_okay=False,
                                                help="A profile results file (llmroof profile) or bench result (llmroof bench) of a planned device; "
                                                     "repeat for several devices."),
    max_gpus: int = typer.Option(16, "--max-gpus", help="Largest tp x pp per replica."),
    block_size: int = typer.Option(16, "--block-size", help="Tokens per paged KV-cache block."),
    reserve: float = typer.Option(0.1, "--reserve", help="Share of device memory kept back from weights and KV."),
    attention_kernel: AttentionKernelChoice = typer.Option(AttentionKernelChoice.flash, "--attention-kernel",
                                                           help="flash: one fused op (serving engines); eager."),
    top: int = typer.Option(5, "--top", help="Recommendations (or closest configurations) to give."),
    simulate: bool = typer.Option(True, "--simulate/--no-simulate",
                                  help="With --rate: simulate the recommended configurations under Poisson arrivals "
                                       "and recommend only those whose p90 TTFT and TPOT meet the SLOs."),
    fmt: PlanFormat = typer.Option(PlanFormat.table, "--format", "-f", help="Output format."),
    hardware_file: Path | None = HARDWARE_FILE,
) -> None:
    """Capacity plan: every TP x PP x concurrency on each device, the Pareto front, and a recommendation."""
    from llmroof.plan import PlanRequest, plan as make_plan, with_gpus_per_node
    from llmroof.plan.calibration import match_calibrations, read_calibration
    from llmroof.plan.request import OutOfRange

    # The library checks the numbers; a number out of range is told with the flag and the value as typed.
    given = {"prompt_len": ("--prompt", prompt), "output_len": ("--output", output), "rate_qps": ("--rate", rate),
             "ttft_slo_s": ("--ttft-slo", ttft_slo), "tpot_slo_s": ("--tpot-slo", tpot_slo),
             "gpus_per_node": ("--gpus-per-node", gpus_per_node), "max_gpus_per_replica": ("--max-gpus", max_gpus),
             "kv_block_tokens": ("--block-size", block_size), "memory_reserve_fraction": ("--reserve", reserve),
             "top": ("--top", top)}
    spec = resolve_model(model)
    names = [name.strip() for name in hardware.split(",") if name.strip()]
    if not names:
        raise LlmroofError("--hardware names no device", "e.g. --hardware h100 or --hardware h100,a100")
    try:
        devices = tuple(with_gpus_per_node(resolve_hardware(name, hardware_file), gpus_per_node) for name in names)
        calibrations = match_calibrations([d.name for d in devices], [read_calibration(p) for p in calibrate or []])
        request = PlanRequest(
            model=spec, hardware=devices, prompt_len=prompt, output_len=output, rate_qps=rate,
            ttft_slo_s=None if ttft_slo is None else ttft_slo / 1e3,
            tpot_slo_s=None if tpot_slo is None else tpot_slo / 1e3,
            precision=resolve_precision(dtype, weight_dtype, kv_dtype, group_size),
            gpu_hour_cost_usd=_prices(gpu_hour_cost, len(devices)), kv_block_tokens=block_size,
            memory_reserve_fraction=reserve, max_gpus_per_replica=max_gpus,
            attention_kernel=attention_kernel.value, calibration=calibrations,
        )
    except OutOfRange as exc:
        raise _said_with_flags(exc, given) from None
    except ValueError as exc:  # what PlanRequest checks across fields (a device named twice...)
        raise LlmroofError(str(exc)) from None
    try:
        result = make_plan(request, top=top, simulate=simulate)
    except OutOfRange as exc:
        raise _said_with_flags(exc, given) from None
    if fmt is PlanFormat.json:
        print_json(result.to_dict())
    elif fmt is PlanFormat.csv:
        print_csv(c.to_dict() | {"rejected_reasons": "; ".join(c.rejected_reasons)} for c in result.configs)
    elif fmt is PlanFormat.html:
        import sys

        from llmroof.plan.html import render_plan_html

        sys.stdout.write(render_plan_html(result))
    else:
        _print_plan(result)


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
        raise LlmroofError(f"--gpu-hour-cost {text!r}: expected a price in USD, or one per device (2.5,1.8)") from None
    if any(not (p >= 0 and math.isfinite(p)) for p in prices):
        raise LlmroofError(f"--gpu-hour-cost {text!r}: prices must be non-negative numbers")
    if len(prices) == 1:
        return prices * devices
    if len(prices) != devices:
        raise LlmroofError(f"--gpu-hour-cost gives {len(prices)} prices for {devices} devices",
                           "give one price for all, or one per device in the order of --hardware")
    return prices


# --- the table ----------------------------------------------------------------------------------

def _config_table(title: str, result: Any, ranked: Any, cost_label: str) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in ("#", "configuration", "seqs (max)", "weights/GPU", "KV/GPU", "TTFT", "TPOT", "tok/s/GPU",
                   "tok/s/user", "replicas", "GPUs", cost_label):
        table.add_column(column, justify="left" if column == "configuration" else "right")
    for item in ranked:
        c = result.configs[item.index]
        cost = c.usd_per_million_tokens if result.request.gpu_hour_cost_usd is not None else \
            c.gpu_hours_per_million_tokens
        table.add_row(str(item.rank), c.id, f"{c.concurrent_sequences} ({c.max_concurrent_sequences})",
                      gib(c.weight_bytes_per_gpu), gib(c.kv_bytes_per_gpu), seconds(c.ttft_s), seconds(c.tpot_s),
                      _num(c.tokens_per_s_per_gpu), _num(c.tokens_per_s_per_user), _int(c.replicas),
                      _int(c.total_gpus), _num(cost))
    return table


def _simulated(result: Any, item: Any) -> str:
    """``; simulated p90 TTFT 120 ms, TPOT 31 ms at 20 requests/s`` where ``plan --rate`` simulated it."""
    c = result.configs[item.index]
    if c.sim_ttft_p90_s is None:
        return ""
    return (f"; simulated p90 TTFT {seconds(c.sim_ttft_p90_s)}, TPOT {seconds(c.sim_tpot_p90_s)} at "
            f"{result.request.rate_qps:g} requests/s (Poisson)")


def _num(value: float | None) -> str:
    return "-" if value is None else si(value)


def _int(value: int | None) -> str:
    return "-" if value is None else str(value)


def _pareto_table(result: Any, limit: int = 12) -> Any:
    from rich.table import Table

    table = Table(title="Pareto front: tokens/s per GPU against tokens/s per user (per device)", title_justify="left")
    for column in ("configuration", "tok/s/user", "tok/s/GPU", "TTFT", "TPOT", "meets SLO"):
        table.add_column(column, justify="left" if column == "configuration" else "right")
    by_device: dict[str, list[int]] = {}
    for i in result.pareto:
        by_device.setdefault(result.configs[i].hardware, []).append(i)
    for indices in by_device.values():
        step = max(1, math.ceil(len(indices) / limit))
        shown = indices[::step] + ([indices[-1]] if (len(indices) - 1) % step else [])
        for i in shown:
            c = result.configs[i]
            table.add_row(c.id, _num(c.tokens_per_s_per_user), _num(c.tokens_per_s_per_gpu), seconds(c.ttft_s),
                          seconds(c.tpot_s), "yes" if c.meets_slo else "no")
    return table, sum(len(v) for v in by_device.values())


def _print_plan(result: Any) -> None:
    out = console()
    request, data = result.request, result.to_dict()
    req = data["request"]
    slos = [f"TTFT <= {seconds(request.ttft_slo_s)}" if request.ttft_slo_s else "",
            f"TPOT <= {seconds(request.tpot_slo_s)}" if request.tpot_slo_s else ""]
    slo_text = " and ".join(s for s in slos if s) or "none"
    rate = f"{request.rate_qps:g} requests/s" if request.rate_qps else "one replica (no --rate)"
    out.print(f"[bold]{request.model.name}[/] on {', '.join(req['hardware'])}: prompt {request.prompt_len} + output "
              f"{request.output_len} tokens, weights {req['weight_dtype']}, activations {req['act_dtype']}, KV "
              f"{req['kv_dtype']} in {request.kv_block_tokens}-token blocks; {rate}; SLO: {slo_text}")
    counts = data["counts"]
    out.print(f"{counts['configurations']} configurations (tp x pp <= {request.max_gpus_per_replica}, concurrent "
              f"sequences up to what the KV cache holds): {counts['fit']} fit in memory, {counts['meet_slo']} meet "
              f"the SLOs")
    cost_label = "$/M tok" if request.gpu_hour_cost_usd is not None else "GPU-h/M tok"
    if result.recommended:
        out.print(_config_table("Recommended (the best of each layout that meets the SLOs)", result,
                                result.recommended, cost_label))
        for item in result.recommended:
            out.print(f"  #{item.rank} {result.configs[item.index].id}: {item.reason}{_simulated(result, item)}")
    elif result.closest:
        why = "nothing fits" if result.status == "does_not_fit" else "nothing meets the SLOs"
        out.print(_config_table(f"Closest ({why})", result, result.closest, cost_label))
        for item in result.closest:
            out.print(f"  #{item.rank} {result.configs[item.index].id}: {item.reason}")
    if result.pareto:
        table, total = _pareto_table(result)
        out.print(table)
        if table.row_count < total:
            out.print(f"  ({table.row_count} of the {total} points on the fronts; --format json lists every one)")
    style = "bold green" if result.status == "ok" else "bold yellow"
    out.print(f"[{style}]{result.verdict}[/]")
    if result.excluded:
        tps = sorted({e["tp"] for e in result.excluded})
        out.print(f"tp {', '.join(map(str, tps))} not tried: the model's shapes do not divide "
                  f"({result.excluded[0]['reason']}, ...)")
    for warning in result.warnings:
        out.print(f"[yellow]note:[/] {warning}")


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)
