"""The terminal tables of ``llmroof ceilings``: this machine's calibrated memory and compute roofs."""

from __future__ import annotations

from typing import Any

from llmroof.report.console.render import user
from llmroof.results.records.ceilings import CeilingsRecord
from llmroof.units import si


def print_result(ceilings: CeilingsRecord, fmt: str = "table") -> None:
    """The record as JSON, or as the tables of :func:`print_ceilings`, on stdout."""
    from llmroof.report.console.render import console, print_json

    if fmt == "json":
        print_json(ceilings.to_dict())
    else:
        print_ceilings(ceilings, console())


def print_ceilings(ceilings: CeilingsRecord, out: Any) -> None:
    """The device, its memory roofs (each cache level and DRAM), the dispatch floor and the compute
    roofs per dtype, on ``out``, a rich console."""
    from rich.table import Table

    cal = ceilings.calibration
    if cal is None:
        raise KeyError("calibration")
    out.print(
        f"[bold]{user(ceilings.device_name)}[/] ({ceilings.device_kind}"
        + (f", {ceilings.threads} threads" if ceilings.threads else "")
        + f"): calibration {cal.status}, "
        f"measured {cal.measured_at} in {ceilings.elapsed_s or 0:.1f} s ({ceilings.plan} plan)"
    )
    roofs = Table(
        title="Memory roofs (best round; spread = min / median / max of the rounds)",
        title_justify="left",
    )
    for column in ("level", "capacity", "roof", "pattern", "working set", "spread"):
        roofs.add_column(column, justify="left" if column in ("level", "pattern") else "right")
    figures = ceilings.bandwidth or ()
    for level, roof in ceilings.cache_bandwidth_bytes_per_s.items():
        figure = next(f for f in figures if f.best_bytes_per_s == roof)
        roofs.add_row(
            level,
            si((ceilings.cache_capacity_bytes or {})[level], "B"),
            si(roof, "B/s"),
            figure.pattern,
            si(figure.working_set_bytes, "B"),
            _spread(figure.min_bytes_per_s, figure.median_bytes_per_s, figure.best_bytes_per_s),
        )
    memory = next(
        f
        for f in figures
        if (f.pattern, f.working_set_bytes)
        == (ceilings.memory_bandwidth_pattern, ceilings.memory_bandwidth_working_set_bytes)
    )
    roofs.add_row(
        "DRAM",
        "-",
        si(ceilings.memory_bandwidth_bytes_per_s, "B/s"),
        memory.pattern,
        si(memory.working_set_bytes, "B"),
        _spread(memory.min_bytes_per_s, memory.median_bytes_per_s, memory.best_bytes_per_s),
    )
    out.print(roofs)
    patterns = ", ".join(
        f"{p} {si(v, 'B/s')}"
        for p, v in (ceilings.memory_bandwidth_by_pattern_bytes_per_s or {}).items()
        if v is not None
    )
    out.print(f"DRAM by pattern (best beyond the last-level cache): {patterns}")
    for level, measured in (ceilings.overhead_bound_levels_bytes_per_s or {}).items():
        out.print(
            f"{level}: measured {si(measured, 'B/s')}, slower than a level outside it: overhead-bound (its "
            "small probes time dispatch, not the cache), not kept as a roof"
        )
    floor = ceilings.dispatch_floor_s
    out.print(
        f"Dispatch floor ({ceilings.dispatch_kind or 'op dispatch'}, the third wall): "
        + (si(floor, "s") if floor is not None else "not measured (llmroof ceilings --refresh)")
    )
    compute = Table(title="Compute roofs (F.linear, n x n by n x n)", title_justify="left")
    for column in ("dtype", "n", "roof", "spread"):
        compute.add_column(column, justify="left" if column == "dtype" else "right")
    for linear in ceilings.compute or ():
        compute.add_row(
            linear.dtype,
            str(linear.n),
            si(linear.best_flops_per_s, "FLOP/s"),
            _spread(
                linear.min_flops_per_s, linear.median_flops_per_s, linear.best_flops_per_s, "FLOP/s"
            ),
        )
    out.print(compute)
    out.print(f"Cache: {user(cal.cache_path or '')} (refresh with --refresh)")


def _spread(low: float, mid: float, best: float, unit: str = "B/s") -> str:
    """min / median / max of a figure's rounds."""
    return " / ".join(si(v, unit) for v in (low, mid, best))
