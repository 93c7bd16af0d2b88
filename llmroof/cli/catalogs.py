"""``llmroof models`` and ``llmroof hardware``: list the catalogs."""

from __future__ import annotations

from typing import Any

from llmroof.cli.options import Given
from llmroof.cli.options import register as add_commands


def models(given: Given) -> None:
    from llmroof.report.console.catalogs import print_models

    print_models(given.fmt)


def hardware(given: Given) -> None:
    from llmroof.report.console.catalogs import print_hardware

    print_hardware(given.hardware_file, given.fmt)


def register(app: Any) -> None:
    add_commands(app, "catalogs", models=models, hardware=hardware)
