"""Layout pieces every llmroof figure shares: a colour-blind-safe palette with a marker and a dash per
series, text placed from matplotlib's own extents (labels that repel each other, a stacked margin column,
an arrow at the edge for a value beyond the axes), hover titles, the figure's data as a folded table, and the
checks the tests run (no two text boxes overlap, no text leaves the figure, no legend over the data).

Everything here works on a matplotlib ``Figure`` (no pyplot). Text extents come from the figure's Agg
renderer: :func:`new_figure` attaches one, so ``figure.canvas.get_renderer()`` measures what is drawn.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

# Okabe & Ito (2008), "Color Universal Design": distinct under the common colour-vision deficiencies.
OKABE_ITO = {
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "green": "#009E73",
    "purple": "#CC79A7",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "yellow": "#F0E442",
    "black": "#000000",
}
PALETTE = tuple(
    OKABE_ITO[k] for k in ("blue", "vermillion", "green", "purple", "orange", "sky", "black")
)
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
DASHES = ("-", "--", "-.", ":")
MUTED = "#555555"
PAD_PX = 2.0
"""Slack around every text box: the browser draws the SVG's text in its own sans-serif, a little wider."""


class SeriesStyle(NamedTuple):
    color: str
    marker: str
    linestyle: str


def style(index: int, *, dashed: bool = False) -> SeriesStyle:
    """Series ``index``: a colour, and a marker and dash of its own so it reads without colour too."""
    return SeriesStyle(
        PALETTE[index % len(PALETTE)],
        MARKERS[index % len(MARKERS)],
        "--" if dashed else DASHES[(index // len(PALETTE)) % len(DASHES)],
    )


# --- figures and their capture --------------------------------------------------------------------

_captured: list[list[tuple[str, Any]]] = []


def new_figure(width_in: float, height_in: float) -> Any:
    """A bare ``Figure`` with an Agg canvas, so text can be measured before it is saved."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_in, height_in))
    FigureCanvasAgg(figure)
    return figure


@contextlib.contextmanager
def capture() -> Iterator[list[tuple[str, Any]]]:
    """Collect (name, figure) of every figure saved while the block runs (the tests measure them)."""
    _captured.append([])
    try:
        yield _captured[-1]
    finally:
        _captured.pop()


def saved(name: str, figure: Any) -> None:
    """Called by the SVG writer for every figure it saves."""
    for found in _captured:
        found.append((name, figure))


def renderer(figure: Any) -> Any:
    if not hasattr(figure.canvas, "get_renderer"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(figure)
    return figure.canvas.get_renderer()


# --- boxes ----------------------------------------------------------------------------------------

Box = tuple[float, float, float, float]
"""(x0, y0, x1, y1) in display pixels."""


def box_of(artist: Any, render: Any, pad: float = PAD_PX) -> Box:
    """The box of a text's own glyphs (an annotation's leader line left out), padded."""
    from matplotlib.text import Annotation, Text

    if isinstance(artist, Annotation):
        artist.update_positions(render)
        b = Text.get_window_extent(artist, render)
    else:
        b = artist.get_window_extent(render)
    return (b.x0 - pad, b.y0 - pad, b.x1 + pad, b.y1 + pad)


def overlap_area(a: Box, b: Box) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def outside_area(a: Box, frame: Box) -> float:
    """The area of ``a`` that lies outside ``frame``."""
    whole = (a[2] - a[0]) * (a[3] - a[1])
    return whole - overlap_area(a, frame)


def texts(figure: Any) -> list[Any]:
    """Every text the figure draws (titles, drawn tick labels, annotations, legend entries), non-empty."""
    from matplotlib.text import Text

    render = renderer(figure)
    figure.draw_without_rendering()
    ticks, drawn = set(), []
    for axes in figure.axes:
        for axis in (axes.xaxis, axes.yaxis):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                ticks |= {id(tick.label1), id(tick.label2)}
            for tick in axis._update_ticks():  # the ticks inside the view, as draw() picks them
                drawn += [label for label in (tick.label1, tick.label2) if label.get_visible()]
    found = [t for t in figure.findobj(Text) if id(t) not in ticks] + drawn
    return [
        t
        for t in found
        if t.get_visible() and t.get_text().strip() and t.get_window_extent(render).width > 0
    ]


def text_overlaps(figure: Any, pad: float = 0.0) -> list[tuple[str, str]]:
    """Pairs of texts whose boxes overlap (by more than a pixel's sliver), named by their text."""
    render = renderer(figure)
    boxes = [(t.get_text(), box_of(t, render, pad)) for t in texts(figure)]
    return [
        (a, b)
        for (a, ba), (b, bb) in itertools.combinations(boxes, 2)
        if overlap_area(ba, bb) > 1.0
    ]


def texts_outside(figure: Any) -> list[str]:
    """Texts that leave the figure (by more than a pixel)."""
    render = renderer(figure)
    width, height = figure.bbox.width, figure.bbox.height
    frame = (-1.0, -1.0, width + 1.0, height + 1.0)
    return [
        t.get_text() for t in texts(figure) if outside_area(box_of(t, render, 0.0), frame) > 0.5
    ]


def legend_hits(figure: Any) -> list[str]:
    """What data a legend box covers: points of a scatter, vertices and segments of a line or bar inside
    any legend's box. Empty when every legend is clear of the data."""
    import numpy as np
    from matplotlib.collections import PathCollection
    from matplotlib.lines import Line2D

    render = renderer(figure)
    figure.draw_without_rendering()
    legends = [
        lg for lg in [*figure.legends, *(a.get_legend() for a in figure.axes)] if lg is not None
    ]
    hits: list[str] = []
    for legend in legends:
        b = legend.get_window_extent(render)
        for axes in figure.axes:
            clip = axes.bbox
            for artist in axes.get_children():
                points = _data_points(artist, np, Line2D, PathCollection)
                if points is None or not len(points):
                    continue
                inside_axes = (
                    (points[:, 0] >= clip.x0)
                    & (points[:, 0] <= clip.x1)
                    & (points[:, 1] >= clip.y0)
                    & (points[:, 1] <= clip.y1)
                )
                inside = (
                    (points[:, 0] > b.x0)
                    & (points[:, 0] < b.x1)
                    & (points[:, 1] > b.y0)
                    & (points[:, 1] < b.y1)
                    & inside_axes
                )
                if inside.any():
                    hits.append(f"{artist.get_label() or type(artist).__name__} under the legend")
    return hits


def _data_points(artist: Any, np: Any, line: Any, collection: Any) -> Any:
    """The artist's data in display pixels, lines sampled densely so a segment that crosses counts."""
    if isinstance(artist, line) and artist.get_visible():
        xy = artist.get_transform().transform(artist.get_xydata())
        if len(xy) > 1:  # 20 points per segment
            t = np.linspace(0.0, 1.0, 20)[:, None]
            xy = np.concatenate([a + t * (b - a) for a, b in itertools.pairwise(xy)])
        return xy[np.isfinite(xy).all(axis=1)]
    if isinstance(artist, collection) and artist.get_visible():
        offsets = artist.get_offsets()
        if len(offsets) == 0:
            return None
        xy = artist.get_offset_transform().transform(offsets)
        return xy[np.isfinite(xy).all(axis=1)]
    return None


# --- placing text ---------------------------------------------------------------------------------

# Offsets around a point, in points, nearest first: beside it, then further out on a leader line.
OFFSETS = tuple(
    sorted(
        {
            (dx, dy)
            for dx in (5, -5, 0, 18, -18, 36, -36, 60, -60)
            for dy in (3, -11, 10, -18, 17, -25, 26, -34, 36, -44, 50, -58, 66, -74)
            if not (dx == 0 and abs(dy) < 17)
        },
        key=lambda o: (abs(o[1]) + abs(o[0]), o[0] < 0, o),
    )
)


def place_labels(
    axes: Any,
    anchors: Sequence[tuple[float, float]],
    labels: Sequence[str],
    *,
    taken: list[Box],
    colors: Sequence[str],
    size: float = 7.0,
) -> list[Any]:
    """Annotate each anchor (data coordinates) with its label at the nearest offset whose box, measured,
    overlaps nothing in ``taken`` and stays inside the axes; a leader line once the label sits off its point.
    A label with no free place is left out (give every point a :func:`hover` title, so none is lost).
    ``taken`` grows with every label placed. Returns the annotations placed."""
    figure = axes.figure
    render = renderer(figure)
    frame = (axes.bbox.x0, axes.bbox.y0, axes.bbox.x1, axes.bbox.y1)
    placed = []
    for (x, y), label, color in zip(anchors, labels, colors):
        note = axes.annotate(
            label,
            (x, y),
            xytext=(0, 0),
            textcoords="offset points",
            fontsize=size,
            color=color,
            va="bottom",
            annotation_clip=False,
        )
        best: tuple[float, tuple[int, int], Box] | None = None
        for dx, dy in OFFSETS:
            note.set_position((dx, dy))
            note.set_horizontalalignment("left" if dx > 0 else "right" if dx < 0 else "center")
            box = box_of(note, render)
            cost = sum(overlap_area(box, t) for t in taken) + 50 * outside_area(box, frame)
            if best is None or cost < best[0]:
                best = (cost, (dx, dy), box)
            if cost == 0:
                break
        assert best is not None
        note.remove()  # made again with its leader line (an annotation takes its arrow when made)
        if best[0] > 0:
            continue
        (dx, dy), box = best[1], best[2]
        ha = "left" if dx > 0 else "right" if dx < 0 else "center"
        leader = {
            "arrowstyle": "-",
            "color": color,
            "linewidth": 0.5,
            "alpha": 0.7,
            "shrinkA": 1,
            "shrinkB": 3,
        }
        note = axes.annotate(
            label,
            (x, y),
            xytext=(dx, dy),
            textcoords="offset points",
            fontsize=size,
            color=color,
            va="bottom",
            ha=ha,
            annotation_clip=False,
            arrowprops=leader if abs(dy) > 12 or dx == 0 else None,
        )
        taken.append(box)
        placed.append(note)
    return placed


def stack_column(
    figure: Any,
    items: Sequence[tuple[float, str, str]],
    *,
    x_px: float,
    low_px: float,
    high_px: float,
    size: float = 7.5,
) -> list[Any]:
    """Texts in one column at ``x_px`` (display pixels, left-aligned), each as near its wanted height
    (``items``: (y pixels, text, colour)) as the ones before allow: none overlap, all within
    [low_px, high_px]. Returns the texts (figure coordinates)."""
    render = renderer(figure)
    width, height = figure.bbox.width, figure.bbox.height
    made = [
        figure.text(x_px / width, 0, text, fontsize=size, color=color, va="center", ha="left")
        for _, text, color in items
    ]
    heights = [box_of(t, render, 1.0)[3] - box_of(t, render, 1.0)[1] for t in made]
    order = sorted(range(len(items)), key=lambda i: items[i][0])
    ys = [0.0] * len(items)
    floor = low_px
    for i in order:  # bottom up, pushing each above the one below
        ys[i] = max(items[i][0], floor + heights[i] / 2)
        floor = ys[i] + heights[i] / 2
    ceiling = high_px
    for i in reversed(order):  # then top down, pulling back under the top
        ys[i] = min(ys[i], ceiling - heights[i] / 2)
        ceiling = ys[i] - heights[i] / 2
    for t, y in zip(made, ys):
        t.set_y(y / height)
    return made


def edge_arrow(axes: Any, value: float, label: str, *, color: str = MUTED) -> Any:
    """Mark an x value that lies beyond the axes at the edge it lies past: the label, with the value, and an
    arrow pointing out of the axes, low on the plot (away from the title)."""
    beyond = value > max(axes.get_xlim())
    return axes.annotate(
        f"{label} →" if beyond else f"← {label}",
        (1.0 if beyond else 0.0, 0.06),
        xycoords="axes fraction",
        xytext=(-20 if beyond else 20, 0),
        textcoords="offset points",
        ha="right" if beyond else "left",
        va="center",
        fontsize=7.5,
        color=color,
        arrowprops={"arrowstyle": "->", "color": color, "linewidth": 0.9},
    )


def hover(artist: Any, text: str) -> None:
    """Give ``artist`` a hover title (an SVG ``<title>``): the writer inserts it into its group."""
    figure = artist.figure
    titles: dict[str, str] = figure.__dict__.setdefault("_llmroof_titles", {})
    gid = f"llmroof-hover-{len(titles)}"
    artist.set_gid(gid)
    titles[gid] = text


def hover_titles(figure: Any) -> dict[str, str]:
    return dict(getattr(figure, "_llmroof_titles", {}))


def data_table(figure: Any, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """The figure's data as a table (its text alternative); the writer folds it under the figure."""
    figure.__dict__["_llmroof_data"] = (
        tuple(columns),
        tuple(tuple(str(c) for c in r) for r in rows),
    )


def table_of(figure: Any) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]] | None:
    return getattr(figure, "_llmroof_data", None)


def data_html(name: str, table: tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]) -> str:
    """``<details>`` holding the table, escaped, for screen readers and for copying."""
    from markupsafe import escape

    columns, rows = table
    head = "".join(f'<th scope="col">{escape(c)}</th>' for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return (
        f'<details class="figure-data" id="fig-{escape(name)}-data"><summary>The data of this figure '
        f'({len(rows)} rows)</summary><div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div></details>"
    )


# --- the roofs ------------------------------------------------------------------------------------


def monotone_levels(
    levels: Sequence[tuple[str, float]], dram_bytes_per_s: float
) -> tuple[list[tuple[str, float]], list[tuple[str, float, str]]]:
    """Split calibrated cache roofs (nearest the core first: L1, L2, ...) into roofs and overhead-bound
    levels. A level is a roof only when it is faster than every level below it (farther from the core, DRAM
    last); one that is not measured the cost per call at its small sizes, not its bandwidth. Returns (roofs,
    [(level, bandwidth, the faster level below it)])."""
    roofs: list[tuple[str, float]] = []
    slow: list[tuple[str, float, str]] = []
    best_name, best = "DRAM", dram_bytes_per_s
    for name, bandwidth in reversed(list(levels)):
        if bandwidth > best:
            roofs.append((name, bandwidth))
            best_name, best = name, bandwidth
        else:
            slow.append((name, bandwidth, best_name))
    return roofs[::-1], slow[::-1]
