"""A simulation as a self-contained HTML section: its levels, the CDFs of TTFT and E2E (from the
per-request rows) and the queue and KV use over time, rendered from
``reports/templates/simulate.html.j2``. jinja2 and matplotlib are imported here, when a page is
rendered, never on the simulation path."""

from __future__ import annotations

from typing import Any

from llmroof.results.html import svg_element, template_environment
from llmroof.results.records.simulate import SimulateResult
from llmroof.units import seconds

TEMPLATE = "simulate.html.j2"


def cdf_figure(result: SimulateResult) -> Any:
    """TTFT and E2E: the share of requests at or below each latency, one line per level."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 3.6))
    for column, (name, index) in enumerate((("TTFT", 2), ("E2E", 3))):
        axes = figure.add_subplot(1, 2, column + 1)
        for level in result.levels:
            values = sorted(row[index] - row[1] for row in level.records)
            if values:
                axes.step(
                    values,
                    [(i + 1) / len(values) for i in range(len(values))],
                    where="post",
                    label=level.label,
                )
        axes.set_xscale("log")
        axes.set_xlabel(f"{name} (s)")
        axes.set_ylabel("share of requests")
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    return figure


def queue_figure(result: SimulateResult) -> Any:
    """Waiting and running sequences, and the KV pool's use, over time, one panel per level."""
    from matplotlib.figure import Figure

    levels = [level for level in result.levels if level.timeline]
    figure = Figure(figsize=(9, 2.4 * len(levels)))
    for row, level in enumerate(levels):
        axes = figure.add_subplot(len(levels), 1, row + 1)
        times = [t for t, *_ in level.timeline]
        axes.plot(times, [w for _, w, _, _ in level.timeline], label="waiting", linewidth=1)
        axes.plot(times, [r for _, _, r, _ in level.timeline], label="running", linewidth=1)
        kv = axes.twinx()
        kv.plot(
            times, [100 * k for *_, k in level.timeline], color="0.5", linestyle=":", linewidth=1
        )
        kv.set_ylabel("KV used (%)")
        axes.set_ylabel("sequences")
        axes.set_title(level.label, fontsize=9)
        axes.legend(fontsize=7, loc="upper left")
    if levels:
        figure.axes[-2].set_xlabel("time (s)")
    figure.tight_layout()
    return figure


def _triple(dist: Any) -> str:
    if dist.p50 is None:
        return "-"
    return " / ".join(seconds(v) for v in (dist.p50, dist.p90, dist.p99))


def simulate_context(result: SimulateResult) -> dict[str, Any]:
    """What the template shows, already formatted."""
    s, m = result.settings, result.step_model
    split = s.disaggregation
    replica = (
        f"{split.prefill_replicas} prefill (tp {split.prefill_tp}) + "
        f"{split.decode_replicas} decode (tp {split.decode_tp}) replicas"
        if split
        else f"{s.replicas} x {s.hardware} tp {s.tp} pp {s.pp} ({s.router})"
    )
    return {
        "model": s.model,
        "replica": f"{replica} on {s.hardware}, {s.dtype}",
        "requests": f"{s.prompt_tokens} prompt / {s.output_tokens} output tokens, "
        f"seed {s.seed}, CV {s.cv:g}" + (f", trace {s.trace}" if s.trace else ""),
        "scheduler": f"max_num_seqs {s.max_num_seqs}, "
        f"max_num_batched_tokens {s.max_num_batched_tokens}, "
        f"chunked prefill {'on' if s.chunked_prefill else 'off'}",
        "steps": f"prefill {seconds(m.prefill_s)}, "
        f"decode step {seconds(m.decode_step_s)} at batch 1 "
        f"(efficiencies from {m.efficiency_source})",
        "best": None
        if result.max_rate_meeting_slo is None
        else f"{result.max_rate_meeting_slo:.3g} requests/s at p{result.slo_percentile:g}",
        "levels": [
            {
                "label": level.label,
                "throughput": f"{level.request_throughput_per_s:.2f}",
                "tokens": f"{level.output_tokens_per_s:.0f}",
                "goodput": "-" if level.goodput_per_s is None else f"{level.goodput_per_s:.2f}",
                "ttft": _triple(level.ttft_s),
                "tpot": _triple(level.tpot_s),
                "itl": _triple(level.itl_s),
                "e2e": _triple(level.e2e_s),
                "in_system": f"{level.mean_in_system:.1f}",
                "preemptions": str(level.preemptions),
            }
            for level in result.levels
        ],
        "notes": list(result.notes),
    }


def render_simulate_html(result: SimulateResult, answer: Any = None) -> str:
    """The simulation as one ``<section>`` of HTML, headed by ``answer`` (an
    :class:`~llmroof.report.answer.Answer`, which the caller computes: this layer sits below report)."""
    from markupsafe import Markup

    has_rows = any(level.records for level in result.levels)
    cdf = Markup(svg_element(cdf_figure(result))) if has_rows else None  # matplotlib's own SVG
    queue = (
        Markup(svg_element(queue_figure(result)))
        if any(lv.timeline for lv in result.levels)
        else None
    )
    return (
        template_environment(TEMPLATE)
        .get_template(TEMPLATE)
        .render(cdf=cdf, queue=queue, answer=answer, **simulate_context(result))
    )
