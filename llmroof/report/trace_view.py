"""The HTML report of an ``llmroof.trace/1`` record: the answer block, the engine's ops on the roofline,
the ops ranked by time lost against their bound, the steps (kernel time, unattributed time, launch gaps)
and the kernel time by category. Each ``*_section`` is a pure function of the
:class:`~llmroof.results.records.trace.TraceRecord`; ``render.render_trace`` fills
``report_trace.html.j2`` with them."""

from __future__ import annotations

from typing import Any

from llmroof.report import figures, tables
from llmroof.results.records.trace import TraceRecord
from llmroof.units import percent, seconds

STEP_PARTS = ("attributed", "unattributed", "idle (launch gaps)")
"""The parts of each step's bar, in order (their colours are in ``figures.PART_COLORS``)."""


def title(record: TraceRecord) -> tuple[str, str]:
    """(the page's title, its subtitle)."""
    layout = record.layout
    parallel = (
        f", tp={layout.tp} pp={layout.pp} ep={layout.ep}" if layout.tp * layout.pp > 1 else ""
    )
    return (
        f"{record.model.name} trace on {record.hardware.name}",
        f"{len(record.steps)} steps, {seconds(record.coverage.kernel_time_s)} of kernel time, "
        f"{record.dtype}{parallel}; roofs: {record.hardware.source}",
    )


def roofline_section(record: TraceRecord) -> dict[str, Any] | None:
    """Each op (per phase) at its achieved intensity and FLOP/s under the device's roofs."""
    hw = record.hardware
    points = [
        figures.Point(
            label=op.op,
            phase=op.phase,
            intensity_flops_per_byte=op.achieved_flops_per_s / op.achieved_bytes_per_s,
            flops_per_s=op.achieved_flops_per_s,
            lost_s=op.time_lost_s,
        )
        for op in record.ops
        if op.achieved_flops_per_s and op.achieved_bytes_per_s
    ]
    roof = figures.Ceiling(
        f"{'DRAM' if hw.name == 'cpu' else 'HBM'} roof ({hw.source})",
        hw.memory_bandwidth_bytes_per_s,
        hw.peak_flops_per_s,
    )
    svg = figures.roofline(
        [roof],
        points,
        title=f"The engine's ops on the {hw.name} roofline",
        alt=f"Roofline of {hw.name} with {len(points)} ops of the trace placed at their achieved "
        "arithmetic intensity and FLOP/s; the ops losing the most time are labelled.",
        name="trace-roofline",
    )
    if svg is None:
        return None
    notes = []
    if hw.launch_floor_s:
        notes.append(
            f"Launch floor {seconds(hw.launch_floor_s)}: ops whose launches at that floor exceed their "
            "roofline bound are marked launch-bound in the table."
        )
    return {
        "figure": {
            "svg": svg,
            "caption": "Each point is one model op over every step and layer of its phase, at its "
            "analytic FLOPs and bytes over its measured time.",
        },
        "notes": notes,
    }


def ops_section(record: TraceRecord) -> dict[str, Any]:
    """The ops ranked by time lost against their bound (the record's order)."""
    columns = [
        ("op", False),
        ("phase", False),
        ("category", False),
        ("count", True),
        ("time", True),
        ("bound", True),
        ("lost", True),
        ("of roof", True),
        ("bound by", False),
        ("kernels", False),
    ]
    rows = [
        [
            tables.cell(op.op),
            tables.cell(op.phase),
            tables.cell(op.category),
            tables.integer(op.count),
            tables.time_cell(op.time_s),
            tables.time_cell(op.bound_s),
            tables.time_cell(op.time_lost_s),
            tables.percent_cell(op.roofline_fraction),
            tables.cell(op.bound or "-" if not op.suspect else f"suspect: {op.suspect}"),
            tables.cell(", ".join(op.kernels[:3]) + (" …" if len(op.kernels) > 3 else "")),
        ]
        for op in record.ops
    ]
    cov = record.coverage
    notes = [
        f"{percent(cov.attributed_fraction)} of kernel time attributed to model ops, "
        f"{percent(cov.classified_fraction)} classified; {seconds(cov.unattributed_s)} unattributed."
    ]
    return {"table": tables.table(columns, rows), "notes": notes + list(record.warnings)}


def steps_section(record: TraceRecord) -> dict[str, Any] | None:
    """One bar per step: attributed kernel time, unattributed kernel time, idle inside the step; and the
    steps' table."""
    if not record.steps:
        return None
    bars = tuple(
        figures.Bar(
            label=f"{s.index}: {_step_tag(s)}",
            parts=(
                (STEP_PARTS[0], s.attributed_s),
                (STEP_PARTS[1], max(0.0, s.kernel_time_s - s.attributed_s)),
                (STEP_PARTS[2], s.idle_s),
            ),
        )
        for s in record.steps
    )
    svg = figures.stacked_bars(
        [figures.BarPanel("Time of each step", "time", "s", bars)],
        title="Step timeline: where each step's time went",
        alt=f"{len(bars)} steps as stacked bars of attributed kernel time, unattributed kernel time "
        "and device idle time.",
        name="trace-steps",
    )
    columns = [
        ("step", False),
        ("phase", False),
        ("batch", True),
        ("tokens", True),
        ("time", True),
        ("bound", True),
        ("of roof", True),
        ("idle", True),
        ("from", False),
    ]
    rows = [
        [
            tables.cell(s.name),
            tables.cell(s.phase),
            tables.integer(s.batch),
            tables.integer(s.prompt_tokens if s.phase == "prefill" else s.context_tokens),
            tables.time_cell(s.time_s),
            tables.time_cell(s.bound_s),
            tables.percent_cell(s.roofline_fraction),
            tables.time_cell(s.idle_s),
            tables.cell(s.source),
        ]
        for s in record.steps
    ]
    figure = None
    if svg is not None:
        figure = {
            "svg": svg,
            "caption": "Idle is the device waiting inside a step (launch gaps: the case for CUDA "
            "graphs); unattributed kernel time belongs to no model op.",
        }
    return {"figure": figure, "table": tables.table(columns, rows)}


def categories_section(record: TraceRecord) -> dict[str, Any] | None:
    """Kernel time by category, largest first."""
    cats = [c for c in record.categories if c.time_s > 0]
    if not cats:
        return None
    cats.sort(key=lambda c: -c.time_s)
    svg = figures.stacked_bars(
        [
            figures.BarPanel(
                "Kernel time by category",
                "time",
                "s",
                tuple(
                    figures.Bar(f"{c.category} ({percent(c.fraction)})", (("measured", c.time_s),))
                    for c in cats
                ),
            )
        ],
        title="Where the kernel time went, by category",
        alt=f"Kernel time of {len(cats)} categories; {cats[0].category} takes the most "
        f"({percent(cats[0].fraction)}).",
        name="trace-categories",
    )
    return None if svg is None else {"svg": svg, "caption": "Overlaps on several streams once."}


def _step_tag(step: Any) -> str:
    from llmroof.labels import config_label

    return config_label(
        step.phase,
        step.batch,
        step.prompt_tokens if step.phase == "prefill" else step.context_tokens,
    )
