"""Communication cost: ring all-reduce and all-gather (tensor parallelism), point-to-point sends (pipeline
parallelism), and the pipeline bubble.

Ring all-reduce over n ranks moves 2(n-1)/n of the message over each link in 2(n-1) steps (Patarasuk and
Yuan 2009; the NCCL model behind nccl-tests' "bus bandwidth"); all-gather moves (n-1)/n in n-1 steps.
Bandwidths are per direction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from llmroof.specs.hardware import HardwareSpec


@dataclass(frozen=True)
class CommOp:
    """One collective or send on a phase's critical path, per instance (numbers, or arrays over a grid).

    The ``llmroof.analysis/1`` record's ``parallel.comm`` entries are this type
    (:class:`llmroof.results.records.analysis.CommEntry` adds only the file boundary)."""

    phase: str
    """``prefill`` or ``decode``."""
    name: str
    """``comm.attn_allreduce``, ``comm.pp_send``..."""
    kind: str
    """``all_reduce``, ``all_gather``, ``all_to_all`` or ``send_recv``."""
    bytes: float
    """Message size of one instance."""
    ranks: int
    """Ranks taking part."""
    link: str
    """Link name."""
    time_s: float
    """One instance."""
    count: int
    """Instances in the phase on one rank chain (every layer and micro-batch)."""


class Link(NamedTuple):
    """The path a collective runs over."""

    name: str
    bandwidth_bytes_per_s: float
    latency_s: float


def link_for(hardware: HardwareSpec, gpus: int) -> Link:
    """The intra-node link when ``gpus`` fit in one node, else the inter-node network."""
    if gpus <= hardware.gpus_per_node:
        return Link(
            hardware.link or "intra-node link",
            hardware.link_bandwidth_bytes_per_s,
            hardware.link_latency_s,
        )
    return Link(
        "inter-node network", hardware.internode_bandwidth_bytes_per_s, hardware.internode_latency_s
    )


def allreduce_time_s(nbytes: float, ranks: int, link: Link) -> float:
    """Ring all-reduce of an ``nbytes`` message: 2(n-1)/n * bytes / bandwidth + 2(n-1) * latency."""
    if ranks <= 1:
        return 0.0
    return (
        2 * (ranks - 1) / ranks * nbytes / link.bandwidth_bytes_per_s
        + 2 * (ranks - 1) * link.latency_s
    )


def allgather_time_s(nbytes: float, ranks: int, link: Link) -> float:
    """Ring all-gather producing ``nbytes`` on every rank: (n-1)/n * bytes / bandwidth + (n-1) * latency."""
    if ranks <= 1:
        return 0.0
    return (ranks - 1) / ranks * nbytes / link.bandwidth_bytes_per_s + (ranks - 1) * link.latency_s


def alltoall_time_s(nbytes: float, ranks: int, link: Link) -> float:
    """All-to-all in which each rank sends ``nbytes`` spread evenly over all ranks (expert-parallel dispatch or
    combine), pairwise exchange: (n-1)/n * bytes / bandwidth + (n-1) * latency."""
    if ranks <= 1:
        return 0.0
    return (ranks - 1) / ranks * nbytes / link.bandwidth_bytes_per_s + (ranks - 1) * link.latency_s


def p2p_time_s(nbytes: float, link: Link) -> float:
    """One send between neighbouring pipeline stages: bytes / bandwidth + latency."""
    return nbytes / link.bandwidth_bytes_per_s + link.latency_s


def bubble_fraction(pp: int, micro_batches: int) -> float:
    """GPipe's idle share of a pipeline with equal stages: (pp - 1) / (m + pp - 1)."""
    return (pp - 1) / (micro_batches + pp - 1)


def fit_ring_allreduce(
    sizes_bytes: Sequence[float], times_s: Sequence[float], ranks: int
) -> tuple[float, float] | None:
    """(B, λ): the ring all-reduce model t = 2(n-1)/n · S/B + 2(n-1) · λ least-squares fitted to measured
    (size, time) pairs, a line in S (exact through two points); λ clamped at 0. None with fewer than two
    sizes or ranks, or when the times do not grow with the size."""
    if len(set(sizes_bytes)) < 2 or ranks < 2:
        return None
    n = len(sizes_bytes)
    mean_x, mean_y = sum(sizes_bytes) / n, sum(times_s) / n
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(sizes_bytes, times_s)) / sum(
        (x - mean_x) ** 2 for x in sizes_bytes
    )
    if slope <= 0:
        return None
    intercept = mean_y - slope * mean_x
    return 2 * (ranks - 1) / ranks / slope, max(0.0, intercept / (2 * (ranks - 1)))


def pass_bubble_fraction(
    stage_times_s: Sequence[float], micro_batches: int, time_s: float
) -> float:
    """Idle share of the devices during one pass of ``micro_batches`` through the stages, which took
    ``time_s``: 1 - m * sum(T_j) / (pp * time_s). GPipe's (pp - 1) / (m + pp - 1) when the stages are even;
    0 with one stage."""
    pp = len(stage_times_s)
    if pp == 1 or time_s == 0:
        return 0.0
    return 1.0 - micro_batches * sum(stage_times_s) / (pp * time_s)
