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

from llmroof.results.html import svg_element
from llmroof.units import seconds, si

PHASE_COLORS = {"prefill": "#c65a00", "decode": "#1b5fbf"}
PART_COLORS = {"weights": "#4c72b0", "KV cache": "#dd8452", "activations": "#55a868",
               "measured (NVML)": "#8172b3", "communication": "#c44e52", "pipeline bubble": "#937860",
               "measured": "#8172b3", "analytic": "#9db7e0"}
SERIES_COLORS = ("#1b5fbf", "#c65a00", "#2a9d4b", "#8e44ad", "#b8860b", "#17becf")
CEILING_COLORS = ("#222222", "#777777")
STYLE: dict[str, Any] = {
    "svg.fonttype": "none",          # <text> elements, not glyph paths
    "text.parse_math": False,        # a "$" in a model name is text, not mathtext
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
}


class Ceiling(NamedTuple):
    """One roofline: a bandwidth slope and, where known, a flat compute roof."""

    label: str
    bandwidth_bytes_per_s: float
    peak_flops_per_s: float | None
    dashed: bool = False

    @property
    def ridge_flops_per_byte(self) -> float | None:
        return None if not self.peak_flops_per_s else self.peak_flops_per_s / self.bandwidth_bytes_per_s


class Point(NamedTuple):
    """One op (or a whole step, ``total``) at its arithmetic intensity and FLOP/s."""

    label: str
    phase: str
    intensity_flops_per_byte: float
    flops_per_s: float
    total: bool = False


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
    rc: Any = {**STYLE, "svg.hashsalt": f"llmroof-{name}"}
    with matplotlib.rc_context(rc):
        yield


def _new_figure(width_in: float, height_in: float) -> Any:
    from matplotlib.figure import Figure

    # Margins are set by hand (_grid), in inches: matplotlib's constrained layout would find them itself
    # but doubles the time a figure takes, and the report's figures have known shapes.
    return Figure(figsize=(width_in, height_in))


WIDTH_IN = 9.0
Y_AXIS_IN = 1.05     # tick labels ("12.5 GB/s", "100 GFLOP/s") and the axis label
X_AXIS_IN = 0.6      # tick labels and the axis label
TITLE_IN = 0.35      # one line of title
RIGHT_IN = 0.25


def _grid(figure: Any, rows: int, cols: int, *, left_in: float = Y_AXIS_IN, top_in: float = TITLE_IN,
          bottom_in: float = X_AXIS_IN, row_gap_in: float = 0.0, col_gap_in: float = Y_AXIS_IN,
          height_ratios: Sequence[float] | None = None) -> Any:
    """A grid of axes with margins and gaps in inches (gridspec takes them as fractions)."""
    width, height = figure.get_size_inches()
    inner_w = width - left_in - RIGHT_IN
    inner_h = height - top_in - bottom_in
    axes_w = (inner_w - (cols - 1) * col_gap_in) / cols
    axes_h = (inner_h - (rows - 1) * row_gap_in) / rows
    return figure.add_gridspec(rows, cols, left=left_in / width, right=1 - RIGHT_IN / width,
                               bottom=bottom_in / height, top=1 - top_in / height,
                               wspace=col_gap_in / axes_w if cols > 1 else None,
                               hspace=row_gap_in / axes_h if rows > 1 else None, height_ratios=height_ratios)


def to_svg(figure: Any, name: str, alt: str) -> Any:
    """The figure as ``<svg>`` markup sized by CSS, with ``alt`` as its accessible title."""
    from markupsafe import Markup, escape

    text = svg_element(figure, f"llmroof-{name}")
    head_end = text.index(">")
    head = re.sub(r'\s(width|height)="[^"]*"', "", text[:head_end])
    title_id = f"fig-{name}-title"
    head += f' role="img" aria-labelledby="{title_id}" class="chart"'
    return Markup(f'{head}><title id="{title_id}">{escape(alt)}</title>{text[head_end + 1:]}')


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

