"""The report's figures, drawn with matplotlib and returned as inline SVG markup.

matplotlib is imported inside the functions (the report path loads without it until a figure is drawn) and
used without pyplot: a bare ``Figure`` saved as SVG needs no GUI backend. Text stays text in the SVG
(``svg.fonttype: none``): small, selectable, and escaped by matplotlib's XML writer. Every figure carries a
title, axis labels with units, and its alt text as the SVG's ``<title>`` and ``aria-labelledby``.
Figure inputs are plain records (:class:`Ceiling`, :class:`Point`, ...), so the views decide what to show.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from llmroof.report import layout
from llmroof.results.html import svg_element
from llmroof.units import seconds, si

PHASE_COLORS = {"prefill": layout.OKABE_ITO["vermillion"], "decode": layout.OKABE_ITO["blue"]}
PHASE_MARKERS = {"prefill": "s", "decode": "o"}
PART_COLORS = {
    "weights": layout.OKABE_ITO["blue"],
    "KV cache": layout.OKABE_ITO["orange"],
    "activations": layout.OKABE_ITO["green"],
    "measured (NVML)": layout.OKABE_ITO["purple"],
    "communication": layout.OKABE_ITO["vermillion"],
    "pipeline bubble": layout.OKABE_ITO["sky"],
    "measured": layout.OKABE_ITO["purple"],
    "analytic": layout.OKABE_ITO["sky"],
    "attributed": layout.OKABE_ITO["blue"],
    "unattributed": layout.OKABE_ITO["orange"],
    "idle (launch gaps)": layout.OKABE_ITO["sky"],
}
PART_HATCHES = {
    "KV cache": "//",
    "activations": "..",
    "pipeline bubble": "xx",
    "analytic": "//",
    "unattributed": "..",
    "idle (launch gaps)": "xx",
}
"""Each part also told apart by a hatch, so the bars read without colour."""
SERIES_COLORS = layout.PALETTE
CEILING_COLORS = ("#000000", "#777777")
CACHE_COLORS = (layout.OKABE_ITO["green"], layout.OKABE_ITO["purple"], layout.OKABE_ITO["orange"])
CACHE_DASHES = ("-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 1)))
STYLE: dict[str, Any] = {
    "svg.fonttype": "none",  # <text> elements, not glyph paths
    "text.parse_math": False,  # a "$" in a model name is text, not mathtext
    "text.usetex": False,
    "font.family": "sans-serif",
    "font.size": 9.0,
    "axes.titlesize": 11.0,
    "axes.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.linewidth": 0.4,
    "grid.alpha": 0.6,
    "legend.fontsize": 8.0,
    "legend.framealpha": 0.85,
    "hatch.linewidth": 0.5,
}


class Ceiling(NamedTuple):
    """One roofline: a bandwidth slope and, where known, a flat compute roof."""

    label: str
    bandwidth_bytes_per_s: float
    peak_flops_per_s: float | None
    dashed: bool = False

    @property
    def ridge_flops_per_byte(self) -> float | None:
        return (
            None
            if not self.peak_flops_per_s
            else self.peak_flops_per_s / self.bandwidth_bytes_per_s
        )


class Point(NamedTuple):
    """One op (or a whole step, ``total``) at its arithmetic intensity and FLOP/s."""

    label: str
    phase: str
    intensity_flops_per_byte: float
    flops_per_s: float
    total: bool = False
    lost_s: float | None = None
    """Time lost against its roof (measured - roofline), where known: the top ones are labelled."""


class Bar(NamedTuple):
    """One horizontal bar made of named parts (stacked left to right)."""

    label: str
    parts: tuple[tuple[str, float], ...]


class BarPanel(NamedTuple):
    title: str
    xlabel: str
    unit: str
    bars: tuple[Bar, ...]
    limit: tuple[float, str] | None = None
    """A vertical reference line (value, label), e.g. usable memory."""
    scale: float = 1.0
    """Values are divided by this for display (2**30 for GiB)."""


class Series(NamedTuple):
    label: str
    xs: tuple[float, ...]
    ys: tuple[float | None, ...]
    """None: no value at that x (a gap in the line)."""
    dashed: bool = False
    color: int = 0


class LinePanel(NamedTuple):
    title: str
    ylabel: str
    unit: str
    series: tuple[Series, ...]
    hline: tuple[float, str] | None = None
    log_y: bool = True


class Band(NamedTuple):
    start_s: float
    end_s: float
    label: str


# --- plumbing -------------------------------------------------------------------------------------


@contextlib.contextmanager
def _style(name: str) -> Iterator[None]:
    import matplotlib

    # A salt per figure keeps element ids stable (the same input gives the same page) and distinct.
    params: Any = {
        **STYLE,
        "svg.hashsalt": f"llmroof-{name}",
    }  # rc_context types its keys as literals
    with matplotlib.rc_context(params):
        yield


styled = _style
"""The report's matplotlib style for one figure (``with styled("name"): ...``), for figures drawn elsewhere."""


def _new_figure(width_in: float, height_in: float) -> Any:
    # Margins are set by hand (_grid), in inches: matplotlib's constrained layout would find them itself
    # but doubles the time a figure takes, and the report's figures have known shapes.
    return layout.new_figure(width_in, height_in)


