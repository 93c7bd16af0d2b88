"""A comparison as one self-contained HTML page (inline CSS and SVG, no network): both sides' points on one
roofline, the runs side by side, and the result tables. Rendered with jinja2 (autoescaping on) from
``compare.html.j2``; matplotlib draws the roofline and is imported only here, for ``--format html``."""

from __future__ import annotations

import io
import math
from typing import Any

from llmroof.compare import text as fmt
from llmroof.compare.comparison import Comparison, Row
from llmroof.results.html import template_environment
from llmroof.version import __version__

TEMPLATE = "compare.html.j2"


def _table(rows: list[Row]) -> dict[str, Any]:
    return {"columns": list(fmt.COLUMNS),
            "rows": [{"cells": [fmt.cells(r)[c] for c in fmt.COLUMNS], "verdict": r.verdict} for r in rows]}


def _side(info: Any) -> dict[str, Any]:
    roof = info.roofline
    return {"label": info.label, "line": fmt.side_line(info), "files": list(info.files),
            "times": list(info.times_utc),
            "ceilings": [("measured bandwidth", fmt.value("B/s", roof.get("bandwidth_bytes_per_s"))),
                         ("measured compute", fmt.value("FLOP/s", roof.get("peak_flops_per_s")))]}


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
        "differences": [vars(d) for d in comparison.differences],
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
    x the configuration's arithmetic intensity, y its achieved FLOP/s; an arrow from BASE to NEW."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None, "matplotlib is not installed, so there is no roofline figure."
    from markupsafe import Markup

    points = comparison.points
    roofs = [(comparison.base, "#888888", "--"), (comparison.new, "#1f5fbf", "-")]
    if not points or any(not side.roofline.get("peak_flops_per_s") or not side.roofline.get("bandwidth_bytes_per_s")
                         for side, _, _ in roofs):
        return None, "No roofline figure: a side lacks measured ceilings or the configurations lack analytic FLOPs."
    import matplotlib

    matplotlib.rcParams["svg.hashsalt"] = "llmroof"  # stable element ids: the same input gives the same page
    figure = Figure(figsize=(7.5, 4.6))
    axes = figure.add_subplot()
    ridges = [s.roofline["peak_flops_per_s"] / s.roofline["bandwidth_bytes_per_s"] for s, _, _ in roofs]
    x_values = [p.intensity_flops_per_byte for p in points] + ridges
    low, high = min(x_values) / 4, max(x_values) * 4
    xs = [low * (high / low) ** (i / 200) for i in range(201)]
    for (side, color, style), ridge in zip(roofs, ridges):
        peak, bandwidth = side.roofline["peak_flops_per_s"], side.roofline["bandwidth_bytes_per_s"]
        axes.plot(xs, [min(peak, bandwidth * x) for x in xs], style, color=color, linewidth=1.5,
                  label=f"{side.label} roofline (measured ceilings)")
    for point in points:
        x = point.intensity_flops_per_byte
        axes.annotate("", xy=(x, point.new_flops_per_s), xytext=(x, point.base_flops_per_s),
                      arrowprops={"arrowstyle": "->", "color": "#555555", "linewidth": 0.8})
        axes.annotate(point.key.label(), (x, point.new_flops_per_s), textcoords="offset points", xytext=(5, 4),
                      fontsize=7, color="#333333")
    axes.scatter([p.intensity_flops_per_byte for p in points], [p.base_flops_per_s for p in points],
                 facecolors="none", edgecolors="#888888", label="BASE", zorder=3)
    axes.scatter([p.intensity_flops_per_byte for p in points], [p.new_flops_per_s for p in points],
                 color="#1f5fbf", marker="^", label="NEW", zorder=3)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("arithmetic intensity (FLOP/byte)")
    axes.set_ylabel("achieved FLOP/s")
    axes.grid(True, which="major", linewidth=0.4, alpha=0.5)
    axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = buffer.getvalue()
    svg = text[text.index("<svg"):]
    caption = ("Each configuration at its arithmetic intensity (analytic FLOPs / bytes) and achieved FLOP/s "
               "at the median time; arrows go from BASE to NEW.")
    if any(math.isnan(v) for p in points for v in (p.base_flops_per_s, p.new_flops_per_s)):
        caption += " Some points could not be placed."
    return Markup(svg), caption
