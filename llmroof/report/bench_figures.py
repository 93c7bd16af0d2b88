"""The bench section's own figures (latency distributions and the request timeline), drawn with the
plumbing of :mod:`llmroof.report.figures`: matplotlib without pyplot, inline SVG, an alt text each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from llmroof.report.figures import (
    SERIES_COLORS,
    WIDTH_IN,
    _finish_linear,
    _grid,
    _new_figure,
    _style,
    to_svg,
)


class RequestSpan(NamedTuple):
    """One request on the timeline (seconds since the run started)."""

    start_s: float
    first_token_s: float | None
    end_s: float
    level: int
    failed: bool


def distributions(metrics: Sequence[tuple[str, Sequence[tuple[str, Sequence[float]]]]], *, title: str, alt: str,
                  name: str = "bench-latency") -> Any:
    """One panel per latency (TTFT, TPOT, ...), a box per level: median, quartiles, whiskers at p1/p99."""
    metrics = [(label, [(lv, v) for lv, v in levels if v]) for label, levels in metrics]
    metrics = [(label, levels) for label, levels in metrics if levels]
    if not metrics:
        return None
    with _style(name):
        figure = _new_figure(WIDTH_IN, 3.6)
        grid = _grid(figure, 1, len(metrics), top_in=0.55, col_gap_in=0.9, left_in=0.9)
        for index, (label, levels) in enumerate(metrics):
            axes = figure.add_subplot(grid[0, index])
            axes.boxplot([list(v) for _, v in levels], whis=(1, 99), showfliers=False, widths=0.6,
                         medianprops={"color": SERIES_COLORS[1]})
            axes.set_xticks(range(1, len(levels) + 1), [lv for lv, _ in levels], rotation=30, fontsize=7.5)
            axes.set_ylim(bottom=0)
            _finish_linear(axes.yaxis, "s")
            axes.set_title(label, loc="left", fontsize=9.5)
        figure.suptitle(title, x=0.01, ha="left", fontsize=11, fontweight="bold")
        return to_svg(figure, name, alt)


def request_timeline(spans: Sequence[RequestSpan], labels: Sequence[str], *, title: str, alt: str,
                     name: str = "bench-timeline") -> Any:
    """Every request as a line from send to end, waiting for its first token (thin) then decoding (thick),
    in order of sending, coloured by level; failed requests in red."""
    if not spans:
        return None
    ordered = sorted(spans, key=lambda s: s.start_s)
    with _style(name):
        figure = _new_figure(WIDTH_IN, 4.2)
        axes = figure.add_subplot(_grid(figure, 1, 1, top_in=0.45)[0])
        for y, span in enumerate(ordered):
            color = "#c44e52" if span.failed else SERIES_COLORS[span.level % len(SERIES_COLORS)]
            first = span.first_token_s if span.first_token_s is not None else span.end_s
            axes.plot((span.start_s, first), (y, y), color=color, linewidth=0.8, alpha=0.6)
            if span.first_token_s is not None:
                axes.plot((first, span.end_s), (y, y), color=color, linewidth=2.2)
        for index, label in enumerate(labels):
            axes.plot([], [], color=SERIES_COLORS[index % len(SERIES_COLORS)], linewidth=2.2, label=label)
        if any(s.failed for s in spans):
            axes.plot([], [], color="#c44e52", linewidth=2.2, label="failed")
        axes.set_xlabel("time since the run started (s)")
        axes.set_ylabel("request (in order sent)")
        axes.set_ylim(-1, len(ordered))
        axes.set_title(title, loc="left")
        axes.legend(loc="lower right", ncols=min(4, len(labels) + 1))
        return to_svg(figure, name, alt)