WIDTH_IN = 9.0
Y_AXIS_IN = 1.05  # tick labels ("12.5 GB/s", "100 GFLOP/s") and the axis label
X_AXIS_IN = 0.6  # tick labels and the axis label
TITLE_IN = 0.35  # one line of title
RIGHT_IN = 0.25


def _grid(
    figure: Any,
    rows: int,
    cols: int,
    *,
    left_in: float = Y_AXIS_IN,
    top_in: float = TITLE_IN,
    bottom_in: float = X_AXIS_IN,
    row_gap_in: float = 0.0,
    col_gap_in: float = Y_AXIS_IN,
    height_ratios: Sequence[float] | None = None,
) -> Any:
    """A grid of axes with margins and gaps in inches (gridspec takes them as fractions)."""
    width, height = figure.get_size_inches()
    inner_w = width - left_in - RIGHT_IN
    inner_h = height - top_in - bottom_in
    axes_w = (inner_w - (cols - 1) * col_gap_in) / cols
    axes_h = (inner_h - (rows - 1) * row_gap_in) / rows
    return figure.add_gridspec(
        rows,
        cols,
        left=left_in / width,
        right=1 - RIGHT_IN / width,
        bottom=bottom_in / height,
        top=1 - top_in / height,
        wspace=col_gap_in / axes_w if cols > 1 else None,
        hspace=row_gap_in / axes_h if rows > 1 else None,
        height_ratios=height_ratios,
    )


def to_svg(figure: Any, name: str, alt: str) -> Any:
    """The figure as ``<svg>`` markup sized by CSS, with ``alt`` as its accessible title, each hover title
    (:func:`layout.hover`) inside its element, and the figure's data (:func:`layout.data_table`) folded below
    it as a table."""
    from markupsafe import Markup, escape

    layout.saved(name, figure)
    text = svg_element(figure, f"llmroof-{name}")
    for gid, title in layout.hover_titles(figure).items():
        text = text.replace(f'<g id="{gid}">', f'<g id="{gid}"><title>{escape(title)}</title>', 1)
    head_end = text.index(">")
    head = re.sub(r'\s(width|height)="[^"]*"', "", text[:head_end])
    title_id = f"fig-{name}-title"
    head += f' role="img" aria-labelledby="{title_id}" class="chart"'
    table = layout.table_of(figure)
    data = layout.data_html(name, table) if table else ""
    return Markup(
        f'{head}><title id="{title_id}">{escape(alt)}</title>{text[head_end + 1 :]}{data}'
    )


def _fit_y_axes(figure: Any, grid: Any, axes_list: Sequence[Any]) -> None:
    """Widen the left margin, and the gaps between columns, to the widest y tick labels and axis label drawn
    (estimated from their character counts), so none is clipped."""
    width = figure.get_size_inches()[0]
    needs: list[list[float]] = [[] for _ in range(grid.ncols)]
    for axes in axes_list:
        needs[axes.get_subplotspec().colspan.start].append(_y_axis_in(axes))
    left = max(needs[0])
    params = {"left": left / width}
    if grid.ncols > 1:
        gap = max(n for column in needs[1:] for n in column)
        axes_w = (width - left - RIGHT_IN - (grid.ncols - 1) * gap) / grid.ncols
        params["wspace"] = gap / axes_w
    grid.update(**params)
    for axes in axes_list:  # update() repositions only pyplot's figures
        axes.set_position(axes.get_subplotspec().get_position(figure))


def _y_axis_in(axes: Any) -> float:
    """Inches left of the axes that its tick labels and axis label take."""
    low, high = sorted(axes.get_ylim())
    ticks = [v for v in axes.yaxis.get_major_locator()() if low <= v <= high]
    formatter = axes.yaxis.get_major_formatter()
    chars = max((len(str(formatter(v, i))) for i, v in enumerate(ticks)), default=0)
    font = STYLE["font.size"]
    label = 1.5 * font / 72 if axes.get_ylabel() else 0.0
    return 0.15 + chars * 0.62 * font / 72 + label


def _finish_log(axis: Any, unit: str, low: float, high: float) -> None:
    """SI tick labels on a log axis (mathtext is off): 1, 2, 5 per decade over short ranges, else 1."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    decades = math.log10(high / low) if low > 0 and high > low else 1
    subs = (1.0,) if decades > 4 else (1.0, 2.0, 5.0)
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda v, _: quantity(v, unit)))
    axis.set_minor_locator(NullLocator())


log_ticks = _finish_log
"""SI tick labels on a log axis, for figures drawn outside this module."""


def quantity(value: float | None, unit: str, digits: int = 3) -> str:
    """``4.57 ms`` for seconds, SI prefixes for the rest (``3.35 TB/s``), ``56.1%`` for percent."""
    if value is None:
        return "-"
    if unit == "s":
        return seconds(value)
    if unit == "%":
        return f"{value:.{digits}g}%"
    return si(value, unit, digits)


def _finish_linear(axis: Any, unit: str, scale: float = 1.0) -> None:
    from matplotlib.ticker import FuncFormatter

    if scale == 1.0:
        axis.set_major_formatter(FuncFormatter(lambda v, _: quantity(v, unit)))
    else:  # the axis label names the unit (GiB)
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def _power_label(value: float) -> str:
    """``256``, ``2k``, ``128k``: batch sizes and context lengths (k = 1024 tokens)."""
    if value >= 1024 and value % 1024 == 0:
        return f"{value / 1024:g}k"
    return f"{value:g}"


def _batch_axis(axis: Any, values: Sequence[float]) -> None:
    """A log2 axis labelled with the swept values themselves."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ticks = sorted(set(values))
    if len(ticks) > 12:  # every other power of two when crowded
        ticks = ticks[::2]
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda v, _: _power_label(v)))
    axis.set_minor_locator(NullLocator())


