"""The machine's own ceilings: memory bandwidth (read and copy probes) and compute (a matrix product).

Each probe returns the bytes or FLOPs one call moves or computes; the profiler times the call with the
common timer and divides. Buffers are at least 4x the last-level cache (CPU) or L2 (GPU), so the probe
reads memory, not cache.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from llmroof.kernels import weights


@dataclass
class Probe:
    """A callable and what one call moves (bytes) or computes (FLOPs)."""

    name: str
    fn: Callable[[], object]
    bytes: float = 0.0
    flops: float = 0.0


def bandwidth_buffer_bytes(cache_bytes: int, minimum: int = 256 * 2**20) -> int:
    """At least 4x the cache, and no less than ``minimum``."""
    return max(4 * cache_bytes, minimum)


def read_probe(nbytes: int, device: torch.device | str) -> Probe:
    """A reduction over a buffer: every byte read once, nothing written back but one scalar.

    fp32 buffer, summed: the reduction is far cheaper than the read, so it runs at memory speed.
    """
    buffer = weights.random((nbytes // 4,), torch.float32, device)
    return Probe("read", lambda: buffer.sum(), bytes=buffer.numel() * 4)


def copy_probe(nbytes: int, device: torch.device | str) -> Probe:
    """dst <- src: counts bytes read plus bytes written (2 x buffer)."""
    src = weights.random((nbytes // 4,), torch.float32, device)
    dst = torch.empty_like(src)
    return Probe("copy", lambda: dst.copy_(src), bytes=2 * src.numel() * 4)


def compute_probe(n: int, dtype: torch.dtype, device: torch.device | str) -> Probe:
    """An n x n x n matrix product in the compute dtype: 2 n^3 FLOPs."""
    a = weights.random((n, n), dtype, device)
    b = weights.random((n, n), dtype, device)
    out = torch.empty((n, n), dtype=dtype, device=device)
    return Probe("matmul", lambda: torch.matmul(a, b, out=out), flops=2.0 * n**3)
