"""The bench section's own figures (latency distributions and the request timeline), drawn with the
plumbing of :mod:`llmroof.report.figures`: matplotlib without pyplot, inline SVG, an alt text each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from llmroof.report import layout
from llmroof.report.figures import (
    SERIES_COLORS,
    WIDTH_IN,
    _finish_linear,
    _grid,
    _new_figure,
    _style,
    to_svg,
)
from llmroof.units import seconds


class RequestSpan(NamedTuple):
    """One request on the timeline (seconds since the run started)."""

    start_s: float
    first_token_s: float | None
    end_s: float
    level: int
    failed: bool


def distributions(
    metrics: Sequence[tuple[str, Sequence[tuple[str, Sequence[float]]]]],
    *,
    title: str,
    alt: str,
    name: str = "bench-latency",
) -> Any:
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
            axes.boxplot(
                [list(v) for _, v in levels],
                whis=(1, 99),
                showfliers=False,
                widths=0.6,
                medianprops={"color": SERIES_COLORS[1]},
            )
            axes.set_xticks(
                range(1, len(levels) + 1), [lv for lv, _ in levels], rotation=30, fontsize=7.5
            )
            axes.set_ylim(bottom=0)
            _finish_linear(axes.yaxis, "s")
            axes.set_title(label, loc="left", fontsize=9.5)
        figure.suptitle(title, x=0.01, ha="left", fontsize=11, fontweight="bold")
        layout.data_table(
            figure,
            ("latency", "level", "requests", "p1", "p25", "median", "p75", "p99"),
            [
                (
                    label,
                    lv,
                    str(len(v)),
                    *(seconds(_quantile(v, q)) for q in (0.01, 0.25, 0.5, 0.75, 0.99)),
                )
                for label, levels in metrics
                for lv, v in levels
            ],
        )
        return to_svg(figure, name, alt)


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def request_timeline(
    spans: Sequence[RequestSpan],
    labels: Sequence[str],
    *,
    title: str,
    alt: str,
    name: str = "bench-timeline",
) -> Any:
    """Every request as a line from send to end, waiting for its first token (thin) then decoding (thick),
    in order of sending, coloured by level; failed requests in red."""
    if not spans:
        return None
    ordered = sorted(spans, key=lambda s: s.start_s)
    with _style(name):
        figure = _new_figure(WIDTH_IN, 4.6)
        axes = figure.add_subplot(_grid(figure, 1, 1, top_in=0.45, bottom_in=1.0)[0])
        failed = "#000000"
        for y, span in enumerate(ordered):
            color = failed if span.failed else SERIES_COLORS[span.level % len(SERIES_COLORS)]
            first = span.first_token_s if span.first_token_s is not None else span.end_s
            axes.plot(
                (span.start_s, first),
                (y, y),
                color=color,
                linewidth=0.8,
                alpha=0.6,
                linestyle=":" if span.failed else "-",
            )
            if span.first_token_s is not None:
                axes.plot(
                    (first, span.end_s),
                    (y, y),
                    color=color,
                    linewidth=2.2,
                    linestyle=layout.DASHES[span.level % 2],
                )
        for index, label in enumerate(labels):
            axes.plot(
                [],
                [],
                color=SERIES_COLORS[index % len(SERIES_COLORS)],
                linewidth=2.2,
                label=label,
                linestyle=layout.DASHES[index % 2],
            )
        if any(s.failed for s in spans):
            axes.plot([], [], color=failed, linewidth=1.2, linestyle=":", label="failed")
        axes.set_xlabel("time since the run started (s)")
        axes.set_ylabel("request (in order sent)")
        axes.set_ylim(-1, len(ordered))
        axes.set_title(title, loc="left")
        handles, names = axes.get_legend_handles_labels()
        figure.legend(
            handles,
            names,
            loc="lower center",
            ncols=min(6, len(names)),
            frameon=False,
            bbox_to_anchor=(0.5, 0.0),
        )
        layout.data_table(
            figure,
            ("request", "level", "sent (s)", "first token (s)", "end (s)", "failed"),
            [
                (
                    str(i),
                    labels[s.level] if s.level < len(labels) else str(s.level),
                    f"{s.start_s:.3f}",
                    "-" if s.first_token_s is None else f"{s.first_token_s:.3f}",
                    f"{s.end_s:.3f}",
                    "yes" if s.failed else "no",
                )
                for i, s in enumerate(ordered)
            ],
        )
        return to_svg(figure, name, alt)
