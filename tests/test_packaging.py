"""The wheel ships every package: pyproject.toml lists packages by hand (kernels/ installs as
llmroof.kernels), so a new folder must be added there too. And the top-level kernels/ folder never shadows
another `kernels` package (Hugging Face's, which transformers[serving] installs) for a process started from the
repository root, nor do the servers the tests start run there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
FIND_SPEC = ("import importlib.util, json; s = importlib.util.find_spec('kernels'); "
             "print(json.dumps(None if s is None else [s.origin, list(s.submodule_search_locations or [])]))")


def test_every_package_folder_is_listed() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    found = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "llmroof").rglob("__init__.py")}
    found |= {"llmroof.kernels", "llmroof.templates"}
    assert setuptools["package-dir"] == {"llmroof.kernels": "kernels", "llmroof.templates": "reports/templates"}
    assert setuptools["package-data"]["llmroof.templates"] == ["*.j2"]
    assert listed == found, f"missing from pyproject.toml: {sorted(found - listed)}; extra: {sorted(listed - found)}"


def test_kernels_is_a_namespace_portion_that_llmroof_links() -> None:
    """No kernels/__init__.py (a regular package here would win over every installed `kernels`); the symlink
    llmroof/kernels gives a checkout or an editable install the installed name."""
    assert not (ROOT / "kernels" / "__init__.py").exists()
    assert (ROOT / "kernels" / "ops.py").is_file()
    link = ROOT / "llmroof" / "kernels"
    assert link.is_symlink() and link.resolve() == (ROOT / "kernels").resolve()


def _find_kernels_from_root(pythonpath: Path | None = None) -> list | None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    done = subprocess.run([sys.executable, "-c", FIND_SPEC], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60, check=True)
    return json.loads(done.stdout)


def _inside_checkout(path: str | None) -> bool:
    """Whether ``path`` is the checkout's own source (not a virtual environment that happens to live in the
    checkout, as CI's .ci-venv does: packages installed there are the user's, not ours)."""
    if path is None:
        return False
    resolved = Path(path).resolve()
    venv = Path(sys.prefix).resolve()
    return resolved.is_relative_to(ROOT) and not resolved.is_relative_to(venv)


def test_find_spec_kernels_from_the_repository_root_never_names_a_package_of_the_checkout() -> None:
    """``python -c`` puts the working directory first on sys.path; the checkout's kernels/ must still not be
    found as a regular package (at most as a namespace portion, when no `kernels` is installed at all)."""
    found = _find_kernels_from_root()
    if found is not None:
        origin, _ = found
        assert not _inside_checkout(origin), f"the checkout's kernels/ is a regular package: {origin}"


def test_an_installed_kernels_package_wins_from_the_repository_root(tmp_path) -> None:
    """A regular `kernels` package later on sys.path (here on PYTHONPATH, as Hugging Face's in site-packages)
    is what ``import kernels`` gets from the repository root, nothing of the checkout."""
    package = tmp_path / "kernels"
    package.mkdir()
    (package / "__init__.py").write_text("CUDAProperties = object\n")
    origin, locations = _find_kernels_from_root(tmp_path)
    assert Path(origin) == package / "__init__.py"
    assert not any(_inside_checkout(p) for p in locations), locations


def test_the_installed_hugging_face_kernels_wins_from_the_repository_root() -> None:
    installed = subprocess.run([sys.executable, "-c", FIND_SPEC], cwd="/", capture_output=True, text=True,
                               timeout=60, check=True)
    if json.loads(installed.stdout) is None:
        pytest.skip("no `kernels` package is installed (transformers[serving] brings Hugging Face's)")
    origin, locations = _find_kernels_from_root()
    assert not _inside_checkout(origin) and not any(_inside_checkout(p) for p in locations), (origin, locations)


def test_servers_and_tests_run_outside_the_checkout(tmp_path) -> None:
    """The servers the bench tests start (``transformers serve``, the fake engine) and every subprocess a test
    starts run with a working directory outside the checkout (conftest.py moves the session there)."""
    from bench_servers import fake_engine, free_port

    assert not _inside_checkout(os.getcwd())
    proc = Path("/proc/self/cwd")
    if not proc.exists():
        pytest.skip("no /proc to read a process's working directory from")
    port = free_port()
    with fake_engine("ok", port, tmp_path / "server.log") as server:
        cwd = os.readlink(f"/proc/{server.pid}/cwd")
    assert not _inside_checkout(cwd), cwd