def _finite(*values: float | None) -> bool:
    return all(v is not None and math.isfinite(v) and v > 0 for v in values)


# --- the roofline ---------------------------------------------------------------------------------

ROOF_MARGIN_IN = 2.0  # the column of roof labels right of the axes
LABELLED_OPS = 6
"""Ops labelled on the roofline: the ones that lose the most time; every point has a hover title."""
CACHE_LEVEL = re.compile(r"^(L\d|LLC|SLC)\b")


def roofline(
    ceilings: Sequence[Ceiling],
    points: Sequence[Point],
    *,
    title: str,
    alt: str,
    name: str = "roofline",
) -> Any:
    """Log-log roofline: each ceiling's slope and roof, labelled in a column right of the axes (bandwidth,
    compute and ridge point); one point per op (and a star per whole step), coloured and shaped by phase,
    the ops that lose the most time labelled. The axes are set by the points; a ridge far beyond them is an
    arrow at the edge. Cache roofs slower than the level below them are not roofs (see
    :func:`layout.monotone_levels`) and are named in a note. None when nothing can be placed."""
    placed = [p for p in points if _finite(p.intensity_flops_per_byte, p.flops_per_s)]
    roofs, overhead = _split_roofs([c for c in ceilings if _finite(c.bandwidth_bytes_per_s)])
    if not placed or not roofs:
        return None
    low, high, beyond = _roofline_range(placed, roofs)
    intensities = [low * (high / low) ** (i / 160) for i in range(161)]
    notes = _overhead_notes(overhead)
    with _style(name):
        bottom_in = X_AXIS_IN + 0.75 + 0.17 * len(notes)
        figure = _new_figure(WIDTH_IN, 5.4 + bottom_in)
        layout_grid = figure.add_gridspec(
            1,
            1,
            left=Y_AXIS_IN / WIDTH_IN,
            right=1 - ROOF_MARGIN_IN / WIDTH_IN,
            bottom=bottom_in / (5.4 + bottom_in),
            top=1 - TITLE_IN / (5.4 + bottom_in),
        )
        axes = figure.add_subplot(layout_grid[0])
        cache_index = 0
        for index, ceiling in enumerate(roofs):
            if CACHE_LEVEL.match(ceiling.label):
                color, dash = CACHE_COLORS[cache_index % 3], CACHE_DASHES[cache_index % 3]
                cache_index += 1
            else:
                color, dash = CEILING_COLORS[index % 2], "--" if ceiling.dashed else "-"
            _draw_ceiling(axes, ceiling, intensities, color, dash)
        _draw_points(axes, placed)
        axes.set_xscale("log")
        axes.set_yscale("log")
        y_low, y_high = _roofline_y(placed, roofs, low, high)
        axes.set_xlim(low, high)
        axes.set_ylim(y_low, y_high)
        _finish_log(axes.xaxis, "", low, high)
        _finish_log(axes.yaxis, "FLOP/s", y_low, y_high)
        axes.set_xlabel("arithmetic intensity (FLOP/byte)")
        axes.set_ylabel("performance (FLOP/s)")
        axes.set_title(title, loc="left")
        _fit_y_axes(figure, layout_grid, [axes])
        for ridge, label in beyond:
            layout.edge_arrow(axes, ridge, label)
        _roof_column(figure, axes, roofs)
        handles, labels = axes.get_legend_handles_labels()
        _legend_below(figure, axes, handles, labels, ncols=3)
        for i, line in enumerate(notes):
            figure.text(
                0.1 / WIDTH_IN,
                (0.08 + 0.17 * (len(notes) - 1 - i)) / figure.get_size_inches()[1],
                line,
                fontsize=7.5,
                color=layout.MUTED,
                ha="left",
                va="bottom",
            )
        _label_points(figure, axes, placed)
        layout.data_table(
            figure,
            ("what", "phase", "FLOP/byte", "FLOP/s", "note"),
            _roofline_rows(roofs, placed, overhead),
        )
        return to_svg(figure, name, alt)


def _split_roofs(ceilings: Sequence[Ceiling]) -> tuple[list[Ceiling], list[tuple[str, float, str]]]:
    """(the ceilings drawn as roofs, the cache levels that are overhead-bound): cache roofs ("L1 ...") are
    checked against each other and the first (DRAM) ceiling with :func:`layout.monotone_levels`."""
    caches = [c for c in ceilings if CACHE_LEVEL.match(c.label)]
    if not caches or len(caches) == len(ceilings):
        return list(ceilings), []
    dram = next(c for c in ceilings if not CACHE_LEVEL.match(c.label))
    level = {c.label: CACHE_LEVEL.match(c.label).group(1) for c in caches}  # type: ignore[union-attr]
    kept, slow = layout.monotone_levels(
        [(c.label, c.bandwidth_bytes_per_s) for c in caches], dram.bandwidth_bytes_per_s
    )
    keep = {label for label, _ in kept}
    return (
        [c for c in ceilings if not CACHE_LEVEL.match(c.label) or c.label in keep],
        [(level[lab], bw, level.get(below, below)) for lab, bw, below in slow],
    )


