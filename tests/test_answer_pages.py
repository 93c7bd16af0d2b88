"""The answer block heads the simulate and history pages: it comes before the first figure or table and
names the level or series, the time lost and its cause."""

from __future__ import annotations

import dataclasses
import re

from cli_runner import run_cli
from history_fixtures import write_profile

from llmroof import load
from llmroof.history.store import Provenance, open_store
from llmroof.history.trend import add_files
from llmroof.report.answer import history_answer, simulate_answer
from llmroof.units import seconds


def _head(page: str) -> str:
    """The page up to its first figure or table, which must hold the whole answer block."""
    first = min(i for i in (page.find("<svg"), page.find("<table")) if i >= 0)
    start = page.find('<section class="answer"')
    assert 0 <= start < first, "the answer block does not come before the first figure or table"
    end = page.find("</section>", start)
    assert end < first
    return page[start:end]


def _text(block: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", block)).replace("&#39;", "'")


def test_the_simulate_page_opens_with_the_level_that_loses_the_most(tmp_path, capsys) -> None:
    out, page = tmp_path / "sim.json", tmp_path / "sim.html"
    code, _, stderr = run_cli(
        capsys,
        "simulate",
        "--model",
        "llama-3-8b",
        "--hardware",
        "h100",
        "--prompt",
        "2048",
        "--output",
        "32",
        "--rate",
        "2,60",
        "--requests",
        "150",
        "--seed",
        "1",
        "--no-chunked-prefill",
        "--out",
        str(out),
        "--html",
        str(page),
        "--format",
        "json",
    )
    assert code == 0, stderr
    record = load(out)
    answer = simulate_answer(record)
    assert answer is not None and answer == simulate_answer(record.to_dict())
    # the worst p90 against its unloaded value, found here by brute force over every level and metric
    unloaded = {"TTFT": record.step_model.prefill_s, "TPOT": record.step_model.decode_step_s}
    worst = max(
        (
            (getattr(level, f"{m.lower()}_s").p90 / unloaded[m], level, m)
            for level in record.levels
            for m in unloaded
        ),
        key=lambda t: t[0],
    )
    _, level, metric = worst
    assert level.rate == 60 and metric == "TTFT"  # 60 prompts of 2048 tokens a second: a queue
    assert answer.where == "rate=60/s: p90 TTFT"
    assert answer.lost_s == level.ttft_s.p90 - unloaded["TTFT"] > 0
    assert answer.bound == ("preemption" if level.preemptions else "queueing")
    block = _text(_head(page.read_text()))
    assert "rate=60/s" in block and seconds(answer.lost_s) in block and answer.bound in block
    assert "--replicas" in block and "chunked prefill" in block
    assert "model, seeded" in block and "docs/simulate.md" in block
    # a level whose sequences were preempted names that cause and a larger KV pool
    preempted = dataclasses.replace(
        record,
        levels=tuple(dataclasses.replace(lv, preemptions=7) for lv in record.levels),
    )
    moved = simulate_answer(preempted)
    assert moved is not None and moved.bound == "preemption"
    assert "7 sequences" in moved.loss and "KV pool" in moved.move


def test_the_history_page_opens_with_the_newest_regression(tmp_path, capsys) -> None:
    db = str(tmp_path / "h.sqlite")
    commits = []
    for i in range(20):
        commit = f"{i:03d}" + "c0ffee" * 6 + "a"
        commits.append(commit)
        path = write_profile(
            tmp_path / f"run{i}" / "results.json", seed=i, scale=1.10 if i >= 12 else 1.0
        )
        with open_store(db, create=True) as store:
            add_files(
                store,
                [path],
                Provenance(
                    commit=commit, branch="main", time_utc=f"2026-02-01T{i:02d}:00:00+00:00"
                ),
            )
    page = tmp_path / "show.html"
    code, _, stderr = run_cli(
        capsys,
        "history",
        "show",
        "--db",
        db,
        "-M",
        "tpot_s",
        "--format",
        "html",
        "--out",
        str(page),
    )
    assert code == 0, stderr
    json_out = tmp_path / "show.json"
    code, _, stderr = run_cli(
        capsys,
        "history",
        "show",
        "--db",
        db,
        "-M",
        "tpot_s",
        "--format",
        "json",
        "--out",
        str(json_out),
    )
    assert code == 0, stderr
    record = load(json_out)
    answer = history_answer(record)
    assert answer is not None and answer == history_answer(record.to_dict())
    series = [s for s in record.series if s.latest is not None]
    assert series and all(s.latest.commit == commits[12] for s in series)
    named = next(s for s in series if answer.where == f"{s.config} · {s.metric}")
    change = named.latest
    assert change is not None
    assert answer.lost_s == change.after_median - change.before_median > 0
    assert answer.bound == "regression"
    block = _text(_head(page.read_text()))
    assert f"{named.config} · tpot_s" in block.replace("&middot;", "·")
    assert f"{commits[11][:10]}..{commits[12][:10]}" in block
    assert seconds(answer.lost_s) in block and "regression" in block
    assert "Bisect" in block and f"{change.ratio_low:.3f}" in block
    # no regression: the block says so, and there is nothing to bisect
    calm = dataclasses.replace(
        record,
        series=tuple(
            dataclasses.replace(s, changes=(), latest=None, gating=False) for s in record.series
        ),
    )
    quiet = history_answer(calm)
    assert quiet is not None and quiet.where == "no regression" and quiet.lost_s is None
    assert f"among {len(record.series)} series" in quiet.loss
    assert history_answer(dataclasses.replace(record, series=())) is None
