"""A comparison as one self-contained HTML page (inline CSS and SVG, no network): both sides' points on one
roofline, the runs side by side, and the result tables. Rendered with jinja2 (autoescaping on) from
``compare.html.j2``; matplotlib draws the roofline and is imported only here, for ``--format html``."""

from __future__ import annotations

import math
from typing import Any

from llmroof.compare import text as fmt
from llmroof.compare.comparison import Comparison, Row
from llmroof.results.html import template_environment
from llmroof.version import __version__

TEMPLATE = "compare.html.j2"


def _table(rows: list[Row]) -> dict[str, Any]:
    return {
        "columns": list(fmt.COLUMNS),
        "rows": [
            {"cells": [fmt.cells(r)[c] for c in fmt.COLUMNS], "verdict": r.verdict} for r in rows
        ],
    }


def _side(info: Any) -> dict[str, Any]:
    return {
        "label": info.label,
        "line": fmt.side_line(info),
        "files": list(info.files),
        "times": list(info.times_utc),
        "ceilings": [
            ("measured bandwidth", fmt.value("B/s", info.bandwidth_bytes_per_s)),
            ("measured compute", fmt.value("FLOP/s", info.peak_flops_per_s)),
        ],
    }


def render_html(comparison: Comparison) -> str:
    ops = fmt.op_rows(comparison)
    svg, figure_note = roofline_svg(comparison)
    from llmroof.report.answer import compare_answer

    context = {
        "title": f"llmroof compare: {comparison.verdict()}",
        "answer": compare_answer(comparison),
        "verdict": comparison.verdict(),
        "summary": fmt.summary_line(comparison),
        "sides": [_side(comparison.base), _side(comparison.new)],
        "caveat": comparison.caveat,
        "noise": fmt.noise_line(comparison),
        "differences": [d.to_dict() for d in comparison.differences],
        "roofline_svg": svg,
        "roofline_note": figure_note,
        "config_table": _table(fmt.config_rows(comparison)),
        "op_table": _table(ops) if ops else None,
        "unmatched": list(comparison.unmatched),
        "note": fmt.intervals_note(comparison),
        "version": __version__,
    }
    return template_environment(TEMPLATE).get_template(TEMPLATE).render(**context)


def roofline_svg(comparison: Comparison) -> tuple[Any, str]:
    """(the figure as inline SVG markup, or None; a caption). Each side's measured roofline and its points:
    x the configuration's arithmetic intensity, y its achieved FLOP/s; an arrow from BASE to NEW. The points
    that moved the most are labelled (placed off each other); every point has a hover title."""
    try:
        import matplotlib.figure  # noqa: F401
    except ImportError:
        return None, "matplotlib is not installed, so there is no roofline figure."
    points = comparison.points
    roofs = [(comparison.base, "#777777", "--"), (comparison.new, "#0072B2", "-")]
    if not points or any(
        not side.peak_flops_per_s or not side.bandwidth_bytes_per_s for side, _, _ in roofs
    ):
        return (
            None,
            "No roofline figure: a side lacks measured ceilings or the configurations lack analytic FLOPs.",
        )
    from llmroof.report import figures

    with figures.styled("compare-roofline"):
        figure = _roofline_figure(comparison, roofs)
        svg = figures.to_svg(
            figure,
            "compare-roofline",
            "Roofline of BASE and NEW: each configuration's achieved FLOP/s on both sides",
        )
    caption = (
        "Each configuration at its arithmetic intensity (analytic FLOPs / bytes) and achieved FLOP/s "
        "at the median time; arrows go from BASE to NEW. The configurations that moved the most are "
        "labelled; hover over a point for its name."
    )
    if any(math.isnan(v) for p in points for v in (p.base_flops_per_s, p.new_flops_per_s)):
        caption += " Some points could not be placed."
    return svg, caption


LABELLED = 6