def roofline(ceilings: Sequence[Ceiling], points: Sequence[Point], *, title: str, alt: str,
             name: str = "roofline") -> Any:
    """Log-log roofline: each ceiling's slope and roof, its ridge point marked, and one labelled point per
    op (and per whole step) coloured by phase. None when nothing can be placed."""
    placed = [p for p in points if _finite(p.intensity_flops_per_byte, p.flops_per_s)]
    roofs = [c for c in ceilings if _finite(c.bandwidth_bytes_per_s)]
    ridges = [c.ridge_flops_per_byte for c in roofs if c.ridge_flops_per_byte]
    xs = [p.intensity_flops_per_byte for p in placed] + ridges
    if not placed or not roofs:
        return None
    low, high = min(xs) / 4, max(xs) * 4
    intensities = [low * (high / low) ** (i / 160) for i in range(161)]
    with _style(name):
        figure = _new_figure(WIDTH_IN, 5.8)
        grid = _grid(figure, 1, 1)
        axes = figure.add_subplot(grid[0])
        for index, ceiling in enumerate(roofs):
            _draw_ceiling(axes, ceiling, intensities, CEILING_COLORS[index % len(CEILING_COLORS)])
        for phase, color in PHASE_COLORS.items():
            ops = [p for p in placed if p.phase == phase and not p.total]
            steps = [p for p in placed if p.phase == phase and p.total]
            if ops:
                axes.scatter([p.intensity_flops_per_byte for p in ops], [p.flops_per_s for p in ops], s=24,
                             color=color, zorder=3, label=f"{phase}: one op")
            if steps:
                axes.scatter([p.intensity_flops_per_byte for p in steps], [p.flops_per_s for p in steps], s=150,
                             marker="*", color=color, edgecolors="black", linewidths=0.6, zorder=4,
                             label=f"{phase}: whole step")
        axes.set_xscale("log")
        axes.set_yscale("log")
        ys = [p.flops_per_s for p in placed] + [c.peak_flops_per_s or 0 for c in roofs]
        y_low = min(y for y in ys if y > 0) / 5
        y_high = max(ys) * 3
        axes.set_xlim(low, high)
        axes.set_ylim(y_low, y_high)
        _finish_log(axes.xaxis, "", low, high)
        _finish_log(axes.yaxis, "FLOP/s", y_low, y_high)
        axes.set_xlabel("arithmetic intensity (FLOP/byte)")
        axes.set_ylabel("performance (FLOP/s)")
        axes.set_title(title, loc="left")
        axes.legend(loc="upper left")
        _fit_y_axes(figure, grid, [axes])
        ridge_labels = [(c.ridge_flops_per_byte, c.peak_flops_per_s, _ridge_text(c)) for c in roofs
                        if c.ridge_flops_per_byte and c.peak_flops_per_s is not None]
        _label_points(figure, axes, placed, ridge_labels)
        return to_svg(figure, name, alt)


def _draw_ceiling(axes: Any, ceiling: Ceiling, intensities: list[float], color: str) -> None:
    bandwidth, peak = ceiling.bandwidth_bytes_per_s, ceiling.peak_flops_per_s
    ys = [bandwidth * x if not peak else min(peak, bandwidth * x) for x in intensities]
    roof = f", {si(peak, 'FLOP/s')}" if peak else " (no compute peak)"
    axes.plot(intensities, ys, "--" if ceiling.dashed else "-", color=color, linewidth=1.6,
              label=f"{ceiling.label}: {si(bandwidth, 'B/s')}{roof}")
    ridge = ceiling.ridge_flops_per_byte
    if ridge:
        axes.axvline(ridge, linestyle=":", color=color, linewidth=1.0)
        axes.annotate(_ridge_text(ceiling), (ridge, peak), xytext=(4, 5), textcoords="offset points",
                      fontsize=8, color=color)


def _ridge_text(ceiling: Ceiling) -> str:
    return f"ridge {ceiling.ridge_flops_per_byte:.3g} FLOP/B"


