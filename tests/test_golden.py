"""Golden files: one small analysis JSON and one rendered markdown comparison, compared in full, so any change
to a number or to the rendering shows up as a diff to review.

Regenerate after an intended change (then read the diff before committing it):

    LLMROOF_REGENERATE_GOLDEN=1 .venv/bin/pytest tests/test_golden.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cli_runner import run_cli

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "golden"
REGENERATE = os.environ.get("LLMROOF_REGENERATE_GOLDEN") == "1"

ANALYZE = ["analyze", "--model", "llama-3.2-1b", "--hardware", "h100", "--batch", "4", "--prompt", "128",
           "--context", "1024", "--tp", "2", "--pp", "2", "--micro-batches", "2", "--format", "json"]
COMPARE = ["compare", "v0.1.0/profile.json", "golden/compare-new.json", "--format", "markdown", "--fail-on", "never"]


def check(path: Path, text: str) -> None:
    if REGENERATE:
        path.write_text(text, encoding="utf-8")
        pytest.skip(f"regenerated {path.name}")
    assert text == path.read_text(encoding="utf-8"), f"{path.name} changed: regenerate it if that is intended"


def test_analysis_json_matches_its_golden_file(capsys) -> None:
    code, out, err = run_cli(capsys, *ANALYZE)
    assert code == 0, err
    data = json.loads(out)
    data["llmroof_version"] = "golden"  # a version bump is not a change of the numbers
    check(GOLDEN / "analysis-llama-3.2-1b-h100-tp2-pp2.json", json.dumps(data, indent=2) + "\n")


def test_markdown_comparison_matches_its_golden_file(capsys, monkeypatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.chdir(DATA)  # the sides' paths appear in the markdown as given
    code, out, err = run_cli(capsys, *COMPARE)
    assert code == 0, err
    check(GOLDEN / "compare.md", out)