def _roofline_figure(comparison: Comparison, roofs: list[tuple[Any, str, str]]) -> Any:
    from llmroof.report import figures, layout
    from llmroof.units import si

    points = [
        p
        for p in comparison.points
        if all(
            v > 0 and math.isfinite(v)
            for v in (p.intensity_flops_per_byte, p.base_flops_per_s, p.new_flops_per_s)
        )
    ]
    figure = layout.new_figure(7.5, 5.2)
    axes = figure.add_axes((0.16, 0.25, 0.81, 0.68))
    ridges = [s.peak_flops_per_s / s.bandwidth_bytes_per_s for s, _, _ in roofs]
    x_values = [p.intensity_flops_per_byte for p in points] or ridges
    low, high = min(x_values) / 4, max(x_values) * 4
    xs = [low * (high / low) ** (i / 200) for i in range(201)]
    for side, color, style in roofs:
        peak, bandwidth = side.peak_flops_per_s, side.bandwidth_bytes_per_s
        axes.plot(
            xs,
            [min(peak, bandwidth * x) for x in xs],
            style,
            color=color,
            linewidth=1.5,
            label=f"{side.label} roofline: {si(bandwidth, 'B/s')}, {si(peak, 'FLOP/s')}",
        )
    for point in points:
        x = point.intensity_flops_per_byte
        axes.annotate(
            "",
            xy=(x, point.new_flops_per_s),
            xytext=(x, point.base_flops_per_s),
            arrowprops={"arrowstyle": "->", "color": "#555555", "linewidth": 0.8},
        )
    for point in points:
        x = point.intensity_flops_per_byte
        base = axes.scatter(
            [x],
            [point.base_flops_per_s],
            facecolors="none",
            edgecolors="#777777",
            zorder=3,
            label="BASE" if point is points[0] else None,
        )
        new = axes.scatter(
            [x],
            [point.new_flops_per_s],
            color="#0072B2",
            marker="^",
            zorder=3,
            label="NEW" if point is points[0] else None,
        )
        text = (
            f"{point.key.label()}: {si(point.base_flops_per_s, 'FLOP/s')} -> "
            f"{si(point.new_flops_per_s, 'FLOP/s')} at {x:.3g} FLOP/byte"
        )
        layout.hover(base, text)
        layout.hover(new, text)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlim(low, high)
    ys = [v for p in points for v in (p.base_flops_per_s, p.new_flops_per_s)]
    ys += [min(s.peak_flops_per_s, s.bandwidth_bytes_per_s * high) for s, _, _ in roofs]
    axes.set_ylim(min(ys) / 3, max(ys) * 3)
    figures.log_ticks(axes.xaxis, "", low, high)
    figures.log_ticks(axes.yaxis, "FLOP/s", min(ys) / 3, max(ys) * 3)
    axes.set_xlabel("arithmetic intensity (FLOP/byte)")
    axes.set_ylabel("achieved FLOP/s")
    axes.grid(True, which="major", linewidth=0.4, alpha=0.5)
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
    to_display = axes.transData.transform
    taken = []
    for p in points:
        for y in (p.base_flops_per_s, p.new_flops_per_s):
            px, py = to_display((p.intensity_flops_per_byte, y))
            taken.append((px - 4, py - 4, px + 4, py + 4))
    moved = sorted(
        points, key=lambda p: abs(math.log(p.new_flops_per_s / p.base_flops_per_s)), reverse=True
    )
    chosen = moved[:LABELLED]
    layout.place_labels(
        axes,
        [(p.intensity_flops_per_byte, p.new_flops_per_s) for p in chosen],
        [p.key.label() for p in chosen],
        taken=taken,
        colors=["#333333"] * len(chosen),
    )
    layout.data_table(
        figure,
        ("configuration", "FLOP/byte", "BASE FLOP/s", "NEW FLOP/s", "NEW/BASE"),
        [
            (
                p.key.label(),
                f"{p.intensity_flops_per_byte:.3g}",
                si(p.base_flops_per_s, "FLOP/s"),
                si(p.new_flops_per_s, "FLOP/s"),
                f"{p.new_flops_per_s / p.base_flops_per_s:.3g}",
            )
            for p in points
        ],
    )
    return figure