def _label_points(figure: Any, axes: Any, points: Sequence[Point], ridges: Sequence[tuple[float, float, str]]) -> None:
    """One label per point; points that coincide share a label. Labels are nudged off each other, the
    points and the ridge labels with a greedy search over a few offsets (display coordinates, text extents
    estimated from the character count)."""
    clusters: dict[tuple[Any, ...], list[Point]] = {}
    for p in points:
        key = (p.phase, p.total, round(math.log10(p.intensity_flops_per_byte) / 0.04),
               round(math.log10(p.flops_per_s) / 0.04))
        clusters.setdefault(key, []).append(p)
    to_display = axes.transData.transform
    scale = figure.dpi / 72
    taken = []
    for p in points:
        x, y = to_display((p.intensity_flops_per_byte, p.flops_per_s))
        radius = (6 if p.total else 3) * scale
        taken.append((x - radius, y - radius, x + radius, y + radius))
    for x_data, y_data, text in ridges:
        x, y = to_display((x_data, y_data))
        taken.append(_text_box(x, y, 4, 5, text, 8, scale))
    for members in sorted(clusters.values(), key=lambda m: (m[0].intensity_flops_per_byte, -m[0].flops_per_s)):
        text = _wrap([m.label for m in members])
        x, y = to_display((members[0].intensity_flops_per_byte, members[0].flops_per_s))
        # The offset whose box overlaps the least (the first free one, in order of distance).
        dx, dy = min(LABEL_OFFSETS, key=lambda o: sum(_overlap_area(_text_box(x, y, o[0], o[1], text, 7, scale), t)
                                                        for t in taken))
        box = _text_box(x, y, dx, dy, text, 7, scale)
        taken.append(box)
        color = PHASE_COLORS.get(members[0].phase, "#333333")
        leader = {"arrowstyle": "-", "color": color, "linewidth": 0.5, "alpha": 0.7, "shrinkA": 0, "shrinkB": 3}
        axes.annotate(text, (members[0].intensity_flops_per_byte, members[0].flops_per_s),
                      xytext=(dx, dy), textcoords="offset points", fontsize=7, color=color,
                      ha="left" if dx > 0 else "right", va="bottom",
                      arrowprops=leader if abs(dy + 4) > 8 else None)  # a leader line once it is off the point


def _text_box(x: float, y: float, dx: float, dy: float, text: str, size: float,
              scale: float) -> tuple[float, float, float, float]:
    """The approximate display box of ``text`` placed at offset (dx, dy) points from (x, y): left-aligned
    for dx > 0, right-aligned otherwise, bottom at the offset."""
    lines = text.split("\n")
    width = max(len(line) for line in lines) * 0.62 * size * scale
    height = len(lines) * 1.25 * size * scale
    left = x + dx * scale if dx > 0 else x + dx * scale - width
    return (left, y + dy * scale, left + width, y + dy * scale + height)


