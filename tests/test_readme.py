"""The README's test command is the one CI runs (quiet flags aside), and it installs through the pinned
constraints/test.txt, which pins every dependency pyproject.toml names."""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / "constraints" / "test.txt"


def _normalise(command: str) -> str:
    return " ".join(part for part in command.split() if part != "-q")


def _name(requirement: str) -> str:
    """A requirement's project name, normalised as PEP 503 does (``Jinja2`` -> ``jinja2``)."""
    name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip())
    assert name, requirement
    return re.sub(r"[-_.]+", "-", name.group(0)).lower()


def _quick_start_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)\n```", quick_start, flags=re.DOTALL)


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.DOTALL)
    test_command = next(block for block in blocks if "pytest" in block).strip()
    ci_command = next(line for line in (ROOT / ".ci" / "run").read_text().splitlines() if "pytest" in line)
    assert _normalise(ci_command) == _normalise(test_command)
    assert "-c constraints/test.txt" in test_command


def test_the_quick_start_has_two_commands_one_profiles_one_tests() -> None:
    blocks = _quick_start_blocks()
    assert len(blocks) == 2 and "llmroof profile" in blocks[0] and "pytest" in blocks[1]


def test_the_constraints_pin_every_dependency_exactly() -> None:
    lines = [line for line in CONSTRAINTS.read_text().splitlines() if line and not line.startswith("#")]
    pins = {_name(line): line for line in lines}
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+==[0-9][^\s+;]*", line) for line in lines), lines
    assert "llmroof" not in pins and "pip" not in pins
    assert (ROOT / ".ci" / "lock").is_file() and "bash .ci/lock" in CONSTRAINTS.read_text()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    missing = [r for r in wanted if "python_version <" not in r and _name(r.split("[")[0]) not in pins]
    assert not missing, f"not pinned in constraints/test.txt (run `bash .ci/lock`): {missing}"
