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


# --- calibration kernels (``llmroof ceilings``) ---------------------------------------------------

# Access patterns in the manner of the Empirical Roofline Toolkit and STREAM, with the arrays each touches;
# the bytes one call moves equal its working set (each array read or written once; write-allocate traffic
# is not counted, as STREAM does not).
PATTERN_ARRAYS = {"read": 1, "write": 1, "copy": 2, "triad": 3}


class BandwidthBuffers:
    """fp32 buffers for ``patterns`` up to ``max_working_set_bytes``; smaller working sets use their leading
    elements, so one allocation serves every size (``a``: the whole working set, read and written; ``c``:
    copy and triad destination; ``b``: triad's second source)."""

    def __init__(
        self,
        max_working_set_bytes: int,
        device: torch.device | str,
        patterns: tuple[str, ...] = tuple(PATTERN_ARRAYS),
    ) -> None:
        elements = max_working_set_bytes // 4
        self.a = torch.empty(elements, dtype=torch.float32, device=device).fill_(1.0)
        destination = max(
            (elements // PATTERN_ARRAYS[p] for p in patterns if p in ("copy", "triad")), default=0
        )
        self.c = torch.empty(destination, dtype=torch.float32, device=device).fill_(0.0)
        self.b = torch.empty(
            elements // 3 if "triad" in patterns else 0, dtype=torch.float32, device=device
        ).fill_(2.0)

    def probe(self, pattern: str, working_set_bytes: int) -> Probe:
        """A call that streams ``working_set_bytes`` in ``pattern``:
        read ``sum(a)``; write ``a <- 1``; copy ``c <- a``; triad ``c <- a + 3 b``."""
        n = working_set_bytes // 4 // PATTERN_ARRAYS[pattern]  # elements per array
        a, b, c = self.a[:n], self.b[:n], self.c[:n]
        fn: Callable[[], object] = {
            "read": lambda: a.sum(),
            "write": lambda: a.fill_(1.0),
            "copy": lambda: c.copy_(a),
            "triad": lambda: torch.add(a, b, alpha=3.0, out=c),
        }[pattern]
        return Probe(pattern, fn, bytes=float(n * 4 * PATTERN_ARRAYS[pattern]))


def linear_probe(n: int, dtype: torch.dtype, device: torch.device | str) -> Probe:
    """``F.linear`` of an n x n input by an n x n weight (the call the profiled projections make): 2 n^3 FLOPs."""
    x = weights.random((n, n), dtype, device)
    w = weights.random((n, n), dtype, device)
    return Probe("linear", lambda: torch.nn.functional.linear(x, w), flops=2.0 * n**3)


def dispatch_probe(device: torch.device | str) -> Probe:
    """The third wall: ``c <- a + b`` on one element, a call whose time is all dispatch (CPU: one aten op
    through the dispatcher; GPU: one kernel launch), timed back to back. ``bytes`` is 1: one call."""
    a = torch.ones(1, device=device)
    b = torch.ones(1, device=device)
    c = torch.empty(1, device=device)
    return Probe("dispatch", lambda: torch.add(a, b, out=c), bytes=1.0)