def _overlap_area(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


# Label positions around a point, in points, nearest first: right or left, above or below.
LABEL_OFFSETS: tuple[tuple[int, int], ...] = tuple(sorted(((dx, dy) for dx in (6, -6) for dy in range(-61, 44, 8)),
                             key=lambda o: (abs(o[1] + 4), o[0] < 0)))


def _wrap(names: list[str], per_line: int = 3) -> str:
    return "\n".join(", ".join(names[i:i + per_line]) for i in range(0, len(names), per_line))


# --- bars -----------------------------------------------------------------------------------------

def stacked_bars(panels: Sequence[BarPanel], *, title: str, alt: str, name: str) -> Any:
    """Horizontal stacked bars, one panel per group (each with its own scale); None when empty."""
    panels = [p for p in panels if p.bars]
    if not panels:
        return None
    with _style(name):
        heights = [0.32 * len(p.bars) + 0.3 for p in panels]
        top, bottom, gap = 2 * TITLE_IN, X_AXIS_IN + 0.35, X_AXIS_IN + TITLE_IN  # legend below the last panel
        figure = _new_figure(WIDTH_IN, top + bottom + sum(heights) + gap * (len(panels) - 1))
        grid = _grid(figure, len(panels), 1, top_in=top, bottom_in=bottom, row_gap_in=gap, height_ratios=heights)
        seen: set[str] = set()
        drawn = []
        for index, panel in enumerate(panels):
            drawn.append(figure.add_subplot(grid[index]))
            _draw_bars(drawn[-1], panel, seen)
        _fit_y_axes(figure, grid, drawn)
        _suptitle(figure, title)
        handles = [_patch(part) for part in PART_COLORS if part in seen]
        figure.legend(handles=handles, loc="lower center", ncols=len(handles), frameon=False,
                      bbox_to_anchor=(0.5, 0.0))
        return to_svg(figure, name, alt)


def _draw_bars(axes: Any, panel: BarPanel, seen: set[str]) -> None:
    labels = [bar.label for bar in panel.bars][::-1]
    for row, bar in enumerate(panel.bars[::-1]):
        left = 0.0
        for part, value in bar.parts:
            width = value / panel.scale
            axes.barh(row, width, left=left, color=PART_COLORS.get(part, "#999999"), height=0.6)
            left += width
            seen.add(part)
        axes.annotate(quantity(left * panel.scale, panel.unit) if panel.scale == 1.0 else f"{left:.3g} {panel.unit}",
                      (left, row), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    if panel.limit is not None:
        value, label = panel.limit
        axes.axvline(value / panel.scale, color="#c44e52", linestyle="--", linewidth=1.2)
        axes.annotate(label, (value / panel.scale, 0.0), xycoords=("data", "axes fraction"), xytext=(-3, 3),
                      textcoords="offset points", ha="right", va="bottom", fontsize=8, color="#c44e52",
                      annotation_clip=False)
    axes.set_yticks(range(len(labels)), labels)
    axes.grid(True, axis="x")
    axes.grid(False, axis="y")
    axes.set_xlabel(panel.xlabel)
    axes.set_title(panel.title, loc="left", fontsize=9.5)
    axes.margins(x=0.12)
    _finish_linear(axes.xaxis, panel.unit, panel.scale)


def _suptitle(figure: Any, title: str) -> None:
    figure.suptitle(title, x=0.1 / WIDTH_IN, y=1 - 0.08 / figure.get_size_inches()[1], ha="left", va="top",
                    fontweight="bold", fontsize=11)


def _patch(part: str) -> Any:
    from matplotlib.patches import Patch

    return Patch(color=PART_COLORS[part], label=part)


def category_bars(categories: Sequence[str], panels: Sequence[tuple[str, str, str, Sequence[float | None]]], *,
                  highlight: int | None, title: str, alt: str, name: str) -> Any:
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
            colors = ["#1b5fbf" if i == highlight else "#9db7e0" for i in range(len(categories))]
            axes.bar(range(len(categories)), shown, color=colors)
            for i, value in enumerate(values):
                axes.annotate(quantity(value, unit), (i, shown[i]), xytext=(0, 2),
                              textcoords="offset points", ha="center", va="bottom", fontsize=7.5)
            axes.set_xticks(range(len(categories)), categories, fontsize=8)
            axes.set_title(panel_title, loc="left", fontsize=9.5)
            axes.set_ylabel(ylabel)
            axes.grid(False, axis="x")
            axes.margins(y=0.15)
            _finish_linear(axes.yaxis, unit)
        _fit_y_axes(figure, grid, drawn)
        _suptitle(figure, title)
        return to_svg(figure, name, alt)


def grouped_bars(categories: Sequence[str], series: Sequence[str],
                 panels: Sequence[tuple[str, str, str, Sequence[Sequence[float | None]]]], *, title: str, alt: str,
                 name: str) -> Any:
    """Side-by-side panels of (title, y label, unit, values[series][category]): one group of bars per
    category, one bar per series (measured, analytic)."""
    width = 0.8 / len(series)
    with _style(name):
        figure = _new_figure(WIDTH_IN, 3.8)
        grid = _grid(figure, 1, len(panels), top_in=2 * TITLE_IN, bottom_in=0.75)
        drawn = []
        for index, (panel_title, ylabel, unit, values) in enumerate(panels):
            axes = figure.add_subplot(grid[0, index])
            drawn.append(axes)
            for k, (label, row) in enumerate(zip(series, values)):
                xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(categories))]
                axes.bar(xs, [0.0 if v is None else v for v in row], width=width * 0.95, label=label,
                         color=PART_COLORS.get(label, SERIES_COLORS[k % len(SERIES_COLORS)]))
            axes.set_xticks(range(len(categories)), categories, fontsize=7.5)
            axes.set_title(panel_title, loc="left", fontsize=9.5)
            axes.set_ylabel(ylabel)
            axes.grid(False, axis="x")
            axes.margins(y=0.12)
            _finish_linear(axes.yaxis, unit)
        handles, names = drawn[0].get_legend_handles_labels()
        figure.legend(handles, names, loc="upper right", ncols=len(series), frameon=False,
                      bbox_to_anchor=(1 - RIGHT_IN / WIDTH_IN, 1.0))
        _fit_y_axes(figure, grid, drawn)
        _suptitle(figure, title)
        return to_svg(figure, name, alt)


