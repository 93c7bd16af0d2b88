"""docs/ci.md's history workflow: its ``llmroof`` commands, run as the workflow runs them (bash, the job's
environment, GitHub's variables), on SQLite against seeded results: twenty pushes to main with a 10%
regression from the thirteenth, whose check fails naming that commit, then a pull request 20% slower whose
gate fails, and the trend page."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from history_fixtures import write_profile

yaml = pytest.importorskip("yaml")
DOC = Path(__file__).resolve().parents[1] / "docs" / "ci.md"


def workflow() -> dict:
    text = DOC.read_text()
    block = text.split("<!-- history-workflow -->", 1)[1].split("<!-- /history-workflow -->", 1)[0]
    return yaml.safe_load(block.split("```yaml", 1)[1].split("```", 1)[0])


def llmroof_steps(flow: dict, event: str) -> list[str]:
    """The run commands of the steps that run on ``event`` and call llmroof (not the profile: seeded)."""
    commands = []
    for step in flow["jobs"]["perf"]["steps"]:
        condition = str(step.get("if", ""))
        if "event_name" in condition and f"'{event}'" not in condition:
            continue
        run = step.get("run", "")
        if run.startswith("llmroof ") and not run.startswith("llmroof profile"):
            commands.append(run)
    return commands


def test_the_workflow_is_complete() -> None:
    flow = workflow()
    assert set(flow[True] if True in flow else flow["on"]) == {
        "pull_request",
        "push",
    }  # yaml reads `on` as True
    steps = flow["jobs"]["perf"]["steps"]
    runs = " ".join(str(s.get("run", "")) for s in steps)
    for needed in (
        "llmroof profile",
        "llmroof history add",
        "llmroof history check",
        "llmroof history show",
        "llmroof compare --history",
        "--format html",
    ):
        assert needed in runs
    assert any(str(s.get("uses", "")).startswith("actions/upload-artifact") for s in steps)


def run_step(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    shim = cwd / "bin"
    shim.mkdir(exist_ok=True)
    (shim / "llmroof").write_text(f'#!/bin/sh\nexec {sys.executable} -m llmroof "$@"\n')
    (shim / "llmroof").chmod(0o755)
    command = re.sub(r"\$\{\{[^}]*\}\}", "", command)
    return subprocess.run(
        ["bash", "-e", "-c", command],
        check=False,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "PATH": f"{shim}:{env['PATH']}"},
    )


@pytest.mark.slow  # about 25 Python processes
def test_the_workflow_s_commands_run_and_gate(tmp_path) -> None:
    flow = workflow()
    work = tmp_path / "checkout"
    work.mkdir()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "CI_", "BUILDKITE_"))
    }
    env |= {
        "LLMROOF_HISTORY": str(tmp_path / "history.sqlite"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_ACTIONS": "true",
    }
    commits = []
    for i in range(20):  # pushes to main
        commit = f"{i:02d}" + "5eed" * 9 + "ab"
        commits.append(commit)
        shutil.rmtree(work / "perf", ignore_errors=True)
        write_profile(
            work / "perf" / "new" / "results.json",
            seed=i,
            scale=1.10 if i >= 12 else 1.0,
            processes=2,
        )
        push = env | {"GITHUB_SHA": commit, "GITHUB_REF_NAME": "main", "GITHUB_EVENT_NAME": "push"}
        steps = llmroof_steps(flow, "push")
        # every push adds its run; check and the trend page are run once, after the last (for time)
        results = [run_step(c, work, push) for c in (steps if i == 19 else steps[:1])]
        assert "history add" in steps[0] and results[0].returncode == 0, results[0].stderr
    assert results[1].returncode == 1, (
        results[1].stdout + results[1].stderr
    )  # history check: the regression
    check = (work / "perf" / "check.md").read_text()
    assert commits[12][:10] in check and "REGRESSION" in check
    assert commits[12][:10] in (tmp_path / "summary.md").read_text()
    assert "<svg" in (work / "perf" / "trend.html").read_text()
    shutil.rmtree(work / "perf")
    write_profile(work / "perf" / "new" / "results.json", seed=77, scale=1.32, processes=3)
    pull = env | {
        "GITHUB_SHA": "9" * 40,
        "GITHUB_HEAD_REF": "feature",
        "GITHUB_BASE_REF": "main",
        "GITHUB_EVENT_NAME": "pull_request",
    }
    gate, trend = [run_step(c, work, pull) for c in llmroof_steps(flow, "pull_request")]
    assert gate.returncode == 1, (
        gate.stdout + gate.stderr
    )  # 20% slower than main's last 10 runs (at 1.10)
    assert "regression" in (work / "perf" / "compare.html").read_text()
    assert trend.returncode == 0, trend.stderr
