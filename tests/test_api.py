"""The Python API: ``llmroof.load`` for every kind of results file, ``llmroof.analyze`` equal to the CLI's
JSON, a light ``import llmroof``, and ``docs/api.md``'s example run as written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import run_cli

import llmroof
from llmroof.errors import LlmroofError
from llmroof.results.records import AnalysisRecord

ROOT = Path(__file__).parents[1]
OLD = Path(__file__).parent / "data" / "v0.1.0"


def test_import_llmroof_is_light_until_an_api_function_is_used() -> None:
    code = ("import sys, llmroof; heavy = [m for m in ('torch', 'numpy', 'pandas') if m in sys.modules]; "
            "assert not heavy, heavy; llmroof.load; assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", ["profile.json", "analysis.json", "plan.json", "compare.json"])
def test_the_acceptance_one_liner(tmp_path, name) -> None:
    (tmp_path / "results.json").write_text((OLD / name).read_text())
    code = "import llmroof; r = llmroof.load('results.json'); print(r.to_pandas().head())"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, capture_output=True, text=True)
    assert "[" not in out.stderr and len(out.stdout.splitlines()) >= 2


def test_analyze_returns_what_the_cli_writes(capsys) -> None:
    code, out, _ = run_cli(capsys, "analyze", "--model", "llama-3.2-1b", "--hardware", "h100", "--batch", "4",
                           "--tp", "2", "--dtype", "bf16", "--weight-dtype", "int4", "--format", "json")
    assert code == 0
    record = llmroof.analyze(model="llama-3.2-1b", hardware="h100", batch=4, tp=2, weight_dtype="int4")
    assert isinstance(record, AnalysisRecord)
    assert record.to_dict() == json.loads(out)


def test_analyze_of_a_moe_model_returns_what_the_cli_writes(capsys) -> None:
    """The MoE, MLA and op-set options reach the same analysis as the CLI's flags."""
    code, out, _ = run_cli(capsys, "analyze", "--model", "deepseek-v3", "--hardware", "h200", "--batch", "8",
                           "--tp", "8", "--ep", "2", "--expert-dtype", "fp8-block", "--zipf", "1.1", "--mla-naive",
                           "--implementation", "eager", "--format", "json")
    assert code == 0
    record = llmroof.analyze(model="deepseek-v3", hardware="h200", batch=8, tp=8, ep=2, expert_dtype="fp8-block",
                             zipf=1.1, mla_absorbed=False, implementation="eager")
    assert record.to_dict() == json.loads(out)
    assert record.parallel.ep == 2 and record.workload.routing == "Zipf s=1.1" and not record.workload.mla_absorbed


def test_analyze_bad_input_is_a_user_error() -> None:
    with pytest.raises(LlmroofError, match="unknown model"):
        llmroof.analyze(model="no-such-model")
    with pytest.raises(LlmroofError):
        llmroof.analyze(model="llama-3.2-1b", tp=3)  # 32 heads do not split 3 ways


def test_load_errors_are_user_errors(tmp_path) -> None:
    with pytest.raises(LlmroofError, match="no such file"):
        llmroof.load(tmp_path / "missing.json")
    (tmp_path / "other.json").write_text('{"schema": "someone.else/1"}')
    with pytest.raises(LlmroofError, match="not one llmroof writes"):
        llmroof.load(tmp_path / "other.json")


def doc_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "api.md").read_text(), re.S)


def test_the_doc_has_its_example() -> None:
    assert len(doc_blocks()) == 2


@pytest.mark.slow
def test_docs_api_example_runs_as_written(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in doc_blocks():
        exec(compile(block, "docs/api.md", "exec"), namespace)  # noqa: S102
    assert (tmp_path / "run0" / "results.json").is_file()
    assert set(namespace["table"]["phase"]) == {"prefill", "decode"}
