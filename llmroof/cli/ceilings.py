"""``llmroof ceilings``: the machine's calibrated roofs (memory levels and compute), cached per machine."""

from __future__ import annotations

import sys

import typer

from llmroof.cli.options import Device, TableOrJson


def ceilings(
    device: Device = "auto",
    threads: int | None = typer.Option(
        None,
        "--threads",
        min=1,
        help="CPU threads for torch (default: torch's, as `llmroof profile` uses).",
    ),
    refresh: bool = typer.Option(
        False, "--refresh", help="Measure again even when the cache holds this machine."
    ),
    fmt: TableOrJson = typer.Option(TableOrJson.table, "--format", "-f", help="table or json."),
) -> None:
    """Calibrate (or read back) this machine's ceilings: bandwidth of every memory level and compute per dtype.

    The first run measures for about 10-20 s on a CPU; later runs, and every `llmroof profile`, reuse the
    cached figures (per machine fingerprint, under $XDG_CACHE_HOME/llmroof) until --refresh.
    """
    from llmroof.report.console.ceilings import print_result
    from llmroof.runs.ceilings import run_ceilings

    quiet = fmt is TableOrJson.json
    record = run_ceilings(
        device,
        threads=threads,
        refresh=refresh,
        progress=(lambda _: None) if quiet else lambda m: print(f"llmroof: {m}", file=sys.stderr),
        note=lambda note: print(f"llmroof: note: {note}", file=sys.stderr),
    )
    print_result(record, fmt.value)


def register(app: typer.Typer) -> None:
    app.command("ceilings")(ceilings)
