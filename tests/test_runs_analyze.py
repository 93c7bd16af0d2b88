"""``llmroof analyze --sweep`` as a library call (llmroof.runs.analyze): one-axis sweeps and grids on the
vectorised engine equal the scalar analysis row for row, and the files the CLI writes load into their typed
records (``llmroof.sweep/1``, ``llmroof.grid/1``)."""

from __future__ import annotations

import dataclasses
import json

import pytest
from cli_runner import run_cli

import llmroof
from llmroof.analytic import Workload
from llmroof.analytic.sweep import evaluate
from llmroof.analytic.sweep import sweep as sweep_rows
from llmroof.errors import LlmroofError
from llmroof.results.records import GridRecord, SweepRecord
from llmroof.results.records.grid import FrontierRow
from llmroof.runs.analyze import AnalyzeOptions, GridSweep, is_grid, sweep
from llmroof.specs import get_hardware, get_model


@pytest.mark.parametrize(
    ("model", "workload", "axis", "values"),
    [
        ("llama-3-8b", Workload(context_len=1024), "batch", [1, 2, 3, 7, 64, 200, 4096]),
        ("mixtral-8x7b", Workload(tp=2, micro_batches=2, batch=2), "batch", [1, 2, 5, 6, 32]),
        ("deepseek-v2-lite", Workload(batch=16), "context", [1, 17, 4096, 65536]),
        ("gemma-2-9b", Workload(batch=4, pp=3), "prompt", [1, 4095, 4096, 4097, 16384]),
    ],
)
def test_a_sweep_on_the_grid_equals_the_scalar_analysis_row_by_row(
    model, workload, axis, values
) -> None:
    spec, hw = get_model(model), get_hardware("h100")
    field = {"batch": "batch", "context": "context_len", "prompt": "prompt_len"}[axis]
    expected = []
    for value in values:
        changes = {field: value}
        if field == "batch" and value % workload.micro_batches:
            changes["micro_batches"] = 1
        expected.append(evaluate(spec, hw, dataclasses.replace(workload, **changes)))
    assert sweep_rows(spec, hw, workload, axis, values) == expected  # compared with ==: bit for bit


def test_a_sweep_past_64_bit_integers_falls_back_to_exact_python_integers() -> None:
    spec, hw, workload = get_model("llama-3-8b"), get_hardware("h100"), Workload(batch=10**6)
    values = [2**20, 2**38]  # batch x heads x context: beyond int64 at the second
    rows = sweep_rows(spec, hw, workload, "context", values)
    assert rows == [
        evaluate(spec, hw, dataclasses.replace(workload, context_len=v)) for v in values
    ]


def test_a_batch_the_expert_ranks_cannot_share_is_named() -> None:
    options = AnalyzeOptions(model="qwen3-30b-a3b", hardware="h100", ep=2, batch=2)
    with pytest.raises(LlmroofError, match=r"^batch=3: --ep 2"):
        sweep(options, ["batch=2,3,4"])


def test_one_length_axis_is_a_sweep_anything_else_a_grid(tmp_path) -> None:
    assert not is_grid(["batch=1..8"], None) and not is_grid(["context=512,1024"], None)
    assert is_grid(["batch=1..8"], tmp_path / "rows.csv") and is_grid(["tp=1,2"], None)
    assert is_grid(["batch=1..8", "context=512"], None)
    options = AnalyzeOptions(model="llama-3-8b", hardware="h100")
    one = sweep(options, ["batch=1..4"])
    assert isinstance(one, SweepRecord) and [r.value for r in one.rows] == [1, 2, 4]
    grid = sweep(options, ["batch=1..4", "hardware=h100,a100"])
    assert isinstance(grid, GridSweep) and grid.layouts == 2 and grid.sizes == (3, 1, 1)
    assert grid.record.points == 6 and [r.hardware for r in grid.record.frontier] == [
        "h100-sxm",
        "a100-sxm-80gb",
    ]


@pytest.mark.parametrize(
    ("args", "cls"),
    [
        (["--sweep", "batch=1..64", "--format", "json"], SweepRecord),
        (
            [
                "--sweep",
                "batch=1..64",
                "--sweep",
                "tp=1,3,4",
                "--sweep",
                "context=1024,8192",
                "--format",
                "json",
            ],
            GridRecord,
        ),
    ],
)
def test_the_json_of_a_sweep_loads_into_its_record(capsys, tmp_path, args, cls) -> None:
    code, out, err = run_cli(capsys, "analyze", "--model", "llama-3-70b", *args)
    assert code == 0, err
    path = tmp_path / "sweep.json"
    path.write_text(out)
    record = llmroof.load(path)
    assert type(record) is cls
    assert record.to_dict() == json.loads(out)  # the reader is the inverse of what the CLI wrote
    if cls is GridRecord:
        assert record.axes == {
            "batch": [1, 2, 4, 8, 16, 32, 64],
            "tp": [1, 3, 4],
            "context": [1024, 8192],
        }
        assert record.points == 7 * 2 * 2 and len(record.frontier) == 2 * 2
        assert record.skipped[0].startswith(
            "llama-3-70b on h100-sxm tp 3 pp 1: --tp 3 does not divide"
        )
        first = record.frontier[0]
        assert isinstance(first, FrontierRow) and first.tp == 1 and first.context_len == 1024
        assert first.max_fitting_batch is None  # 140 GB of weights do not fit one H100
        assert record.to_pandas().shape == (4, 13)