def _overhead_notes(overhead: Sequence[tuple[str, float, str]]) -> list[str]:
    return [
        f"{level} measured {si(bw, 'B/s')}, below {below}: overhead-bound at its sizes (the cost per call, "
        f"not the bandwidth), so not drawn as a roof."
        for level, bw, below in overhead
    ]


def _roofline_range(
    placed: Sequence[Point], roofs: Sequence[Ceiling]
) -> tuple[float, float, list[tuple[float, str]]]:
    """(low, high) intensity set by the points, widened to a ridge within a factor 8; the ridges beyond, each
    with the label its edge arrow carries."""
    xs = [p.intensity_flops_per_byte for p in placed]
    low, high = min(xs) / 4, max(xs) * 4
    beyond = []
    for ridge in sorted({c.ridge_flops_per_byte for c in roofs if c.ridge_flops_per_byte}):
        if high < ridge <= high * 8:
            high = ridge * 2
        elif low / 8 <= ridge < low:
            low = ridge / 2
    for c in roofs:
        far = c.ridge_flops_per_byte
        if far and not low <= far <= high:
            beyond.append((far, f"{c.label.split(' ')[0]} ridge {far:.3g} FLOP/B"))
    merged: dict[str, tuple[float, str]] = {}
    for (
        ridge,
        label,
    ) in beyond:  # one arrow per side of the axes: their labels would stack on each other
        side = "high" if ridge > high else "low"
        if side in merged:
            merged[side] = (merged[side][0], f"{merged[side][1]}; {label.split(' ', 1)[1]}")
        else:
            merged[side] = (ridge, label)
    return low, high, list(merged.values())


def _roofline_y(
    placed: Sequence[Point], roofs: Sequence[Ceiling], low: float, high: float
) -> tuple[float, float]:
    attainable = [
        c.bandwidth_bytes_per_s * high
        if not c.peak_flops_per_s
        else min(c.peak_flops_per_s, c.bandwidth_bytes_per_s * high)
        for c in roofs
    ]
    ys = [p.flops_per_s for p in placed]
    bottom = min(ys + [c.bandwidth_bytes_per_s * low for c in roofs[:1]])
    return bottom / 3, max(ys + attainable) * 2.5


def _draw_ceiling(
    axes: Any, ceiling: Ceiling, intensities: list[float], color: str, dash: Any
) -> None:
    bandwidth, peak = ceiling.bandwidth_bytes_per_s, ceiling.peak_flops_per_s
    ys = [bandwidth * x if not peak else min(peak, bandwidth * x) for x in intensities]
    line = axes.plot(
        intensities, ys, linestyle=dash, color=color, linewidth=1.6, label=ceiling.label
    )[0]
    line.set_gid(None)
    ridge = ceiling.ridge_flops_per_byte
    low, high = intensities[0], intensities[-1]
    if ridge and low <= ridge <= high:
        marker = axes.plot(
            [ridge], [peak], marker="|", markersize=10, color=color, linestyle="none"
        )[0]
        layout.hover(marker, f"{ceiling.label}: ridge {ridge:.3g} FLOP/byte")


def _roof_column(figure: Any, axes: Any, roofs: Sequence[Ceiling]) -> None:
    """Each roof's label right of the axes, at the height its line leaves them, stacked without overlap."""
    high = axes.get_xlim()[1]
    y_low, y_high = axes.get_ylim()
    items = []
    cache_index = 0
    for index, c in enumerate(roofs):
        end = (
            c.bandwidth_bytes_per_s * high
            if not c.peak_flops_per_s
            else min(c.peak_flops_per_s, c.bandwidth_bytes_per_s * high)
        )
        end = min(max(end, y_low), y_high)
        y = axes.transData.transform((high, end))[1]
        if CACHE_LEVEL.match(c.label):
            color = CACHE_COLORS[cache_index % 3]
            cache_index += 1
        else:
            color = CEILING_COLORS[index % 2]
        roof = (
            f", {si(c.peak_flops_per_s, 'FLOP/s')}" if c.peak_flops_per_s else " (no compute peak)"
        )
        ridge = f"\nridge {c.ridge_flops_per_byte:.3g} FLOP/B" if c.ridge_flops_per_byte else ""
        items.append(
            (y, f"{_short(c.label, 34)}\n{si(c.bandwidth_bytes_per_s, 'B/s')}{roof}{ridge}", color)
        )
    box = axes.bbox
    layout.stack_column(figure, items, x_px=box.x1 + 6, low_px=box.y0, high_px=box.y1, size=7)


