"""Grid sweeps: the one range parser, the chunking, every streamed row equal to the scalar sweep's row, the
frontier, and ``analyze --sweep A --sweep B --out FILE`` end to end."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from cli_runner import run_cli as run
from llmroof.analytic import Workload
from llmroof.analytic import grid_sweep as gs
from llmroof.analytic.sweep import crossover, evaluate, parse_sweep, sweep
from llmroof.errors import LlmroofError
from llmroof.ranges import parse_range_list
from llmroof.specs import Precision, get_hardware, get_model


def test_one_range_parser_for_lists_doubling_and_arithmetic_ranges() -> None:
    assert parse_range_list("1..256") == [1, 2, 4, 8, 16, 32, 64, 128, 256]
    assert parse_range_list("512..2048:512") == [512, 1024, 1536, 2048]
    assert parse_range_list("1,3..12,100..103:2") == [1, 3, 6, 12, 100, 102]
    assert parse_range_list("5..5") == [5]
    for bad in ("", "0", "1..0", "a..4", "1..4:0", "1,,2", "-3", "1..10000000000:1"):
        with pytest.raises(ValueError):
            parse_range_list(bad)


def test_parse_sweep_axes() -> None:
    assert parse_sweep("context=512..2048:512") == ("context", [512, 1024, 1536, 2048])
    assert parse_sweep("TP=1..8") == ("tp", [1, 2, 4, 8])
    assert parse_sweep("hardware=h100, a100,h100") == ("hardware", ["h100", "a100"])
    assert parse_sweep("weight_dtype=int4,bf16") == ("weight-dtype", ["int4", "bf16"])
    for bad in ("colour=1", "batch", "batch=1..x", "model=a,,b"):
        with pytest.raises(LlmroofError):
            parse_sweep(bad)


def test_blocks_cover_the_grid_in_c_order_within_the_limit() -> None:
    for sizes, limit in (((7, 3, 5), 16), ((2, 40), 16), ((3, 2, 100), 7), ((5,), 2), ((4, 4, 4), 1000)):
        seen = []
        for block in gs.blocks(sizes, limit):
            ranges = [range(*s.indices(n)) for s, n in zip(block, sizes)]
            points = [p for p in np.ndindex(*(len(r) for r in ranges))]
            assert len(points) <= max(limit, sizes[-1])
            seen += [tuple(r[i] for r, i in zip(ranges, p)) for p in points]
        assert seen == list(np.ndindex(*sizes))


def test_streamed_rows_equal_the_scalar_sweep_rows() -> None:
    models, devices = [get_model("llama-3-8b"), get_model("falcon-7b")], [get_hardware("h100"), get_hardware("l4")]
    base = Workload(batch=2, micro_batches=2, attention_kernel="flash")
    layouts, skipped = gs.layouts(models, devices, base, [1, 2], [1, 2], [Precision.uniform(), Precision.uniform("fp8")])
    assert len(layouts) == 2 * 2 * 2 * 2 + 2 * 1 * 2 * 2 and len(skipped) == 2 * 2 * 2  # falcon: 71 heads, tp 2
    batch, prompt, context = [1, 2, 3, 64, 1000], [7, 4096], [1, 300, 100_000]
    chunks: list[dict] = []
    frontier, points = gs.run(layouts, batch, prompt, context, chunks.append, limit=7)
    assert points == len(layouts) * 30
    rows = [dict(zip(c, values)) for c in chunks for values in zip(*(np.broadcast_to(v, c["batch"].shape)
                                                                       for v in c.values()))]
    assert len(rows) == points
    index = 0
    for layout in layouts:
        for b in batch:
            for s in prompt:
                for c in context:
                    m = base.micro_batches if b % base.micro_batches == 0 else 1
                    w = layout.workload.__class__(**{**_fields(layout.workload), "batch": b, "prompt_len": s,
                                                     "context_len": c, "micro_batches": m})
                    expected = evaluate(layout.model, layout.hardware, w)._asdict()
                    got = rows[index]
                    for key, value in expected.items():
                        assert got[key] == value, (layout.key, b, s, c, key)
                    index += 1


def _fields(workload: Workload) -> dict:
    return {name: getattr(workload, name) for name in workload.__dataclass_fields__}


def test_frontier_agrees_with_the_scalar_crossover_and_memory() -> None:
    model, hardware = get_model("llama-3-8b"), get_hardware("h100")
    base = Workload(attention_kernel="flash")
    batches = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
    layouts, _ = gs.layouts([model], [hardware], base, [1], [1], [Precision.uniform()])
    frontier, _ = gs.run(layouts, batches, [512], [128, 8192], limit=5)
    for row, context in zip(frontier.rows(), [128, 8192]):
        rows = sweep(model, hardware, Workload(attention_kernel="flash", context_len=context), "batch", batches)
        cross = crossover(rows)
        assert row["compute_bound_batch"] == (None if cross is None else batches[cross])
        fitting = [r for r in rows if r.fits]
        assert row["max_fitting_batch"] == fitting[-1].batch
        assert row["tpot_s"] == fitting[-1].tpot_s
    assert frontier.rows()[0]["compute_bound_batch"] is not None  # short context: decode does turn


def test_cli_grid_streams_csv_and_jsonl(capsys, tmp_path) -> None:
    out = tmp_path / "grid.csv"
    code, stdout, err = run(capsys, "analyze", "-m", "llama-3-8b", "--sweep", "batch=1..64",
                            "--sweep", "context=512..4096:512", "--sweep", "tp=1,2", "--out", str(out))
    assert code == 0, err
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 7 * 8 * 2 and list(rows[0]) == list(gs.COLUMNS)
    assert [int(r["context_len"]) for r in rows[:8]] == list(range(512, 4097, 512))
    first = evaluate(get_model("llama-3-8b"), get_hardware("h100-sxm"), Workload(batch=1, context_len=512))
    assert float(rows[0]["tpot_s"]) == first.tpot_s  # CSV keeps the shortest repr: exact round trip
    assert "Frontier" in stdout and "112 configurations" in stdout
    assert not (tmp_path / "grid.csv.partial").exists()

    lines = tmp_path / "grid.jsonl"
    code, stdout, err = run(capsys, "analyze", "--sweep", "batch=1,2", "--sweep", "hardware=h100,a100",
                            "--out", str(lines), "--format", "json")
    assert code == 0, err
    records = [json.loads(line) for line in lines.read_text().splitlines()]
    assert [(r["hardware"], r["batch"]) for r in records] == [("h100-sxm", 1), ("h100-sxm", 2),
                                                              ("a100-sxm-80gb", 1), ("a100-sxm-80gb", 2)]
    doc = json.loads(stdout)
    assert doc["schema"] == "llmroof.grid/1" and doc["points"] == 4 and len(doc["frontier"]) == 2


@pytest.mark.parametrize("args, message", [
    (["--sweep", "batch=1..4:0", "--sweep", "tp=1"], "positive integers"),
    (["--sweep", "batch=1", "--sweep", "batch=2"], "given twice"),
    (["--sweep", "batch=1,2", "--out", "x.txt"], "unknown file type"),
    (["--out", "x.csv"], "--out applies to --sweep"),
    (["--sweep", "tp=3,5", "--sweep", "batch=1"], "no layout of the sweep is valid"),
    (["--sweep", "hardware=h100,nope", "--sweep", "batch=1"], "nope"),
])
def test_cli_grid_bad_input_is_one_line_exit_2(capsys, tmp_path, monkeypatch, args, message) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "analyze", *args)
    assert code == 2 and message in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_cli_grid_csv_to_stdout_and_a_failing_run_keeps_its_rows(capsys, tmp_path) -> None:
    code, stdout, err = run(capsys, "analyze", "--sweep", "batch=1,2", "--sweep", "tp=1,2", "--format", "csv")
    assert code == 0, err
    lines = stdout.splitlines()
    assert lines[0] == ",".join(gs.COLUMNS) and len(lines) == 5
    # Llama-3-8B's prompt of 2**23 fits int64; Llama-3.1-405B's (128 heads) would not: the second layout fails.
    out = tmp_path / "grid.csv"
    code, _, err = run(capsys, "analyze", "--prompt", str(2**23), "--sweep", "model=llama-3-8b,llama-3.1-405b",
                       "--out", str(out))
    assert code == 2 and "overflow" in err and "grid.csv.partial" in err and "Traceback" not in err
    assert not out.exists() and len((tmp_path / "grid.csv.partial").read_text().splitlines()) == 2
