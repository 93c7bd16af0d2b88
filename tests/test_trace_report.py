"""The HTML report of a trace (``llmroof trace --html``, ``llmroof report trace.json``) and ``llmroof compare``
of two traces, op by op."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
import trace_gen
from cli_runner import run_cli
from trace_gen import write_kineto

from llmroof.compare.comparison import CompareSettings
from llmroof.compare.trace_ops import compare_traces
from llmroof.report import answer, layout
from llmroof.report.render import render_trace
from llmroof.results.records import TraceRecord, load
from llmroof.results.records.trace import (
    CategoryTime,
    Coverage,
    TraceHardware,
    TraceLayout,
    TraceModel,
    TraceOp,
    TraceStep,
)
from llmroof.specs.model import get_model
from llmroof.trace import TraceOptions, run_trace
from llmroof.units import seconds

LLAMA = get_model("llama-3.2-1b")
STEPS = [
    {
        "phase": "prefill",
        "batch": 1,
        "tokens": 512,
        "name": "execute_context_1(512)_generation_0(0)",
    },
    {"phase": "decode", "batch": 8, "tokens": 8, "name": "execute_context_0(0)_generation_8(8)"},
    {"phase": "decode", "batch": 8, "tokens": 8, "name": "execute_context_0(0)_generation_8(8)"},
]


@pytest.fixture(scope="module")
def gpu_record(tmp_path_factory) -> TraceRecord:
    path = tmp_path_factory.mktemp("gpu") / "trace.json"
    write_kineto(path, LLAMA, STEPS)
    return run_trace([path], TraceOptions(model=LLAMA, context=1024))


def cpu_record() -> TraceRecord:
    """A CPU-only trace's record: calibrated roofs with a dispatch floor, small ops launch-bound."""

    def op(name: str, category: str, time_s: float, bound_s: float, bound: str) -> TraceOp:
        return TraceOp(
            op=name,
            phase="decode",
            category=category,
            count=2,
            layers=2,
            time_s=time_s,
            bound_s=bound_s,
            roofline_fraction=bound_s / time_s,
            bound=bound,
            kernels=("aten::linear",) if category == "gemm" else ("aten::mul", "aten::rsqrt"),
            launches=2 if category == "gemm" else 10,
            time_lost_s=time_s - bound_s,
            achieved_bytes_per_s=2e9 if category == "gemm" else 1e8,
            achieved_flops_per_s=1e9 if category == "gemm" else 2e7,
        )

    ops = (
        op("attn.norm", "norm", 440e-6, 0.13e-6, "launch"),
        op("mlp.up", "gemm", 300e-6, 120e-6, "memory"),
        op("attn.q", "gemm", 100e-6, 60e-6, "memory"),
    )
    return TraceRecord(
        files=("cpu.json",),
        hardware=TraceHardware(
            name="cpu",
            source="calibrated",
            peak_flops_per_s=2e11,
            memory_bandwidth_bytes_per_s=28.6e9,
            launch_floor_s=20e-6,
        ),
        model=TraceModel(name="tiny-llama", layers=2),
        layout=TraceLayout(tp=1, pp=1, ep=1, source="default"),
        dtype="fp32",
        device_names=(),
        coverage=Coverage(
            kernel_time_s=900e-6,
            attributed_fraction=840 / 900,
            classified_fraction=1.0,
            unattributed_s=60e-6,
        ),
        categories=(
            CategoryTime(category="gemm", time_s=400e-6, fraction=4 / 9),
            CategoryTime(category="norm", time_s=500e-6, fraction=5 / 9),
        ),
        steps=(
            TraceStep(
                index=0,
                name="ProfilerStep#0",
                phase="decode",
                batch=1,
                prompt_tokens=None,
                context_tokens=17,
                source="options",
                time_s=1e-3,
                kernel_time_s=900e-6,
                idle_s=100e-6,
                bound_s=190e-6,
                roofline_fraction=0.19,
                attributed_s=840e-6,
            ),
        ),
        ops=ops,
        kernels=(),
    )


def _render(record: TraceRecord) -> tuple[str, list[tuple[str, object]]]:
    with layout.capture() as found:
        html = render_trace(record, source="trace.json")
    return html, list(found)


def _check_page(html: str, found, record: TraceRecord) -> None:
    top = max((o for o in record.ops if o.bound_s is not None), key=lambda o: o.time_lost_s)
    block = html[html.index('<section class="answer"') :]
    block = block[: block.index("</section>")]
    # the answer heads the page: before any figure or table
    assert html.index('<section class="answer"') < min(
        html.index(tag) for tag in ("<figure", "<table") if tag in html
    )
    assert f'data-where="{top.phase}: {top.op}"' in block
    assert f'data-bound="{top.bound}"' in block and f"{top.bound}-bound" in block
    assert f"{seconds(top.time_lost_s)} lost" in block
    for name, figure in found:  # the layout checks of tests/test_report_figures.py
        assert len(layout.texts(figure)) >= 5, name
        assert layout.text_overlaps(figure) == [], name
        assert layout.texts_outside(figure) == [], name
        assert layout.legend_hits(figure) == [], name
        assert f'<details class="figure-data" id="fig-{name}-data">' in html, name
    ranking = html[html.index('id="ops-title"') :]
    positions = [ranking.index(f">{o.op}</td>") for o in record.ops[:3]]
    assert positions == sorted(positions)  # ranked by lost time, as the record is


