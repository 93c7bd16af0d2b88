"""The roofs a trace's ops are set against: a device's datasheet (GPU traces) or this machine's calibrated
ceilings (CPU-only traces), and the launch/dispatch floor, the third wall."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llmroof.analytic.hierarchy import MemoryHierarchy
from llmroof.analytic.opcost import OpCost
from llmroof.specs.hardware import HardwareSpec


@dataclass(frozen=True, kw_only=True)
class Roofs:
    """Compute and memory roofs of one device at one dtype, and its launch floor."""

    name: str
    """Catalog name (``h100-sxm``), or ``cpu`` for calibrated ceilings."""
    source: str
    """``datasheet`` or ``calibrated``."""
    peak_flops_per_s: float | None
    memory_bandwidth_bytes_per_s: float
    hierarchy: MemoryHierarchy | None = None
    """Cache roofs (calibrated CPUs): an op whose bytes fit a cache is bounded by that cache's roof."""
    launch_floor_s: float | None = None
    """The least time one kernel launch (GPU) or one op dispatch (CPU) takes; None where not measured."""
    unmeasured_below_bytes: float = 0.0
    """Working sets up to this size fit only cache levels whose probes were overhead-bound (slower than a level
    outside them): no memory roof is known there, so such an op is bounded by compute and the dispatch floor."""
    link: Any = None
    """The GPU-to-GPU link (for the bound of collectives), datasheet devices only."""
    hardware: HardwareSpec | None = None

    def op_time_s(self, op: OpCost) -> tuple[float, str]:
        """(roofline time, ``memory`` or ``compute``) of one instance of ``op``."""
        bandwidth = self.memory_bandwidth_bytes_per_s
        if self.hierarchy is not None:
            bandwidth = self.hierarchy.place(op.bytes).bandwidth_bytes_per_s
        memory = op.bytes / bandwidth if op.bytes > self.unmeasured_below_bytes else 0.0
        compute = op.flops / self.peak_flops_per_s if self.peak_flops_per_s else 0.0
        return (compute, "compute") if compute > memory else (memory, "memory")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "peak_flops_per_s": self.peak_flops_per_s,
            "memory_bandwidth_bytes_per_s": self.memory_bandwidth_bytes_per_s,
            "launch_floor_s": self.launch_floor_s,
        }


def datasheet_roofs(
    hardware: HardwareSpec, dtype: str, gpus: int, launch_floor_s: float | None = None
) -> Roofs:
    from llmroof.analytic.comm import link_for

    return Roofs(
        name=hardware.name,
        source="datasheet",
        peak_flops_per_s=hardware.peak_flops(dtype),
        memory_bandwidth_bytes_per_s=hardware.memory_bandwidth_bytes_per_s,
        launch_floor_s=launch_floor_s,
        link=link_for(hardware, gpus),
        hardware=hardware,
    )


def calibrated_roofs(ceilings: Any, dtype: str) -> Roofs:
    """Roofs of a :class:`~llmroof.measure.ceilings.Ceilings` (this machine's calibration)."""
    compute = ceilings.compute_roof(dtype)
    overhead = set(ceilings.overhead_bound_levels())
    unmeasured = max((c.capacity_bytes for c in ceilings.caches if c.name in overhead), default=0)
    return Roofs(
        unmeasured_below_bytes=float(unmeasured),
        name="cpu" if ceilings.device_kind == "cpu" else ceilings.device_kind,
        source="calibrated",
        peak_flops_per_s=None if compute is None else compute.best_flops_per_s,
        memory_bandwidth_bytes_per_s=ceilings.memory_roof().best_bytes_per_s,
        hierarchy=ceilings.hierarchy(),
        launch_floor_s=ceilings.launch_floor_s,
    )


def machine_roofs(dtype: str, ceilings_file: str | None = None) -> Roofs:
    """This machine's calibrated CPU ceilings: from ``ceilings_file`` (``llmroof ceilings --format json``),
    else the calibration cache (measured now when it lacks this machine; imports torch)."""
    from llmroof.measure.ceilings import Ceilings

    if ceilings_file is not None:
        from llmroof.results.io import read_json

        data = read_json(ceilings_file)
        try:
            return calibrated_roofs(Ceilings.from_dict(data), dtype)
        except (KeyError, TypeError, ValueError) as exc:
            from llmroof.errors import LlmroofError

            raise LlmroofError(
                f"{ceilings_file}: not a ceilings file ({exc})",
                "write one with `llmroof ceilings --format json > ceilings.json`",
            ) from None
    import torch

    from llmroof.measure.ceilings_cache import calibrated
    from llmroof.measure.device import open_device

    calibration = calibrated(open_device("cpu", torch), threads=torch.get_num_threads())
    return calibrated_roofs(calibration.ceilings, dtype)
