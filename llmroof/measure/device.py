"""The device adapter: the one place that touches ``torch.cuda`` (or the host CPU) for timing, cache
flushes, memory figures and synchronisation.

``torch`` is imported lazily and can be injected, so tests drive the CUDA path with a fake module that
has the real names and shapes (``Event(enable_timing=True)``, ``record``, ``elapsed_time`` in ms,
``synchronize``, ``mem_get_info``, ``get_device_properties``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmroof.errors import LlmroofError

DEFAULT_LLC_BYTES = 32 * 2**20


def cpu_llc_bytes(sysfs: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> int:
    """Size of the host's last-level cache, read from sysfs (the highest cache level listed)."""
    best_level, best_size = 0, 0
    for index in sorted(sysfs.glob("index*")):
        try:
            level = int((index / "level").read_text())
            text = (index / "size").read_text().strip().upper()
        except (OSError, ValueError):
            continue
        scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
        try:
            size = int(text.rstrip("KMG")) * scale
        except ValueError:
            continue
        if level > best_level or (level == best_level and size > best_size):
            best_level, best_size = level, size
    return best_size or DEFAULT_LLC_BYTES


def cpu_model_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


@dataclass
class Device:
    """A compute device as the profiler sees it."""

    kind: str
    """``cpu`` or ``cuda``."""
    index: int
    name: str
    torch: Any
    """The torch module (or a fake)."""
    cache_bytes: int
    """Last-level cache (CPU) or L2 (GPU) in bytes: the size a flush must overwrite."""
    _flush_buffer: Any = None

    @property
    def torch_device(self) -> str:
        return "cpu" if self.kind == "cpu" else f"cuda:{self.index}"

    @property
    def is_cuda(self) -> bool:
        return self.kind == "cuda"

    def synchronize(self) -> None:
        if self.is_cuda:
            self.torch.cuda.synchronize(self.index)

    def flush_cache(self) -> None:
        """Overwrite a buffer twice the cache size, so the next timed call starts with a cold cache
        (L2 on a GPU, the last-level cache on the CPU)."""
        if self._flush_buffer is None:
            elements = 2 * self.cache_bytes // 4
            self._flush_buffer = self.torch.empty(
                elements, dtype=self.torch.int32, device=self.torch_device
            )
        self._flush_buffer.zero_()

    def memory_bytes(self) -> tuple[int, int]:
        """(free, total) bytes of the memory kernels allocate from: device memory, or host RAM."""
        if self.is_cuda:
            free, total = self.torch.cuda.mem_get_info(self.index)
            return int(free), int(total)
        pages = os.sysconf("SC_PHYS_PAGES")
        page = os.sysconf("SC_PAGE_SIZE")
        return _mem_available_bytes() or os.sysconf("SC_AVPHYS_PAGES") * page, pages * page

    def is_out_of_memory(self, exc: BaseException) -> bool:
        oom = getattr(getattr(self.torch, "cuda", None), "OutOfMemoryError", None)
        if oom is not None and isinstance(exc, oom):
            return True
        # CUDA says "out of memory"; torch's CPU allocator "DefaultCPUAllocator: can't allocate memory" (older
        # versions "not enough memory")
        text = str(exc).lower()
        return isinstance(exc, (MemoryError, RuntimeError)) and any(
            words in text
            for words in ("out of memory", "can't allocate memory", "not enough memory")
        )

    def capture_graph(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        """Capture ``fn`` in a CUDA graph (after a warm-up on a side stream) and return its replay."""
        cuda = self.torch.cuda
        stream = cuda.Stream()
        stream.wait_stream(cuda.current_stream())
        with cuda.stream(stream):
            for _ in range(3):
                fn()
        cuda.current_stream().wait_stream(stream)
        graph = cuda.CUDAGraph()
        with cuda.graph(graph):
            fn()
        return graph.replay

    def stopwatch(self) -> Callable[[Callable[[], Any]], Callable[[], float]]:
        """``stopwatch()(fn)`` runs ``fn`` and returns a function that gives its time in seconds.

        CUDA: a pair of timing events around the call, read after a later synchronisation (so many calls
        can be queued). CPU: perf_counter_ns around the call.
        """
        if self.is_cuda:
            cuda = self.torch.cuda

            def run_cuda(fn: Callable[[], Any]) -> Callable[[], float]:
                start, end = cuda.Event(enable_timing=True), cuda.Event(enable_timing=True)
                start.record()
                fn()
                end.record()
                return lambda: start.elapsed_time(end) / 1e3  # elapsed_time is in milliseconds

            return run_cuda

        def run_cpu(fn: Callable[[], Any]) -> Callable[[], float]:
            start = time.perf_counter_ns()
            fn()
            elapsed = (time.perf_counter_ns() - start) / 1e9
            return lambda: elapsed

        return run_cpu


def _mem_available_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def open_device(spec: str = "auto", torch: Any = None) -> Device:
    """``auto`` (CUDA when present, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``."""
    if torch is None:
        import torch as torch_module

        torch = torch_module
    spec = spec.strip().lower()
    has_cuda = bool(torch.cuda.is_available())
    if spec == "auto":
        spec = "cuda:0" if has_cuda else "cpu"
    if spec == "cpu":
        return Device("cpu", 0, cpu_model_name(), torch, cpu_llc_bytes())
    if spec == "cuda" or spec.startswith("cuda:"):
        if not has_cuda:
            raise LlmroofError(
                f"--device {spec}: no CUDA device is available",
                "use --device cpu, or install a CUDA build of torch on a GPU machine",
            )
        try:
            index = int(spec.partition(":")[2] or 0)
        except ValueError:
            raise LlmroofError(f"--device {spec!r}: expected cuda:N") from None
        count = torch.cuda.device_count()
        if not 0 <= index < count:
            raise LlmroofError(f"--device {spec}: there are {count} CUDA devices (0..{count - 1})")
        props = torch.cuda.get_device_properties(index)
        l2 = int(getattr(props, "L2_cache_size", 0) or 0) or 50 * 2**20
        torch.cuda.set_device(index)
        return Device("cuda", index, str(props.name), torch, l2)
    raise LlmroofError(f"--device {spec!r}: expected auto, cpu, cuda or cuda:N")