def _short(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def _draw_points(axes: Any, placed: Sequence[Point]) -> None:
    """Each point its own artist (its hover title); one legend entry per phase and kind."""
    seen: set[tuple[str, bool]] = set()
    for p in placed:
        color = PHASE_COLORS.get(p.phase, "#333333")
        key = (p.phase, p.total)
        label = (
            (f"{p.phase}: whole step" if p.total else f"{p.phase}: one op")
            if key not in seen
            else None
        )
        seen.add(key)
        if p.total:
            artist = axes.scatter(
                [p.intensity_flops_per_byte],
                [p.flops_per_s],
                s=150,
                marker="*",
                color=color,
                edgecolors="black",
                linewidths=0.6,
                zorder=4,
                label=label,
            )
        else:
            artist = axes.scatter(
                [p.intensity_flops_per_byte],
                [p.flops_per_s],
                s=24,
                zorder=3,
                label=label,
                marker=PHASE_MARKERS.get(p.phase, "o"),
                color=color,
            )
        layout.hover(
            artist,
            f"{p.label} ({p.phase}{', whole step' if p.total else ''}): "
            f"{p.intensity_flops_per_byte:.3g} FLOP/byte, {si(p.flops_per_s, 'FLOP/s')}"
            + (f", {seconds(p.lost_s)} lost against its roof" if p.lost_s else ""),
        )


def _label_points(figure: Any, axes: Any, points: Sequence[Point]) -> None:
    """Label every whole step and the ops that lose the most time (coinciding points share a label),
    placed by :func:`layout.place_labels` off the points, the other labels and the axes' edges."""
    to_display = axes.transData.transform
    render = layout.renderer(figure)
    taken = [layout.box_of(axes.title, render)]
    for p in points:
        x, y = to_display((p.intensity_flops_per_byte, p.flops_per_s))
        r = 7.0 if p.total else 3.5
        taken.append((x - r, y - r, x + r, y + r))
    chosen = [p for p in points if p.total] + sorted(
        (p for p in points if not p.total), key=_loss, reverse=True
    )[:LABELLED_OPS]
    clusters: dict[tuple[Any, ...], list[Point]] = {}
    for p in chosen:
        key = (
            p.phase,
            p.total,
            round(math.log10(p.intensity_flops_per_byte) / 0.04),
            round(math.log10(p.flops_per_s) / 0.04),
        )
        clusters.setdefault(key, []).append(p)
    groups = sorted(clusters.values(), key=lambda m: (not m[0].total, -_loss(m[0])))
    layout.place_labels(
        axes,
        [(m[0].intensity_flops_per_byte, m[0].flops_per_s) for m in groups],
        [_wrap([m.label for m in members]) for members in groups],
        taken=taken,
        colors=[PHASE_COLORS.get(m[0].phase, "#333333") for m in groups],
    )


def _loss(p: Point) -> float:
    """The time a point loses against its roof, or (without one) how far below the roof it sits."""
    return (
        p.lost_s
        if p.lost_s is not None
        else 1.0 / max(p.flops_per_s, 1e-30) * p.intensity_flops_per_byte
    )


def _roofline_rows(
    roofs: Sequence[Ceiling], points: Sequence[Point], overhead: Sequence[tuple[str, float, str]]
) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [
        (
            c.label,
            "",
            f"{c.ridge_flops_per_byte:.3g}" if c.ridge_flops_per_byte else "-",
            si(c.peak_flops_per_s, "FLOP/s") if c.peak_flops_per_s else "-",
            f"roof: {si(c.bandwidth_bytes_per_s, 'B/s')}, ridge point in FLOP/byte",
        )
        for c in roofs
    ]
    rows += [
        (
            f"{level} cache",
            "",
            "-",
            "-",
            f"{si(bw, 'B/s')}, below {below}: overhead-bound, not a roof",
        )
        for level, bw, below in overhead
    ]
    rows += [
        (
            p.label,
            p.phase,
            f"{p.intensity_flops_per_byte:.3g}",
            si(p.flops_per_s, "FLOP/s"),
            "whole step" if p.total else (f"{seconds(p.lost_s)} lost" if p.lost_s else "op"),
        )
        for p in points
    ]
    return rows


def _legend_below(
    figure: Any,
    axes: Any,
    handles: Sequence[Any],
    labels: Sequence[str],
    ncols: int,
    across: Sequence[Any] = (),
) -> Any:
    """A legend under the axes' x label (centred under ``across`` when given), outside the data."""
    if not handles:
        return None
    height = figure.get_size_inches()[1]
    spread = list(across) or [axes]
    left, right = spread[0].get_position().x0, spread[-1].get_position().x1
    top = axes.get_position().y0 - (X_AXIS_IN - 0.05) / height
    return figure.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=((left + right) / 2, top),
        ncols=min(ncols, len(handles)),
        frameon=False,
        fontsize=7.5,
    )


def _wrap(names: list[str], per_line: int = 3) -> str:
    return "\n".join(", ".join(names[i : i + per_line]) for i in range(0, len(names), per_line))


# --- bars -----------------------------------------------------------------------------------------


