"""``llmroof models`` and ``llmroof hardware``: list the catalogs."""

from __future__ import annotations

import typer

from llmroof.cli.options import HardwareFile, TableOrJson


def models(
    fmt: TableOrJson = typer.Option(TableOrJson.table, "--format", "-f", help="Output format."),
) -> None:
    """List the model presets (any Hugging Face config.json works too)."""
    from llmroof.report.console.catalogs import print_models

    print_models(fmt.value)


def hardware(
    fmt: TableOrJson = typer.Option(TableOrJson.table, "--format", "-f", help="Output format."),
    hardware_file: HardwareFile = None,
) -> None:
    """List the hardware catalog (dense peaks, per-direction link bandwidth)."""
    from llmroof.report.console.catalogs import print_hardware

    print_hardware(hardware_file, fmt.value)


def register(app: typer.Typer) -> None:
    app.command("models")(models)
    app.command("hardware")(hardware)
