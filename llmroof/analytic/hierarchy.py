"""The hierarchical roofline: each op is set against the roof of the memory level its working set lives in.

As Nsight Compute draws it, a machine has one bandwidth roof per level of its memory hierarchy (L1, L2, L3,
DRAM or HBM). An op whose whole working set fits a cache can, at best, stream it at that cache's speed, so
its bound is that cache's roof; an op larger than the last-level cache streams from DRAM. Pure: numbers in,
numbers out (the roofs come from ``llmroof ceilings``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class MemoryLevel:
    """One level of the hierarchy."""

    name: str
    """``L1``, ``L2``, ``L3`` or ``DRAM``."""
    capacity_bytes: float
    """Bytes the level holds for the threads that run the op (infinite for DRAM)."""
    bandwidth_bytes_per_s: float
    """Measured roof of the level."""

    def __post_init__(self) -> None:
        if self.capacity_bytes <= 0 or self.bandwidth_bytes_per_s <= 0:
            raise ValueError(f"memory level {self.name}: capacity and bandwidth must be positive")


@dataclass(frozen=True, kw_only=True)
class MemoryHierarchy:
    """Cache levels, innermost first, and the DRAM (HBM) roof beyond them."""

    caches: tuple[MemoryLevel, ...]
    memory_bandwidth_bytes_per_s: float

    @property
    def levels(self) -> tuple[MemoryLevel, ...]:
        """The caches (each roof raised to at least the roof of every level outside it: a smaller level is
        never a lower bound than a larger one), then DRAM with unbounded capacity."""
        dram = MemoryLevel(
            name="DRAM",
            capacity_bytes=float("inf"),
            bandwidth_bytes_per_s=self.memory_bandwidth_bytes_per_s,
        )
        ordered = sorted(self.caches, key=lambda level: level.capacity_bytes)
        levels, floor = [dram], dram.bandwidth_bytes_per_s
        for level in reversed(ordered):
            floor = max(floor, level.bandwidth_bytes_per_s)
            levels.append(
                MemoryLevel(
                    name=level.name,
                    capacity_bytes=level.capacity_bytes,
                    bandwidth_bytes_per_s=floor,
                )
            )
        return tuple(reversed(levels))

    def place(self, working_set_bytes: float) -> MemoryLevel:
        """The innermost level whose capacity holds the whole working set."""
        return next(level for level in self.levels if working_set_bytes <= level.capacity_bytes)


def op_roof_time_s(
    *, flops: float, bytes_moved: float, hierarchy: MemoryHierarchy, peak_flops_per_s: float
) -> tuple[float, MemoryLevel]:
    """Roofline time of an op on its level: max(FLOPs / compute roof, bytes / that level's roof).

    The working set is the op's bytes moved (the analytic count reads and writes each tensor once).
    """
    level = hierarchy.place(bytes_moved)
    return max(flops / peak_flops_per_s, bytes_moved / level.bandwidth_bytes_per_s), level
