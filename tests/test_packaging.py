"""The wheel ships every package: pyproject.toml lists packages by hand (kernels/ installs as
llmroof.kernels), so a new folder must be added there too."""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_folder_is_listed() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    found = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "llmroof").rglob("__init__.py")}
    found |= {"llmroof.kernels", "llmroof.templates"}
    assert (ROOT / "kernels" / "__init__.py").exists()
    assert setuptools["package-dir"] == {"llmroof.kernels": "kernels", "llmroof.templates": "reports/templates"}
    assert setuptools["package-data"]["llmroof.templates"] == ["*.j2"]
    assert listed == found, f"missing from pyproject.toml: {sorted(found - listed)}; extra: {sorted(listed - found)}"
