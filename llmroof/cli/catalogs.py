"""``llmroof models`` and ``llmroof hardware``: list the catalogs."""

from __future__ import annotations

from llmroof.cli.options import Given


def models(given: Given) -> None:
    from llmroof.report.console.catalogs import print_models

    print_models(given.fmt)


def hardware(given: Given) -> None:
    from llmroof.report.console.catalogs import print_hardware

    print_hardware(given.hardware_file, given.fmt)
