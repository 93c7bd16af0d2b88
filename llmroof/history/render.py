"""A :class:`~llmroof.results.records.history.HistoryRecord` as text: a table, CSV, markdown for a GitHub
job summary (within its size limit), and an HTML page with one small line chart per series (matplotlib,
imported here only, drawn as inline SVG; jinja2 template ``history.html.j2``)."""

from __future__ import annotations

import html
import re
import statistics
from typing import Any

from llmroof.results.records.history import HistoryChange, HistoryRecord, HistorySeries
from llmroof.units import seconds, si
from llmroof.version import __version__

SUMMARY_LIMIT_BYTES = 1024 * 1024
"""GitHub refuses a job summary step's file above 1 MiB; we stay well under it."""
MARKDOWN_BUDGET_BYTES = 60_000
"""The markdown we write: room for several steps' summaries (and a PR comment's 65,536 characters)."""
TEMPLATE = "history.html.j2"


def value_text(unit: str, value: float | None) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return seconds(value)
    if unit == "fraction":
        return f"{value:.1%}"
    return si(value, unit)


def confidence_text(confidence: float) -> str:
    """``>= 97.3%``; ``> 99.9%`` rather than a rounded 100%."""
    return "> 99.9%" if confidence > 0.999 else f">= {confidence:.1%}"


def short(commit: str) -> str:
    return commit[:10]


def change_text(change: HistoryChange | None, unit: str) -> str:
    if change is None:
        return "no change point"
    return (
        f"{change.direction} {change.worse_fraction:+.1%} worse at {short(change.commit)} "
        f"(after {short(change.previous_commit)}): {value_text(unit, change.before_median)} -> "
        f"{value_text(unit, change.after_median)}, ratio {change.ratio:.3f} "
        f"[{change.ratio_low:.3f}, {change.ratio_high:.3f}], confidence {confidence_text(change.confidence)}"
    )


COLUMNS = (
    "machine",
    "config",
    "metric",
    "runs",
    "latest",
    "median of last 10",
    "newest change",
    "gate",
)


def rows(record: HistoryRecord) -> list[dict[str, str]]:
    out = []
    for s in record.series:
        values = [p.value for p in s.points]
        out.append(
            {
                "machine": s.machine,
                "config": s.config,
                "metric": s.metric,
                "runs": str(len(values)),
                "latest": value_text(s.unit, values[-1]),
                "median of last 10": value_text(s.unit, statistics.median(values[-10:])),
                "newest change": change_text(s.latest, s.unit),
                "gate": "REGRESSION" if s.gating else ("-" if record.command == "show" else "ok"),
            }
        )
    return out


def summary_line(record: HistoryRecord) -> str:
    changed = sum(1 for s in record.series if s.changes)
    text = f"{len(record.series)} series, {changed} with change points"
    if record.command == "check":
        since = f" since {record.since}" if record.since else ""
        text += (
            f"; {len(record.gating)} regressions beyond {record.settings['threshold']:.0%}{since}"
        )
    return text


def render_table(record: HistoryRecord) -> str:
    import io

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"llmroof history {record.command}: {summary_line(record)}")
    for column in COLUMNS:
        table.add_column(column, overflow="fold")
    for row in rows(record):
        table.add_row(*(row[c] for c in COLUMNS))
    buffer = io.StringIO()
    Console(file=buffer, width=200, color_system=None).print(table)
    return buffer.getvalue()


def csv_rows(record: HistoryRecord) -> list[dict[str, Any]]:
    """One row per point, with the series it belongs to."""
    return [
        {
            "machine": s.machine,
            "config": s.config,
            "metric": s.metric,
            "unit": s.unit,
            "time_utc": p.time_utc,
            "commit": p.commit,
            "branch": p.branch,
            "process": p.process,
            "value": p.value,
        }
        for s in record.series
        for p in s.points
    ]


_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+!|~<>])")


def _escape(text: str) -> str:
    return _PUNCTUATION.sub(r"\\\1", html.escape(" ".join(str(text).split()), quote=True))


