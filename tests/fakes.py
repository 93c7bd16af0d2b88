"""Fakes with the real APIs' names and shapes: ``torch.cuda`` (events, graphs, memory, properties) and the
``nvtx`` package. Tests inject them through the adapters; no GPU is needed."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace
from typing import Any


class FakeClock:
    """A device clock the fakes advance: each kernel call takes ``step_s``."""

    def __init__(self, step_s: float = 1e-3) -> None:
        self.now_s = 0.0
        self.step_s = step_s

    def tick(self) -> None:
        self.now_s += self.step_s


class FakeEvent:
    """torch.cuda.Event(enable_timing=True): record() stamps the clock; elapsed_time() is in ms."""

    def __init__(self, clock: FakeClock, enable_timing: bool = False) -> None:
        assert enable_timing, "llmroof must ask for timing events"
        self.clock = clock
        self.stamp_s: float | None = None

    def record(self, stream: Any = None) -> None:
        self.stamp_s = self.clock.now_s

    def elapsed_time(self, end: FakeEvent) -> float:
        assert self.stamp_s is not None and end.stamp_s is not None, "both events must be recorded"
        return (end.stamp_s - self.stamp_s) * 1e3


class FakeGraph:
    """torch.cuda.CUDAGraph: counts its replays (the fake records no device work)."""

    def __init__(self) -> None:
        self.replays = 0
        self.captured = False

    def replay(self) -> None:
        assert self.captured, "replay before capture"
        self.replays += 1


class FakeCuda:
    """The parts of ``torch.cuda`` llmroof uses."""

    OutOfMemoryError = type("OutOfMemoryError", (RuntimeError,), {})

    def __init__(self, clock: FakeClock, devices: int = 1, free: int = 70 * 2**30, total: int = 80 * 2**30) -> None:
        self.clock = clock
        self.devices = devices
        self.free, self.total = free, total
        self.synchronized = 0
        self.current = 0
        self.graphs: list[FakeGraph] = []
        self.capturing = False

    def is_available(self) -> bool:
        return self.devices > 0

    def device_count(self) -> int:
        return self.devices

    def set_device(self, index: int) -> None:
        self.current = index

    def get_device_properties(self, index: int) -> Any:
        return SimpleNamespace(name="NVIDIA H100 80GB HBM3", total_memory=self.total, L2_cache_size=50 * 2**20,
                               multi_processor_count=132, major=9, minor=0)

    def Event(self, enable_timing: bool = False) -> FakeEvent:  # noqa: N802 - torch's name
        return FakeEvent(self.clock, enable_timing)

    def synchronize(self, device: Any = None) -> None:
        self.synchronized += 1

    def mem_get_info(self, device: Any = None) -> tuple[int, int]:
        return self.free, self.total

    def empty_cache(self) -> None:
        pass

    def Stream(self) -> Any:  # noqa: N802
        return SimpleNamespace(wait_stream=lambda other: None)

    def current_stream(self) -> Any:
        return SimpleNamespace(wait_stream=lambda other: None)

    @contextlib.contextmanager
    def stream(self, stream: Any) -> Any:
        yield

    def CUDAGraph(self) -> FakeGraph:  # noqa: N802
        graph = FakeGraph()
        self.graphs.append(graph)
        return graph

    @contextlib.contextmanager
    def graph(self, graph: FakeGraph) -> Any:
        self.capturing = True
        yield
        self.capturing = False
        graph.captured = True


class FakeTensor:
    """Stands in for the flush buffer: zero_() is the flush."""

    def __init__(self, owner: FakeTorch) -> None:
        self.owner = owner

    def zero_(self) -> FakeTensor:
        self.owner.flushes += 1
        return self


class FakeTorch:
    """A torch module with a fake ``cuda`` and the few tensor calls the device adapter makes."""

    int32 = "int32"
    __version__ = "0.0-fake"
    version = SimpleNamespace(cuda="12.4")

    def __init__(self, clock: FakeClock | None = None, devices: int = 1, **memory: int) -> None:
        self.clock = clock or FakeClock()
        self.cuda = FakeCuda(self.clock, devices, **memory)
        self.flushes = 0

    def empty(self, *shape: Any, dtype: Any = None, device: Any = None) -> FakeTensor:
        return FakeTensor(self)

    def get_num_threads(self) -> int:
        return 1


class FakeNvtx:
    """The ``nvtx`` package: annotate(message, color=, domain=) as a context manager."""

    def __init__(self) -> None:
        self.ranges: list[tuple[str, str]] = []
        self.open = 0

    @contextlib.contextmanager
    def annotate(self, message: str | None = None, color: str | None = None, domain: str | None = None, **_: Any):
        self.ranges.append((message or "", domain or ""))
        self.open += 1
        try:
            yield
        finally:
            self.open -= 1