def test_gpu_trace_report_answers_first_and_lays_out_its_figures(gpu_record) -> None:
    html, found = _render(gpu_record)
    assert {name for name, _ in found} == {"trace-roofline", "trace-steps", "trace-categories"}
    _check_page(html, found, gpu_record)
    a = answer.trace_answer(gpu_record)
    assert a is not None and a.bound in ("memory", "compute", "launch")
    assert a.lost_s == max(o.time_lost_s for o in gpu_record.ops)
    labels = " ".join(t.get_text() for t in layout.texts(dict(found)["trace-roofline"]))
    assert a.where.split(": ")[1] in labels  # the op losing the most is labelled on the roofline


def test_cpu_trace_report_names_the_launch_bound_op() -> None:
    record = cpu_record()
    html, found = _render(record)
    _check_page(html, found, record)
    a = answer.trace_answer(record)
    assert a is not None and a.where == "decode: attn.norm" and a.bound == "launch"
    assert a.lost_s == pytest.approx(440e-6 - 0.13e-6)
    assert "fusing it with its neighbours" in a.move  # a CPU has no CUDA graphs to suggest
    assert "Launch floor 20" in html


def test_trace_html_from_the_cli_and_llmroof_report(tmp_path, capsys) -> None:
    write_kineto(tmp_path / "t.json", LLAMA, STEPS)
    code, _, err = run_cli(
        capsys,
        "trace",
        str(tmp_path / "t.json"),
        "--model",
        "llama-3.2-1b",
        "--context",
        "1024",
        "--format",
        "json",
        "-o",
        str(tmp_path / "r.json"),
        "--html",
        str(tmp_path / "r.html"),
    )
    assert code == 0, err
    page = (tmp_path / "r.html").read_text()
    assert '<section class="answer"' in page and "llmroof.trace/1" in page
    code, _, err = run_cli(capsys, "report", str(tmp_path / "r.json"))
    assert code == 0, err
    again = (tmp_path / "r.html").read_text()
    record = load(tmp_path / "r.json")
    top = answer.trace_answer(record)
    assert top is not None and f'data-where="{top.where}"' in again
    assert answer.for_record(json.loads((tmp_path / "r.json").read_text())) == top


def _trace_json(tmp_path, name: str, monkeypatch, slow_op: str | None = None) -> str:
    """A generated trace run through ``llmroof trace --format json``; ``slow_op``'s kernels take 4x."""
    original = trace_gen.step_launches

    def launches(*args, **kw):
        out = original(*args, **kw)
        return [dataclasses.replace(x, dur_us=x.dur_us * 4) if x.op == slow_op else x for x in out]

    with monkeypatch.context() as m:
        m.setattr(trace_gen, "step_launches", launches)
        write_kineto(tmp_path / f"{name}.trace.json", LLAMA, STEPS)
    path = tmp_path / f"{name}.json"
    record = run_trace([tmp_path / f"{name}.trace.json"], TraceOptions(model=LLAMA, context=1024))
    path.write_text(json.dumps(record.to_dict()))
    return str(path)


def test_compare_two_traces_reports_the_slower_op_as_a_regression(
    tmp_path, capsys, monkeypatch
) -> None:
    base = _trace_json(tmp_path, "base", monkeypatch)
    new = _trace_json(tmp_path, "new", monkeypatch, slow_op="mlp.act")
    same = _trace_json(tmp_path, "same", monkeypatch)

    comparison = compare_traces(load(base), load(new), CompareSettings(noise_floor=0.0))
    rows = {(r.phase, r.op): r for r in comparison.rows}
    for phase in ("prefill", "decode"):
        act = rows[phase, "mlp.act"]
        assert act.verdict == "regression" and act.ratio == pytest.approx(4.0)
        assert act.new_roofline_fraction == pytest.approx(act.base_roofline_fraction / 4)
        assert rows[phase, "mlp.down"].verdict == "unchanged"
    assert not act.gates  # per-op rows are reported, the steps gate (compare's rule)

    # the CLI, by compare's rules: per-op times are reported (exit 0) unless --gate-ops makes them gate
    code, out, err = run_cli(capsys, "compare", base, new, "--noise-floor", "0")
    assert code == 0, err
    line = next(x for x in out.splitlines() if x.startswith("decode: mlp.act"))
    assert "regression (reported)" in line and re.search(r"\s4\s", line)
    code, out, err = run_cli(capsys, "compare", base, new, "--noise-floor", "0", "--gate-ops")
    assert code == 1, err
    assert out.startswith("trace ") and "regression" in out.splitlines()[0]
    code, out, _ = run_cli(capsys, "compare", base, same, "--format", "json", "--gate-ops")
    assert code == 0 and json.loads(out)["verdict"] == "unchanged"
    # the default noise floor of one process a side (105%): a 4x op lies beyond it
    code, out, _ = run_cli(capsys, "compare", base, new, "--gate-ops", "--format", "markdown")
    assert code == 1 and "| decode: mlp.act |" in out
    code, out, _ = run_cli(capsys, "compare", base, new, "--gate-ops", "--format", "json")
    data = json.loads(out)
    assert data["counts"]["regression"] == 2  # mlp.act in prefill and in decode
    assert {r["op"] for r in data["rows"] if r["verdict"] == "regression"} == {"mlp.act"}


def test_compare_a_trace_with_a_profile_result_is_one_line(tmp_path, capsys, monkeypatch) -> None:
    base = _trace_json(tmp_path, "base", monkeypatch)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"schema": "llmroof.profile/1"}))
    code, _, err = run_cli(capsys, "compare", base, str(other))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "llmroof.trace/1" in err
