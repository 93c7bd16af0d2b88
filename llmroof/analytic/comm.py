"""Communication cost: ring all-reduce and all-gather (tensor parallelism), point-to-point sends (pipeline
parallelism), and the pipeline bubble.

Ring all-reduce over n ranks moves 2(n-1)/n of the message over each link in 2(n-1) steps (Patarasuk and
Yuan 2009; the NCCL model behind nccl-tests' "bus bandwidth"); all-gather moves (n-1)/n in n-1 steps.
Bandwidths are per direction.
"""

from __future__ import annotations

from typing import NamedTuple

from llmroof.specs.hardware import HardwareSpec


class Link(NamedTuple):
    """The path a collective runs over."""

    name: str
    bandwidth_bytes_per_s: float
    latency_s: float


def link_for(hardware: HardwareSpec, gpus: int) -> Link:
    """The intra-node link when ``gpus`` fit in one node, else the inter-node network."""
    if gpus <= hardware.gpus_per_node:
        return Link(hardware.link or "intra-node link", hardware.link_bandwidth_bytes_per_s, hardware.link_latency_s)
    return Link("inter-node network", hardware.internode_bandwidth_bytes_per_s, hardware.internode_latency_s)


def allreduce_time_s(nbytes: float, ranks: int, link: Link) -> float:
    """Ring all-reduce of an ``nbytes`` message: 2(n-1)/n * bytes / bandwidth + 2(n-1) * latency."""
    if ranks <= 1:
        return 0.0
    return 2 * (ranks - 1) / ranks * nbytes / link.bandwidth_bytes_per_s + 2 * (ranks - 1) * link.latency_s


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