def stacked_bars(panels: Sequence[BarPanel], *, title: str, alt: str, name: str) -> Any:
    """Horizontal stacked bars, one panel per group (each with its own scale); None when empty."""
    panels = [p for p in panels if p.bars]
    if not panels:
        return None
    with _style(name):
        heights = [0.32 * len(p.bars) + 0.3 for p in panels]
        top, bottom, gap = (
            2 * TITLE_IN,
            X_AXIS_IN + 0.35,
            X_AXIS_IN + TITLE_IN,
        )  # legend below the last panel
        figure = _new_figure(WIDTH_IN, top + bottom + sum(heights) + gap * (len(panels) - 1))
        grid = _grid(
            figure,
            len(panels),
            1,
            top_in=top,
            bottom_in=bottom,
            row_gap_in=gap,
            height_ratios=heights,
        )
        seen: set[str] = set()
        drawn = []
        for index, panel in enumerate(panels):
            drawn.append(figure.add_subplot(grid[index]))
            _draw_bars(drawn[-1], panel, seen)
        _fit_y_axes(figure, grid, drawn)
        _suptitle(figure, title)
        handles = [_patch(part) for part in PART_COLORS if part in seen]
        figure.legend(
            handles=handles,
            loc="lower center",
            ncols=len(handles),
            frameon=False,
            bbox_to_anchor=(0.5, 0.0),
        )
        layout.data_table(
            figure,
            ("panel", "bar", *sorted(seen), "total"),
            [
                (
                    p.title,
                    b.label,
                    *(_bar_value(dict(b.parts).get(k), p) for k in sorted(seen)),
                    _bar_value(sum(v for _, v in b.parts), p),
                )
                for p in panels
                for b in p.bars
            ],
        )
        return to_svg(figure, name, alt)


def _bar_value(value: float | None, panel: BarPanel) -> str:
    if value is None:
        return "-"
    return (
        quantity(value, panel.unit)
        if panel.scale == 1.0
        else f"{value / panel.scale:.3g} {panel.unit}"
    )


def _draw_bars(axes: Any, panel: BarPanel, seen: set[str]) -> None:
    labels = [bar.label for bar in panel.bars][::-1]
    for row, bar in enumerate(panel.bars[::-1]):
        left = 0.0
        for part, value in bar.parts:
            width = value / panel.scale
            axes.barh(
                row,
                width,
                left=left,
                color=PART_COLORS.get(part, "#999999"),
                height=0.6,
                hatch=PART_HATCHES.get(part),
                edgecolor="white",
                linewidth=0.4,
            )
            left += width
            seen.add(part)
        axes.annotate(
            quantity(left * panel.scale, panel.unit)
            if panel.scale == 1.0
            else f"{left:.3g} {panel.unit}",
            (left, row),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    if panel.limit is not None:
        value, label = panel.limit
        axes.axvline(value / panel.scale, color="#c44e52", linestyle="--", linewidth=1.2)
        axes.annotate(
            label,
            (value / panel.scale, 0.0),
            xycoords=("data", "axes fraction"),
            xytext=(-3, 3),
            textcoords="offset points",
            ha="right",
            va="bottom",
            fontsize=8,
            color="#c44e52",
            annotation_clip=False,
        )
    axes.set_yticks(range(len(labels)), labels)
    axes.grid(True, axis="x")
    axes.grid(False, axis="y")
    axes.set_xlabel(panel.xlabel)
    axes.set_title(panel.title, loc="left", fontsize=9.5)
    axes.margins(x=0.12)
    _finish_linear(axes.xaxis, panel.unit, panel.scale)


def _suptitle(figure: Any, title: str) -> None:
    figure.suptitle(
        title,
        x=0.1 / WIDTH_IN,
        y=1 - 0.08 / figure.get_size_inches()[1],
        ha="left",
        va="top",
        fontweight="bold",
        fontsize=11,
    )


def _patch(part: str) -> Any:
    from matplotlib.patches import Patch

    return Patch(
        facecolor=PART_COLORS[part], hatch=PART_HATCHES.get(part), edgecolor="white", label=part
    )


def category_bars(
    categories: Sequence[str],
    panels: Sequence[tuple[str, str, str, Sequence[float | None]]],
    *,
    highlight: int | None,
    title: str,
    alt: str,
    name: str,
) -> Any:
    """Vertical bars of the same categories in side-by-side panels of (title, y label, unit, values); the
    ``highlight`` category drawn darker."""
    with _style(name):
        figure = _new_figure(WIDTH_IN, 3.6)
        grid = _grid(figure, 1, len(panels), top_in=2 * TITLE_IN, bottom_in=0.5)
        drawn = []
        for index, (panel_title, ylabel, unit, values) in enumerate(panels):
            axes = figure.add_subplot(grid[0, index])
            drawn.append(axes)
            shown = [0.0 if v is None else v for v in values]
            colors = [
                layout.OKABE_ITO["blue"] if i == highlight else layout.OKABE_ITO["sky"]
                for i in range(len(categories))
            ]
            axes.bar(
                range(len(categories)),
                shown,
                color=colors,
                hatch=[None if i == highlight else "//" for i in range(len(categories))],
                edgecolor="white",
            )
            for i, value in enumerate(values):
                axes.annotate(
                    quantity(value, unit),
                    (i, shown[i]),
                    xytext=(0, 2),
                    textcoords="offset points",
                    ha="center",
                    va="bottom",
                    fontsize=7.5,
                )
            axes.set_xticks(range(len(categories)), categories, fontsize=8)
            axes.set_title(panel_title, loc="left", fontsize=9.5)
            axes.set_ylabel(ylabel)
            axes.grid(False, axis="x")
            axes.margins(y=0.15)
            _finish_linear(axes.yaxis, unit)
        _fit_y_axes(figure, grid, drawn)
        _suptitle(figure, title)
        layout.data_table(
            figure,
            ("", *(p[0] for p in panels)),
            [
                (c.replace("\n", " "), *(quantity(p[3][i], p[2]) for p in panels))
                for i, c in enumerate(categories)
            ],
        )
        return to_svg(figure, name, alt)


def grouped_bars(
    categories: Sequence[str],
    series: Sequence[str],
    panels: Sequence[tuple[str, str, str, Sequence[Sequence[float | None]]]],
    *,
    title: str,
    alt: str,
    name: str,
) -> Any:
    """Side-by-side panels of (title, y label, unit, values[series][category]): one group of bars per
    category, one bar per series (measured, analytic)."""
    width = 0.8 / len(series)
    with _style(name):
        figure = _new_figure(WIDTH_IN, 4.1)
        grid = _grid(figure, 1, len(panels), top_in=2 * TITLE_IN, bottom_in=1.0)
        drawn = []
        for index, (panel_title, ylabel, unit, values) in enumerate(panels):
            axes = figure.add_subplot(grid[0, index])
            drawn.append(axes)
            for k, (label, row) in enumerate(zip(series, values)):
                xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(categories))]
                axes.bar(
                    xs,
                    [0.0 if v is None else v for v in row],
                    width=width * 0.95,
                    label=label,
                    color=PART_COLORS.get(label, SERIES_COLORS[k % len(SERIES_COLORS)]),
                    hatch=PART_HATCHES.get(label),
                    edgecolor="white",
                )
            axes.set_xticks(range(len(categories)), categories, fontsize=7.5)
            axes.set_title(panel_title, loc="left", fontsize=9.5)
            axes.set_ylabel(ylabel)
            axes.grid(False, axis="x")
            axes.margins(y=0.12)
            _finish_linear(axes.yaxis, unit)
        _fit_y_axes(figure, grid, drawn)
        handles, names = drawn[0].get_legend_handles_labels()
        figure.legend(
            handles,
            names,
            loc="lower center",
            ncols=len(series),
            frameon=False,
            bbox_to_anchor=(0.5, 0.0),
        )
        _suptitle(figure, title)
        layout.data_table(
            figure,
            ("", *(f"{p[0]}: {s}" for p in panels for s in series)),
            [
                (c, *(quantity(p[3][k][i], p[2]) for p in panels for k in range(len(series))))
                for i, c in enumerate(categories)
            ],
        )
        return to_svg(figure, name, alt)


