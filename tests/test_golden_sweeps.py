"""Golden sweeps: ``llmroof analyze --sweep`` output (JSON and CSV, one axis and grids, dense, MoE, MLA, sliding
window, tp/pp/ep, eager op sets, quantised dtypes), compared byte for byte with files written by the scalar
sweep path before sweeps moved onto the vectorised grid engine (commit 6308198).

Regenerate only after a deliberate change of the numbers or the schema (then read the diff):

    LLMROOF_REGENERATE_GOLDEN=1 pytest tests/test_golden_sweeps.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_runner import run_cli

GOLDEN = Path(__file__).parent / "data" / "golden" / "sweeps"
REGENERATE = os.environ.get("LLMROOF_REGENERATE_GOLDEN") == "1"

CASES = {
    "sweep-batch-llama-3-8b-a100.json": "--model llama-3-8b --hardware a100 --context 1024 --sweep batch=1..256 --format json",
    "sweep-context-llama-3-8b-h100.json": "--model llama-3-8b --hardware h100 --batch 8 --sweep context=512..131072 --format json",
    "sweep-prompt-mistral-7b-h100.json": "--model mistral-7b --hardware h100 --batch 4 --context 8192 --sweep prompt=128..16384 --format json",
    "sweep-batch-mixtral-8x7b-h100-tp2.json": "--model mixtral-8x7b --hardware h100 --tp 2 --sweep batch=1..1024 --format json",
    "sweep-batch-gpt-oss-20b-zipf.json": "--model gpt-oss-20b --hardware h100 --expert-dtype mxfp4 --zipf 1.1 --sweep batch=1,3,8,64,100 --format json",
    "sweep-batch-llama-3-70b-tp4-pp2.json": "--model llama-3-70b --hardware h100 --tp 4 --pp 2 --micro-batches 4 --batch 4 "
    "--sweep batch=1,2,4,6,8,12,16,64 --format json",
    "sweep-context-deepseek-v2-lite-h100.json": "--model deepseek-v2-lite --hardware h100 --batch 16 --sweep context=1024..65536 --format json",
    "sweep-batch-qwen3-30b-a3b-ep2.json": "--model qwen3-30b-a3b --hardware h100 --ep 2 --batch 2 --sweep batch=2,4,8,64 --format json",
    "sweep-batch-llama-3.2-1b-eager.json": "--model llama-3.2-1b --hardware a100 --implementation eager --attention-kernel flash --dtype fp16 "
    "--weight-dtype int4 --kv-dtype fp8 --sweep batch=1..512 --format json",
    "sweep-context-gemma-2-9b-pp3.json": "--model gemma-2-9b --hardware h100 --pp 3 --pp-layers 14,14,14 --sweep context=1024..32768 --format json",
    "sweep-batch-llama-3-8b-a100.csv": "--model llama-3-8b --hardware a100 --context 1024 --sweep batch=1..256 --format csv",
    "sweep-context-mixtral-8x7b-h100.csv": "--model mixtral-8x7b --hardware h100 --tp 2 --sweep context=512..32768 --format csv",
    "grid-hardware-batch-llama-3-8b.json": "--model llama-3-8b --sweep hardware=h100,a100 --sweep batch=1..512 --sweep context=1024,4096 --format json",
    "grid-tp-batch-llama-3-70b.csv": "--model llama-3-70b --hardware h100 --sweep tp=1,2,3,4,8 --sweep batch=1..256 --format csv",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_sweep_output_matches_its_golden_file(capsys, name: str) -> None:
    code, out, err = run_cli(capsys, "analyze", *CASES[name].split())
    assert code == 0, err
    path = GOLDEN / name
    if REGENERATE:
        path.write_text(out, encoding="utf-8")
        pytest.skip(f"regenerated {name}")
    assert out == path.read_text(encoding="utf-8"), (
        f"{name} changed: regenerate it if that is intended"
    )
