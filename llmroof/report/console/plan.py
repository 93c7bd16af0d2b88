"""The terminal tables of ``llmroof plan``: the recommended (or closest) configurations, the Pareto fronts
and the verdict."""

from __future__ import annotations

import math
from typing import Any

from llmroof.plan.records import Plan
from llmroof.report.console.render import console, print_csv, print_json, user
from llmroof.units import gib, seconds, si


def print_result(result: Plan, fmt: str = "table") -> None:
    """``fmt``: table (the recommendation and the configurations), json, csv (one row per
    configuration) or html (the page), on stdout."""
    if fmt == "json":
        print_json(result.to_dict())
    elif fmt == "csv":
        print_csv(
            c.to_dict() | {"rejected_reasons": "; ".join(c.rejected_reasons)}
            for c in result.configs
        )
    elif fmt == "html":
        import sys

        from llmroof.plan.html import render_plan_html

        sys.stdout.write(render_plan_html(result))
    else:
        print_plan(result, console())


def _config_table(title: str, result: Plan, ranked: Any, cost_label: str) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in (
        "#",
        "configuration",
        "seqs (max)",
        "weights/GPU",
        "KV/GPU",
        "TTFT",
        "TPOT",
        "tok/s/GPU",
        "tok/s/user",
        "replicas",
        "GPUs",
        cost_label,
    ):
        table.add_column(column, justify="left" if column == "configuration" else "right")
    for item in ranked:
        c = result.configs[item.index]
        cost = (
            c.usd_per_million_tokens
            if result.request.gpu_hour_cost_usd is not None
            else c.gpu_hours_per_million_tokens
        )
        table.add_row(
            str(item.rank),
            c.id,
            f"{c.concurrent_sequences} ({c.max_concurrent_sequences})",
            gib(c.weight_bytes_per_gpu),
            gib(c.kv_bytes_per_gpu),
            seconds(c.ttft_s),
            seconds(c.tpot_s),
            _num(c.tokens_per_s_per_gpu),
            _num(c.tokens_per_s_per_user),
            _int(c.replicas),
            _int(c.total_gpus),
            _num(cost),
        )
    return table


def _simulated(result: Plan, item: Any) -> str:
    """``; simulated p90 TTFT 120 ms, TPOT 31 ms at 20 requests/s`` where ``plan --rate`` simulated it."""
    c = result.configs[item.index]
    if c.sim_ttft_p90_s is None or result.request.rate_qps is None:
        return ""
    return (
        f"; simulated p90 TTFT {seconds(c.sim_ttft_p90_s)}, TPOT {seconds(c.sim_tpot_p90_s)} at "
        f"{result.request.rate_qps:g} requests/s (Poisson)"
    )


def _num(value: float | None) -> str:
    return "-" if value is None else si(value)


def _int(value: int | None) -> str:
    return "-" if value is None else str(value)


def _pareto_table(result: Plan, limit: int = 12) -> Any:
    from rich.table import Table

    table = Table(
        title="Pareto front: tokens/s per GPU against tokens/s per user (per device)",
        title_justify="left",
    )
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
            table.add_row(
                c.id,
                _num(c.tokens_per_s_per_user),
                _num(c.tokens_per_s_per_gpu),
                seconds(c.ttft_s),
                seconds(c.tpot_s),
                "yes" if c.meets_slo else "no",
            )
    return table, sum(len(v) for v in by_device.values())


def print_plan(result: Plan, out: Any) -> None:
    """The plan on ``out``, a rich console: the request, the recommendation (or the closest), the Pareto
    fronts and the verdict."""
    request, precision = result.request, result.request.precision
    hardware = ", ".join(hw.name for hw in request.hardware)
    slos = [
        f"TTFT <= {seconds(request.ttft_slo_s)}" if request.ttft_slo_s else "",
        f"TPOT <= {seconds(request.tpot_slo_s)}" if request.tpot_slo_s else "",
    ]
    slo_text = " and ".join(s for s in slos if s) or "none"
    rate = f"{request.rate_qps:g} requests/s" if request.rate_qps else "one replica (no --rate)"
    out.print(
        f"[bold]{user(request.model.name)}[/] on {user(hardware)}: prompt {request.prompt_len} + output "
        f"{request.output_len} tokens, weights {precision.weight.name}, activations "
        f"{precision.activation.name}, KV {precision.kv.name} in {request.kv_block_tokens}-token "
        f"blocks; {rate}; SLO: {slo_text}"
    )
    out.print(
        f"{len(result.configs)} configurations (tp x pp <= {request.max_gpus_per_replica}, concurrent "
        f"sequences up to what the KV cache holds): {result.fitting} fit in memory, "
        f"{result.meeting_slo} meet the SLOs"
    )
    cost_label = "$/M tok" if request.gpu_hour_cost_usd is not None else "GPU-h/M tok"
    if result.recommended:
        out.print(
            _config_table(
                "Recommended (the best of each layout that meets the SLOs)",
                result,
                result.recommended,
                cost_label,
            )
        )
        for item in result.recommended:
            out.print(
                f"  #{item.rank} {result.configs[item.index].id}: {item.reason}{_simulated(result, item)}"
            )
    elif result.closest:
        why = "nothing fits" if result.status == "does_not_fit" else "nothing meets the SLOs"
        out.print(_config_table(f"Closest ({why})", result, result.closest, cost_label))
        for item in result.closest:
            out.print(f"  #{item.rank} {result.configs[item.index].id}: {item.reason}")
    if result.pareto:
        table, total = _pareto_table(result)
        out.print(table)
        if table.row_count < total:
            out.print(
                f"  ({table.row_count} of the {total} points on the fronts; --format json lists every one)"
            )
    if result.disaggregated is not None:
        out.print(f"disaggregated: {user(result.disaggregated.note)}")
    style = "bold green" if result.status == "ok" else "bold yellow"
    out.print(f"[{style}]{result.verdict}[/]")
    if result.excluded:
        tps = sorted({e["tp"] for e in result.excluded})
        out.print(
            f"tp {', '.join(map(str, tps))} not tried: the model's shapes do not divide "
            f"({result.excluded[0]['reason']}, ...)"
        )
    for warning in result.warnings:
        out.print(f"[yellow]note:[/] {user(warning)}")
