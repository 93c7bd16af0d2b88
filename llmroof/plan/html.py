"""A plan as a self-contained HTML section (inline CSS, the Pareto chart as inline SVG), rendered from
``reports/templates/plan.html.j2`` with jinja2 (autoescaping on). jinja2 and matplotlib are imported here,
when a plan is rendered, never on the planning path."""

from __future__ import annotations

from typing import Any

from llmroof.plan.records import Plan, PlanConfig
from llmroof.results.html import template_environment
from llmroof.units import gib, seconds, si

TEMPLATE = "plan.html.j2"


def pareto_figure(plan: Plan) -> Any:
    """The chart, a matplotlib ``Figure`` (no pyplot, so no GUI backend): every configuration that fits
    (tokens/s per user across, tokens/s per GPU up), those that meet the SLOs in colour, each device's Pareto
    front as a line, the recommendation starred, and the TPOT objective as the slowest acceptable tokens/s per
    user. Colour-blind-safe colours with a marker and dash per device; the legend below the axes."""
    from llmroof.report import layout

    configs = plan.configs
    figure = layout.new_figure(8.0, 5.0)
    axes = figure.add_axes((0.11, 0.25, 0.86, 0.68))
    many = len(configs) > 2000  # rasterise the cloud so the SVG stays small
    for index, hw in enumerate(plan.request.hardware):
        look = layout.style(index)
        fits = [c for c in configs if c.fits and c.hardware == hw.name]
        misses = [c for c in fits if not c.meets_slo]
        meets = [c for c in fits if c.meets_slo]
        axes.scatter(
            [c.tokens_per_s_per_user for c in misses],
            [c.tokens_per_s_per_gpu for c in misses],
            s=6,
            color=look.color,
            alpha=0.15,
            linewidths=0,
            rasterized=many,
            marker=look.marker,
        )
        axes.scatter(
            [c.tokens_per_s_per_user for c in meets],
            [c.tokens_per_s_per_gpu for c in meets],
            s=8,
            color=look.color,
            alpha=0.6,
            linewidths=0,
            rasterized=many,
            marker=look.marker,
            label=f"{hw.name} (meets SLOs)",
        )
        front = [configs[i] for i in plan.pareto if configs[i].hardware == hw.name]
        axes.plot(
            [c.tokens_per_s_per_user for c in front],
            [c.tokens_per_s_per_gpu for c in front],
            color=look.color,
            linestyle=layout.DASHES[index % len(layout.DASHES)],
            linewidth=1.5,
            label=f"{hw.name} Pareto front",
        )
    if plan.request.tpot_slo_s is not None:
        axes.axvline(
            1 / plan.request.tpot_slo_s,
            color="0.3",
            linestyle=":",
            linewidth=1.2,
            label=f"TPOT SLO {seconds(plan.request.tpot_slo_s)}",
        )
    if plan.best is not None:
        best = plan.best
        star = axes.scatter(
            [best.tokens_per_s_per_user],
            [best.tokens_per_s_per_gpu],
            marker="*",
            s=220,
            color=layout.OKABE_ITO["yellow"],
            edgecolors="black",
            zorder=5,
            label=f"recommended: {best.id}",
        )
        layout.hover(
            star,
            f"recommended: {best.id}: {si(best.tokens_per_s_per_user)} tokens/s per user, "
            f"{si(best.tokens_per_s_per_gpu)} tokens/s per GPU",
        )
    axes.set_xlabel("output tokens/s per user (1 / TPOT)")
    axes.set_ylabel("output tokens/s per GPU")
    axes.set_title(
        f"{plan.request.model.name}: throughput against interactivity", loc="left", fontsize=10
    )
    axes.grid(True, alpha=0.3)
    handles, labels = axes.get_legend_handles_labels()
    figure.legend(
        handles,
        labels,
        loc="lower center",
        bbox_to_anchor=(0.5, 0.0),
        ncols=2,
        frameon=False,
        fontsize=7.5,
    )
    layout.data_table(
        figure,
        ("configuration", "tokens/s per user", "tokens/s per GPU", "TTFT", "TPOT", "meets SLO"),
        [
            (
                c.id,
                si(c.tokens_per_s_per_user),
                si(c.tokens_per_s_per_gpu),
                seconds(c.ttft_s),
                seconds(c.tpot_s),
                "yes" if c.meets_slo else "no",
            )
            for c in (configs[i] for i in plan.pareto)
        ],
    )
    return figure