# --- lines ----------------------------------------------------------------------------------------

def sweep(panels: Sequence[LinePanel], *, xlabel: str, marks: Sequence[tuple[float, str]], title: str, alt: str,
          name: str, batch_axis: bool = True) -> Any:
    """Line panels side by side over one swept axis (log2), with vertical marks (the crossover)."""
    panels = [p for p in panels if any(len(s.xs) for s in p.series)]
    if not panels:
        return None
    with _style(name):
        figure = _new_figure(WIDTH_IN, 4.0)
        grid = _grid(figure, 1, len(panels), top_in=2 * TITLE_IN)
        drawn = []
        for index, panel in enumerate(panels):
            drawn.append(figure.add_subplot(grid[0, index]))
            _draw_lines(drawn[-1], panel, marks, xlabel, batch_axis)
        _fit_y_axes(figure, grid, drawn)
        _suptitle(figure, title)
        return to_svg(figure, name, alt)


def _draw_lines(axes: Any, panel: LinePanel, marks: Sequence[tuple[float, str]], xlabel: str,
                batch_axis: bool) -> None:
    xs_all: list[float] = []
    ys_all: list[float] = []
    for series in panel.series:
        pairs = [(x, y) for x, y in zip(series.xs, series.ys) if _finite(x, y)]
        if not pairs:
            continue
        xs, ys = zip(*pairs)
        xs_all += xs
        ys_all += ys
        color = SERIES_COLORS[series.color % len(SERIES_COLORS)]
        axes.plot(xs, ys, "--" if series.dashed else "-", marker="" if series.dashed else "o", markersize=4,
                  color=color, linewidth=1.4, label=series.label)
    if panel.hline is not None:
        value, label = panel.hline
        axes.axhline(value, color="#c44e52", linestyle="--", linewidth=1.1, label=label)
        ys_all.append(value)
    for value, label in marks:
        axes.axvline(value, color="#2a9d4b", linestyle=":", linewidth=1.4)
        axes.annotate(label, (value, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -3),
                      textcoords="offset points", va="top", fontsize=7.5, color="#1d7a3a", rotation=90)
    axes.set_xscale("log", base=2)
    if batch_axis:
        apart = [v for v, _ in marks if not any(0.75 < v / x < 1.33 for x in xs_all)]  # no colliding ticks
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
    axes.legend(loc="upper left" if panel.log_y else "lower left")


def timeline(times_s: Sequence[float], values: Sequence[float], bands: Sequence[Band], *, ylabel: str, unit: str,
             peak: tuple[float, str] | None, title: str, alt: str, name: str = "nvml") -> Any:
    """A sampled quantity over time with the timed regions as shaded, labelled bands."""
    if not times_s:
        return None
    with _style(name):
        figure = _new_figure(WIDTH_IN, 4.0)
        grid = _grid(figure, 1, 1)
        axes = figure.add_subplot(grid[0])
        for index, band in enumerate(bands):
            axes.axvspan(band.start_s, band.end_s, color=SERIES_COLORS[index % len(SERIES_COLORS)], alpha=0.13,
                         linewidth=0)
            axes.annotate(band.label, (band.start_s, 1.0), xycoords=("data", "axes fraction"), xytext=(2, -3),
                          textcoords="offset points", rotation=90, va="top", fontsize=6.5, color="#444444")
        axes.plot(times_s, values, "-", marker="o", markersize=2.5, linewidth=1.2, color="#1b5fbf",
                  label="NVML sample")
        top = max(values)
        if peak is not None:
            axes.axhline(peak[0], color="#c44e52", linestyle="--", linewidth=1.1, label=peak[1])
            top = max(top, peak[0])
        axes.set_ylim(0, top * 1.12 if top > 0 else 1)
        _finish_linear(axes.yaxis, unit)
        axes.set_xlabel("time since the first sample (s)")
        axes.set_ylabel(ylabel)
        axes.set_title(title, loc="left")
        axes.legend(loc="lower right")
        _fit_y_axes(figure, grid, [axes])
        return to_svg(figure, name, alt)
