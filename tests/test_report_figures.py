"""Every figure of every report kind lays out its text without overlap, inside the figure, with its legend
clear of the data (measured with matplotlib's own text extents); the roofs, labels, hover titles, data tables
and the answer block that heads every page."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from llmroof.report import answer, figures, layout, rebuild
from llmroof.results.records import AnalysisRecord, ProfileRecord
import report_samples as samples

PAGES = samples.pages()


@pytest.fixture(scope="module")
def rendered() -> dict[str, tuple[str, list[tuple[str, object]]]]:
    """Each page (its HTML and the figures it drew), rendered once."""
    out = {}
    for name, render in PAGES.items():
        with layout.capture() as found:
            html = render()
        out[name] = (html, list(found))
    return out


def figures_of(rendered) -> list[tuple[str, str, object]]:
    return [(page, name, figure) for page, (_, found) in rendered.items() for name, figure in found]


def test_every_report_kind_draws_its_figures(rendered) -> None:
    counts = {page: len(found) for page, (_, found) in rendered.items()}
    assert all(counts.values()), counts
    names = {name for _, name, _ in figures_of(rendered)}
    assert {
        "roofline",
        "bytes",
        "sweep-batch",
        "sweep-context",
        "attention",
        "parallel",
        "nvml",
        "bench-sweep",
        "bench-latency",
        "bench-timeline",
        "plan-pareto",
        "compare-roofline",
    } <= names


def test_no_two_text_boxes_overlap_and_no_text_leaves_the_figure(rendered) -> None:
    problems = []
    for page, name, figure in figures_of(rendered):
        drawn = layout.texts(figure)
        assert len(drawn) >= 5, (page, name)  # titles, tick labels, axis labels at least
        overlaps, outside = layout.text_overlaps(figure), layout.texts_outside(figure)
        if overlaps or outside:
            problems.append((page, name, overlaps, outside))
    assert problems == []


def test_legends_cover_no_data_point_or_line(rendered) -> None:
    checked = 0
    for page, name, figure in figures_of(rendered):
        legends = [*figure.legends, *(a.get_legend() for a in figure.axes)]
        checked += sum(lg is not None for lg in legends)
        assert layout.legend_hits(figure) == [], (page, name)
    assert checked >= 10


# --- the checks themselves fail when they should -----------------------------------------------------


def test_the_checks_catch_overlaps_text_outside_and_a_legend_over_data() -> None:
    figure = layout.new_figure(4, 3)
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], label="a line through the middle")
    axes.text(0.5, 0.5, "here")
    axes.text(0.5, 0.5, "here too")
    figure.text(0.98, 0.5, "off the right edge")
    axes.legend(loc="center")
    assert ("here", "here too") in layout.text_overlaps(figure)
    assert layout.texts_outside(figure) == ["off the right edge"]
    assert layout.legend_hits(figure) == ["a line through the middle under the legend"]


# --- the roofline ----------------------------------------------------------------------------------


def test_cache_roofs_slower_than_the_level_below_are_overhead_bound_not_roofs() -> None:
    # As measured on the 2-core VM: L1 49.7 GB/s below L2 187 GB/s.
    roofs, slow = layout.monotone_levels(list(samples.NON_MONOTONE.items()), 28.6e9)
    assert roofs == [("L2", 187e9), ("L3", 105e9)] and slow == [("L1", 49.7e9, "L2")]
    roofs, slow = layout.monotone_levels(list(samples.MONOTONE.items()), 28.6e9)
    assert [name for name, _ in roofs] == ["L1", "L2", "L3"] and slow == []
    roofs, slow = layout.monotone_levels([("L1", 10e9)], 28.6e9)  # slower than DRAM itself
    assert roofs == [] and slow == [("L1", 10e9, "DRAM")]


def test_the_roofline_notes_an_overhead_bound_level_and_draws_the_others(rendered) -> None:
    html, found = rendered["profile"]
    roofline = dict(found)["roofline"]
    labels = [t.get_text() for t in layout.texts(roofline)]
    assert any(t.startswith("L1 measured 49.7 GB/s, below L2: overhead-bound") for t in labels)
    assert not any(t.startswith("L1 roof") for t in labels)
    assert any(t.startswith("L2 roof (calibrated)\n187 GB/s") for t in labels)
    assert "overhead-bound, not a roof" in html  # and in the figure's data table
    monotone = rendered["profile-repeat"][1]
    assert any(
        t.get_text().startswith("L1 roof (calibrated)")
        for t in layout.texts(dict(monotone)["roofline"])
    )


def test_only_the_ops_that_lose_the_most_are_labelled_and_every_point_has_a_hover_title(
    rendered,
) -> None:
    html, found = rendered["profile"]
    roofline = dict(found)["roofline"]
    shown = " ".join(t.get_text() for t in layout.texts(roofline))
    titles = layout.hover_titles(roofline)
    record = samples.profile_record()
    timed = [
        (op["name"], c["phase"])
        for c in record["configs"]
        if c["status"] == "ok"
        for op in c["ops"]
        if op.get("achieved_flops_per_s") and op["intensity"]
    ]
    shown_ops = {
        name for name, _ in timed if re.search(rf"(^|[ ,]){re.escape(name)}(,|$| )", shown)
    }
    assert 0 < len(shown_ops) <= figures.LABELLED_OPS
    for name, phase in timed:  # the rest are one hover away
        assert any(t.startswith(f"{name} ({phase}") for t in titles.values()), name
    svg = html[html.index('aria-labelledby="fig-roofline-title"') :]
    assert re.search(r'<g id="llmroof-hover-\d+"><title>attn\.o \(prefill\)', svg)


def test_a_ridge_far_beyond_the_measured_points_is_an_arrow_at_the_edge() -> None:
    ceilings = [figures.Ceiling("H100 datasheet", 3.35e12, 989e12)]  # ridge 295 FLOP/byte
    points = [
        figures.Point("mlp.up", "decode", 1.0, 2e12),
        figures.Point("b=1", "decode", 0.9, 1e12, total=True),
    ]
    with layout.capture() as found:
        svg = figures.roofline(ceilings, points, title="t", alt="a")
    axes = found[0][1].axes[0]
    assert axes.get_xlim()[1] < 295 / 8  # the axes follow the points
    assert "H100 ridge 295 FLOP/B →" in svg


def test_sweep_axes_follow_the_measured_points_and_mark_a_crossover_beyond_them() -> None:
    measured = figures.Series("measured", (1.0, 4.0), (100.0, 380.0))
    bound = figures.Series(
        "roofline bound",
        tuple(float(2**i) for i in range(10)),
        tuple(2000.0 * 2**i for i in range(10)),
        dashed=True,
    )
    panel = figures.LinePanel("Decode throughput", "tokens/s", "", (measured, bound))
    with layout.capture() as found:
        svg = figures.sweep(
            [panel],
            xlabel="batch",
            marks=[(431.0, "compute-bound from b=431")],
            title="t",
            alt="a",
            name="sweep-test",
        )
    axes = found[0][1].axes[0]
    low, high = axes.get_xlim()
    assert 0.5 < low < 1 and 4 < high < 8
    assert "compute-bound from b=431 →" in svg
    assert layout.text_overlaps(found[0][1]) == [] and layout.legend_hits(found[0][1]) == []


def test_every_figure_has_its_data_as_a_folded_table(rendered) -> None:
    for page, (html, found) in rendered.items():
        for name, _ in found:
            assert f'<details class="figure-data" id="fig-{name}-data">' in html, (page, name)
    html = rendered["bench"][0]
    table = html[html.index('id="fig-bench-latency-data"') :]
    assert '<th scope="col">median</th>' in table[:2000]


def test_series_are_told_apart_without_colour() -> None:
    looks = [layout.style(i) for i in range(len(layout.PALETTE))]
    assert len({s.marker for s in looks}) == len(looks) and len({s.color for s in looks}) == len(
        looks
    )
    assert layout.style(0, dashed=True).linestyle == "--"
    assert set(figures.PHASE_COLORS.values()) <= set(layout.OKABE_ITO.values())


# --- the answer ------------------------------------------------------------------------------------


def test_the_profile_answer_is_the_op_that_loses_the_most_time() -> None:
    record = samples.profile_record()
    found = answer.profile_answer(ProfileRecord.from_dict(record))
    losses = {
        (c["phase"], c["batch"], op["name"]): (op["median_s"] - op["time_s"]) * op["count"]
        for c in record["configs"]
        if c["status"] == "ok"
        for op in c["ops"]
    }
    (phase, batch, op), lost = max(losses.items(), key=lambda item: item[1])
    assert found is not None and found.lost_s == pytest.approx(lost)
    assert found.where.startswith(f"{phase} b={batch}") and found.where.endswith(op)
    assert found.bound in ("memory", "compute", "launch") and op in found.loss
    assert "--repeat" in found.sure  # one process: says how to get the spread
    repeated = answer.profile_answer(ProfileRecord.from_dict(samples.repeated_profile_record()))
    assert repeated is not None and "CV 3.1% over 3 processes" in repeated.sure


def test_an_op_at_the_dispatch_floor_is_launch_bound() -> None:
    record = samples.profile_record()
    record["ceilings"]["dispatch_floor_s"] = 40e-6  # as the calibrated ceilings record it from 0.3
    assert answer.dispatch_floor_s(ProfileRecord.from_dict(record)) == 40e-6
    first = ProfileRecord.from_dict(record).configs[0].ops[0]
    op = dataclasses.replace(first, median_s=45e-6, roofline_fraction=0.01, bound="memory")
    assert answer.op_bound(op, 40e-6) == "launch"
    assert answer.op_bound(dataclasses.replace(op, median_s=400e-6), 40e-6) == "memory"
    del record["ceilings"]["dispatch_floor_s"]  # older files: the fastest op measured
    fastest = min(op["median_s"] for c in record["configs"] for op in c["ops"])
    assert answer.dispatch_floor_s(ProfileRecord.from_dict(record)) == fastest
    launch = answer._move(
        "launch",
        op_name="attn.norm",
        phase="decode",
        batch=1,
        cuda=True,
        graphs=False,
        dtype="bf16",
    )
    assert "CUDA graphs" in launch


def test_the_analysis_answer_is_the_op_the_memory_bound_costs_most() -> None:
    record = samples.analysis_record()
    found = answer.analysis_answer(AnalysisRecord.from_dict(record))
    losses = [(op["time_s"] - op["compute_time_s"]) * op["count"] for op in record["ops"]]
    assert found is not None and found.lost_s == pytest.approx(max(losses))
    assert found.bound == "memory" and "batch" in found.move


def test_the_answer_and_the_rebuilt_specs_read_the_record_or_the_file_alike() -> None:
    data = samples.profile_record()
    record = ProfileRecord.from_dict(data)
    assert answer.for_record(data) == answer.profile_answer(record) is not None
    assert rebuild.model_spec(data) == rebuild.model_spec(record) is not None
    hardware = rebuild.profile_roofline_hardware(record)
    assert rebuild.profile_roofline_hardware(data) == hardware and hardware[0] is not None
    analysis = samples.analysis_record()
    workload = rebuild.analysis_workload(AnalysisRecord.from_dict(analysis))
    assert rebuild.analysis_workload(analysis) == workload is not None
    del data["device"]  # not a complete record: no answer, no rebuilt spec (the report leaves them out)
    assert answer.for_record(data) is None and rebuild.model_spec(data) is None


@pytest.mark.parametrize("page", list(PAGES))
def test_the_answer_block_heads_every_page(rendered, page) -> None:
    html = rendered[page][0]
    start = html.index('<section class="answer"')
    body = html[html.index("<body") :]
    first = body.index('<section class="answer"')
    for tag in ("<table", "<figure", "<svg", 'class="cards"', "<h3"):
        assert tag not in body[:first], (page, tag)
    block = html[start : html.index("</section>", start)]
    where = re.search(r'data-where="([^"]+)"', block).group(1)
    assert re.search(r'class="lost">[0-9.]+ (s|ms|us|ns) lost<', block), block
    assert re.search(r"(memory|compute|launch)-bound", block)
    assert where and where in json.dumps(block)


def test_a_dense_roofline_still_has_no_overlapping_text() -> None:
    # 60 ops and 12 whole steps crowded into one decade, as a GPU profile of many configurations draws them.
    import random

    rng = random.Random(25)
    points = [
        figures.Point(
            f"op.{i}",
            "decode" if i % 2 else "prefill",
            10 ** rng.uniform(0, 1),
            10 ** rng.uniform(11, 12),
            lost_s=rng.uniform(0, 1e-3),
        )
        for i in range(60)
    ]
    points += [
        figures.Point(
            f"b={2**i} c=2048",
            "decode",
            10 ** rng.uniform(0, 1),
            10 ** rng.uniform(11, 12),
            total=True,
        )
        for i in range(12)
    ]
    ceilings = [
        figures.Ceiling("measured ceilings", 3e12, 700e12),
        figures.Ceiling("L2 roof", 9e12, 700e12),
        figures.Ceiling("L1 roof", 2e12, 700e12),
    ]
    with layout.capture() as found:
        svg = figures.roofline(ceilings, points, title="Roofline: many configurations", alt="a")
    figure = found[0][1]
    assert layout.text_overlaps(figure) == [] and layout.texts_outside(figure) == []
    assert layout.legend_hits(figure) == []
    titles = re.findall(r'<g id="llmroof-hover-\d+"><title>([^<]*)</title>', svg)
    assert all(
        any(t.startswith(f"{p.label} (") for t in titles) for p in points
    )  # a hover title each
    assert "overhead-bound" in svg  # L1 slower than L2