def render_markdown(record: HistoryRecord, budget_bytes: int = MARKDOWN_BUDGET_BYTES) -> str:
    """Gating series first, then the others with a change point; cut to ``budget_bytes`` with a line
    saying how many were left out."""
    mark = "❌ regression" if record.verdict == "regression" else "✅ no regression"
    head = [f"### llmroof history {record.command}: {mark}", "", _escape(summary_line(record)), ""]
    ordered = sorted(
        (s for s in record.series if s.changes or s.gating), key=lambda s: (not s.gating, s.config)
    )
    body = ["| config | metric | runs | newest change | gate |", "|---|---|---|---|---|"]
    left_out = 0
    size = sum(len(line.encode()) + 1 for line in head + body) + 200
    for s in ordered:
        line = (
            f"| {_escape(s.config)} | {_escape(s.metric)} | {len(s.points)} | "
            f"{_escape(change_text(s.latest, s.unit))} | {'**REGRESSION**' if s.gating else 'ok'} |"
        )
        if size + len(line.encode()) + 1 > budget_bytes:
            left_out += 1
            continue
        body.append(line)
        size += len(line.encode()) + 1
    lines = head + (body if len(body) > 2 else ["No series has a change point."])
    if left_out:
        lines += [
            "",
            f"{left_out} more series with change points left out (size limit); see the JSON or HTML.",
        ]
    return "\n".join(lines) + "\n"


# --- HTML --------------------------------------------------------------------------------------------


def series_svg(series: HistorySeries) -> str | None:
    """A small line chart: each run's median (processes of one commit: their spread as a bar), the segment
    medians, and each change point marked with its commit. None without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    from llmroof.results.html import svg_element

    groups: dict[tuple[str, str], list[float]] = {}
    for p in series.points:
        groups.setdefault((p.time_utc, p.commit), []).append(p.value)
    xs = list(range(len(groups)))
    values = list(groups.values())
    medians = [statistics.median(v) for v in values]
    figure = Figure(figsize=(5.2, 1.9), dpi=100)
    axes = figure.add_subplot()
    axes.plot(xs, medians, color="#3465a4", linewidth=1, marker=".", markersize=3)
    low, high = [min(v) for v in values], [max(v) for v in values]
    if any(h > lo for lo, h in zip(low, high)):
        axes.vlines(xs, low, high, color="#3465a4", alpha=0.35, linewidth=2)
    position = {key: i for i, key in enumerate(groups)}
    points = series.points
    for change in series.changes:
        first = points[change.index]
        x = position[(first.time_utc, first.commit)] - 0.5
        colour = "#cc0000" if change.direction == "regression" else "#4e9a06"
        axes.axvline(x, color=colour, linestyle="--", linewidth=1)
        axes.annotate(
            short(change.commit)[:8],
            (x, 1.0),
            xycoords=("data", "axes fraction"),
            fontsize=7,
            color=colour,
            rotation=90,
            va="top",
            ha="right",
        )
    axes.set_ylabel(series.unit, fontsize=8)
    axes.tick_params(labelsize=7)
    axes.set_xlabel("run (oldest first)", fontsize=7)
    figure.tight_layout()
    return svg_element(figure, salt=f"{series.machine}{series.config}{series.metric}")


def render_html(record: HistoryRecord, answer: Any = None) -> str:
    """The page, headed by ``answer`` (an :class:`~llmroof.report.answer.Answer`, which the caller
    computes: this layer sits below report)."""
    from llmroof.results.html import template_environment

    charts = [
        {
            "title": f"{s.config} · {s.metric}",
            "machine": s.machine,
            "svg": series_svg(s),
            "change": change_text(s.latest, s.unit),
            "gating": s.gating,
            "changes": [change_text(c, s.unit) for c in s.changes],
        }
        for s in record.series
    ]
    context = {
        "title": f"llmroof history {record.command}",
        "summary": summary_line(record),
        "verdict": record.verdict,
        "database": record.database,
        "charts": charts,
        "method": dict(record.method or {}),
        "version": __version__,
        "answer": answer,
    }
    return template_environment(TEMPLATE).get_template(TEMPLATE).render(**context)
