"""``llmroof ceilings``: the machine's calibrated roofs (memory levels and compute), cached per machine."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Any

import typer

from llmroof.units import si


class CeilingsFormat(str, Enum):
    table = "table"
    json = "json"


def ceilings(
    device: str = typer.Option("auto", "--device", "-d", help="auto, cpu, cuda or cuda:N."),
    threads: int | None = typer.Option(
        None,
        "--threads",
        min=1,
        help="CPU threads for torch (default: torch's, as `llmroof profile` uses).",
    ),
    refresh: bool = typer.Option(
        False, "--refresh", help="Measure again even when the cache holds this machine."
    ),
    fmt: CeilingsFormat = typer.Option(
        CeilingsFormat.table, "--format", "-f", help="table or json."
    ),
) -> None:
    """Calibrate (or read back) this machine's ceilings: bandwidth of every memory level and compute per dtype.

    The first run measures for about 10-20 s on a CPU; later runs, and every `llmroof profile`, reuse the
    cached figures (per machine fingerprint, under $XDG_CACHE_HOME/llmroof) until --refresh.
    """
    import torch

    from llmroof.measure.ceilings_cache import calibrated, check_threads
    from llmroof.measure.device import open_device

    check_threads(threads)
    if threads is not None:
        torch.set_num_threads(threads)
    dev = open_device(device, torch)
    progress = (lambda _: None) if fmt is CeilingsFormat.json else _progress
    calibration = calibrated(
        dev,
        threads=None if dev.is_cuda else torch.get_num_threads(),
        refresh=refresh,
        progress=progress,
    )
    if calibration.note:
        print(f"llmroof: note: {calibration.note}", file=sys.stderr)
    from llmroof.results.records.ceilings import CeilingsRecord

    record = CeilingsRecord.from_dict(
        {"schema": CeilingsRecord.SCHEMA}
        | calibration.ceilings.to_dict()
        | {"calibration": calibration.to_dict()}
    ).to_dict()
    if fmt is CeilingsFormat.json:
        from llmroof.cli.render import print_json

        print_json(record)
    else:
        print_table(record)


def _progress(message: str) -> None:
    print(f"llmroof: {message}", file=sys.stderr)


def print_table(record: dict[str, Any]) -> None:
    from rich.table import Table

    from llmroof.cli.render import console, user

    out = console()
    cal = record["calibration"]
    out.print(
        f"[bold]{user(record['device_name'])}[/] ({record['device_kind']}"
        + (f", {record['threads']} threads" if record["threads"] else "")
        + f"): calibration {cal['status']}, "
        f"measured {cal['measured_at']} in {record['elapsed_s']:.1f} s ({record['plan']} plan)"
    )
    roofs = Table(
        title="Memory roofs (best round; spread = min / median / max of the rounds)",
        title_justify="left",
    )
    for column in ("level", "capacity", "roof", "pattern", "working set", "spread"):
        roofs.add_column(column, justify="left" if column in ("level", "pattern") else "right")
    by_key = {(f["pattern"], f["working_set_bytes"]): f for f in record["bandwidth"]}
    for level, roof in record["cache_bandwidth_bytes_per_s"].items():
        figure = next(f for f in by_key.values() if f["best_bytes_per_s"] == roof)
        roofs.add_row(
            level,
            si(record["cache_capacity_bytes"][level], "B"),
            si(roof, "B/s"),
            figure["pattern"],
            si(figure["working_set_bytes"], "B"),
            _spread(figure),
        )
    memory = by_key[
        (record["memory_bandwidth_pattern"], record["memory_bandwidth_working_set_bytes"])
    ]
    roofs.add_row(
        "DRAM",
        "-",
        si(record["memory_bandwidth_bytes_per_s"], "B/s"),
        memory["pattern"],
        si(memory["working_set_bytes"], "B"),
        _spread(memory),
    )
    out.print(roofs)
    patterns = ", ".join(
        f"{p} {si(v, 'B/s')}"
        for p, v in record["memory_bandwidth_by_pattern_bytes_per_s"].items()
        if v is not None
    )
    out.print(f"DRAM by pattern (best beyond the last-level cache): {patterns}")
    for level, measured in (record.get("overhead_bound_levels_bytes_per_s") or {}).items():
        out.print(
            f"{level}: measured {si(measured, 'B/s')}, slower than a level outside it: overhead-bound (its "
            "small probes time dispatch, not the cache), not kept as a roof"
        )
    floor = record.get("dispatch_floor_s")
    out.print(
        f"Dispatch floor ({record.get('dispatch_kind', 'op dispatch')}, the third wall): "
        + (si(floor, "s") if floor is not None else "not measured (llmroof ceilings --refresh)")
    )
    compute = Table(title="Compute roofs (F.linear, n x n by n x n)", title_justify="left")
    for column in ("dtype", "n", "roof", "spread"):
        compute.add_column(column, justify="left" if column == "dtype" else "right")
    for figure in record["compute"]:
        compute.add_row(
            figure["dtype"],
            str(figure["n"]),
            si(figure["best_flops_per_s"], "FLOP/s"),
            " / ".join(
                si(figure[k], "FLOP/s")
                for k in ("min_flops_per_s", "median_flops_per_s", "best_flops_per_s")
            ),
        )
    out.print(compute)
    out.print(f"Cache: {user(cal['cache_path'])} (refresh with --refresh)")


def _spread(figure: dict[str, Any]) -> str:
    return " / ".join(
        si(figure[k], "B/s") for k in ("min_bytes_per_s", "median_bytes_per_s", "best_bytes_per_s")
    )


def register(app: typer.Typer) -> None:
    app.command("ceilings")(ceilings)