# --- lines ----------------------------------------------------------------------------------------


def sweep(
    panels: Sequence[LinePanel],
    *,
    xlabel: str,
    marks: Sequence[tuple[float, str]],
    title: str,
    alt: str,
    name: str,
    batch_axis: bool = True,
) -> Any:
    """Line panels side by side over one swept axis (log2), with vertical marks (the crossover). Where a
    panel has measured (solid) series, they set the x range; a mark beyond it is an arrow at the edge with
    its value. One legend for all panels, below them."""
    panels = [p for p in panels if any(len(s.xs) for s in p.series)]
    if not panels:
        return None
    with _style(name):
        entries = _legend_entries(panels, marks)
        rows = math.ceil(len(entries) / 2)
        bottom = X_AXIS_IN + 0.1 + 0.2 * rows
        figure = _new_figure(WIDTH_IN, 3.4 + bottom)
        grid = _grid(figure, 1, len(panels), top_in=2 * TITLE_IN, bottom_in=bottom)
        drawn = []
        for index, panel in enumerate(panels):
            drawn.append(figure.add_subplot(grid[0, index]))
            _draw_lines(drawn[-1], panel, marks, xlabel, batch_axis)
        _fit_y_axes(figure, grid, drawn)
        for axes in drawn:
            for value, label in getattr(axes, "_llmroof_beyond", ()):
                layout.edge_arrow(axes, value, _short(label, 34))
        _suptitle(figure, title)
        handles: dict[str, Any] = {}
        for axes in drawn:
            for handle, label in zip(*axes.get_legend_handles_labels()):
                handles.setdefault(label, handle)
        _legend_below(
            figure, drawn[0], list(handles.values()), list(handles), ncols=2, across=drawn
        )
        layout.data_table(
            figure,
            (xlabel, *(f"{p.title}: {s.label}" for p in panels for s in p.series)),
            _sweep_rows(panels),
        )
        return to_svg(figure, name, alt)


def _legend_entries(panels: Sequence[LinePanel], marks: Sequence[tuple[float, str]]) -> set[str]:
    labels = {s.label for p in panels for s in p.series} | {label for _, label in marks}
    return labels | {p.hline[1] for p in panels if p.hline is not None}


def _sweep_rows(panels: Sequence[LinePanel]) -> list[tuple[str, ...]]:
    xs = sorted({x for p in panels for s in p.series for x in s.xs if x is not None})
    rows = []
    for x in xs:
        row = [_power_label(x)]
        for p in panels:
            for s in p.series:
                value = dict(zip(s.xs, s.ys)).get(x)
                row.append("-" if value is None else quantity(value, p.unit))
        rows.append(tuple(row))
    return rows