def pareto_svg(plan: Plan) -> Any:
    """:func:`pareto_figure` as inline ``<svg>`` markup (text kept as text, reproducible ids), its data table
    folded below it."""
    from llmroof.report import figures

    with figures.styled("plan-pareto"):
        return figures.to_svg(
            pareto_figure(plan),
            "plan-pareto",
            f"Pareto front of {plan.request.model.name}: output tokens/s per GPU against "
            "tokens/s per user for every configuration that fits",
        )


def _row(config: PlanConfig, cost_in_usd: bool) -> dict[str, str]:
    cost = config.usd_per_million_tokens if cost_in_usd else config.gpu_hours_per_million_tokens
    fmt = lambda v: "-" if v is None else si(v)  # noqa: E731
    return {
        "id": config.id,
        "sequences": f"{config.concurrent_sequences} ({config.max_concurrent_sequences})",
        "weights": gib(config.weight_bytes_per_gpu),
        "kv": gib(config.kv_bytes_per_gpu),
        "ttft": seconds(config.ttft_s),
        "tpot": seconds(config.tpot_s),
        "per_gpu": fmt(config.tokens_per_s_per_gpu),
        "per_user": fmt(config.tokens_per_s_per_user),
        "replicas": fmt(config.replicas),
        "gpus": fmt(config.total_gpus),
        "cost": fmt(cost),
        "meets": "yes" if config.meets_slo else "no",
    }


def plan_context(plan: Plan) -> dict[str, Any]:
    """What the template shows, already formatted."""
    request, record = plan.request, plan.to_record()
    cost_in_usd = request.gpu_hour_cost_usd is not None

    def ranked(items: Any) -> list[dict[str, str]]:
        return [
            {"rank": str(r.rank), "reason": r.reason, **_row(plan.configs[r.index], cost_in_usd)}
            for r in items
        ]

    slos = []
    if request.ttft_slo_s is not None:
        slos.append(f"TTFT <= {seconds(request.ttft_slo_s)}")
    if request.tpot_slo_s is not None:
        slos.append(f"TPOT <= {seconds(request.tpot_slo_s)}")
    return {
        "model": request.model.name,
        "request": record.request,
        "rate": f"{request.rate_qps:g} requests/s" if request.rate_qps else "one replica",
        "slo": " and ".join(slos) or "none",
        "status": plan.status,
        "verdict": plan.verdict,
        "counts": record.counts,
        "cost_label": "$ per M output tokens" if cost_in_usd else "GPU-hours per M output tokens",
        "recommended": ranked(plan.recommended),
        "closest": ranked(plan.closest),
        "pareto": [_row(plan.configs[i], cost_in_usd) for i in plan.pareto],
        "calibration": record.calibration,
        "warnings": list(plan.warnings),
    }


def render_plan_html(plan: Plan) -> str:
    """The plan as one ``<section>`` of HTML, headed by its answer block."""
    from llmroof.report.answer import plan_answer

    chart = pareto_svg(plan) if any(c.fits for c in plan.configs) else None  # matplotlib's own SVG
    return (
        template_environment(TEMPLATE)
        .get_template(TEMPLATE)
        .render(chart=chart, answer=plan_answer(plan), **plan_context(plan))
    )


def render_plan_page(plan: Plan) -> str:
    """The plan as a whole page (the report's base layout around :func:`render_plan_html`)."""
    from markupsafe import Markup

    from llmroof.version import __version__

    page = "plan_page.html.j2"
    return (
        template_environment(page)
        .get_template(page)
        .render(
            title=f"llmroof plan: {plan.request.model.name}",
            section=Markup(render_plan_html(plan)),
            version=__version__,
        )
    )