def _draw_lines(
    axes: Any, panel: LinePanel, marks: Sequence[tuple[float, str]], xlabel: str, batch_axis: bool
) -> None:
    # The solid (measured) series set the range; a panel of dashed (analytic) curves alone, all of them.
    solid = [x for s in panel.series if not s.dashed for x, y in zip(s.xs, s.ys) if _finite(x, y)]
    shown = solid or [x for s in panel.series for x, y in zip(s.xs, s.ys) if _finite(x, y)] or [1.0]
    x_low, x_high = min(shown) / 1.3, max(shown) * 1.3
    xs_all: list[float] = []
    ys_all: list[float] = []
    for series in panel.series:
        pairs = [
            (x, y) for x, y in zip(series.xs, series.ys) if _finite(x, y) and x_low <= x <= x_high
        ]
        if not pairs:
            continue
        xs, ys = zip(*pairs)
        xs_all += xs
        ys_all += ys
        look = layout.style(series.color, dashed=series.dashed)
        axes.plot(
            xs,
            ys,
            linestyle=look.linestyle,
            marker=look.marker,
            markersize=4 if not series.dashed else 3,
            color=look.color,
            linewidth=1.4,
            label=series.label,
            markerfacecolor="white" if series.dashed else look.color,
        )
    if panel.hline is not None:
        value, label = panel.hline
        axes.axhline(
            value,
            color=layout.OKABE_ITO["vermillion"],
            linestyle=(0, (6, 2)),
            linewidth=1.1,
            label=label,
        )
        ys_all.append(value)
    beyond = []
    for k, (value, label) in enumerate(marks):
        if x_low <= value <= x_high:
            axes.axvline(
                value,
                color=layout.PALETTE[(k + 2) % len(layout.PALETTE)],
                linestyle=":",
                linewidth=1.6,
                label=label,
            )
        else:
            beyond.append((value, label))
    axes.__dict__["_llmroof_beyond"] = beyond
    axes.set_xscale("log", base=2)
    axes.set_xlim(x_low, x_high)
    if batch_axis:
        apart = [
            v
            for v, _ in marks
            if x_low <= v <= x_high and not any(0.75 < v / x < 1.33 for x in xs_all)
        ]
        _batch_axis(axes.xaxis, xs_all + apart)
    if ys_all and panel.log_y:
        axes.set_yscale("log")
        low, high = min(ys_all) / 1.6, max(ys_all) * 1.6
        axes.set_ylim(low, high)
        _finish_log(axes.yaxis, panel.unit, low, high)
    else:
        axes.set_ylim(bottom=0, top=max(ys_all) * 1.15 if ys_all else 1)
        _finish_linear(axes.yaxis, panel.unit)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(panel.ylabel)
    axes.set_title(panel.title, loc="left", fontsize=9.5)


def timeline(
    times_s: Sequence[float],
    values: Sequence[float],
    bands: Sequence[Band],
    *,
    ylabel: str,
    unit: str,
    peak: tuple[float, str] | None,
    title: str,
    alt: str,
    name: str = "nvml",
) -> Any:
    """A sampled quantity over time with the timed regions as shaded bands, each labelled where its label
    fits (else in its hover title and the data table); the legend below the axes."""
    if not times_s:
        return None
    with _style(name):
        figure = _new_figure(WIDTH_IN, 4.4)
        grid = _grid(figure, 1, 1, bottom_in=X_AXIS_IN + 0.35)
        axes = figure.add_subplot(grid[0])
        spans = []
        for index, band in enumerate(bands):
            span = axes.axvspan(
                band.start_s,
                band.end_s,
                color=SERIES_COLORS[index % len(SERIES_COLORS)],
                alpha=0.13,
                linewidth=0,
            )
            layout.hover(span, f"{band.label}: {band.start_s:.3g} s to {band.end_s:.3g} s")
            spans.append(span)
        look = layout.style(0)
        axes.plot(
            times_s,
            values,
            "-",
            marker=look.marker,
            markersize=2.5,
            linewidth=1.2,
            color=look.color,
            label="NVML sample",
        )
        top = max(values)
        if peak is not None:
            axes.axhline(
                peak[0],
                color=layout.OKABE_ITO["vermillion"],
                linestyle="--",
                linewidth=1.1,
                label=peak[1],
            )
            top = max(top, peak[0])
        axes.set_ylim(0, top * 1.12 if top > 0 else 1)
        _finish_linear(axes.yaxis, unit)
        axes.set_xlabel("time since the first sample (s)")
        axes.set_ylabel(ylabel)
        axes.set_title(title, loc="left")
        _fit_y_axes(figure, grid, [axes])
        _band_labels(axes, bands)
        handles, labels = axes.get_legend_handles_labels()
        _legend_below(figure, axes, handles, labels, ncols=2)
        layout.data_table(
            figure,
            ("time (s)", ylabel),
            [(f"{t:.3g}", quantity(v, unit)) for t, v in zip(times_s, values)]
            + [(f"{b.start_s:.3g} to {b.end_s:.3g}", b.label) for b in bands],
        )
        return to_svg(figure, name, alt)


def _band_labels(axes: Any, bands: Sequence[Band]) -> None:
    """Each band's label, rotated at its left edge, kept only where it overlaps no label before it."""
    render = layout.renderer(axes.figure)
    taken: list[layout.Box] = [layout.box_of(axes.title, render)]
    for band in bands:
        note = axes.annotate(
            band.label,
            (band.start_s, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, -3),
            textcoords="offset points",
            rotation=90,
            va="top",
            fontsize=6.5,
            color="#444444",
        )
        box = layout.box_of(note, render)
        if any(layout.overlap_area(box, t) > 0 for t in taken):
            note.remove()
        else:
            taken.append(box)
