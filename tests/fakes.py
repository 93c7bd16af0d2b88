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


class FakeNvmlError(Exception):
    """pynvml.NVMLError: carries the NVML return code in ``value``."""

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return {3: "Not Supported", 12: "NVML Shared Library Not Found", 15: "GPU is lost"}.get(self.value, "Unknown Error")


class FakeGpmMetricsGet:
    """pynvml.c_nvmlGpmMetricsGet_t: version, numMetrics, sample1, sample2, metrics[i].metricId/value."""

    def __init__(self) -> None:
        self.version = 0
        self.numMetrics = 0
        self.sample1: Any = None
        self.sample2: Any = None
        self.metrics = [SimpleNamespace(metricId=0, nvmlReturn=0, value=0.0) for _ in range(4)]


class FakeNvml:
    """The parts of ``pynvml`` llmroof uses, with the real names, constants and return shapes.

    ``gpm``: whether GPM is supported; ``dram_util``: the DRAM bandwidth share GPM reports (percent);
    ``fail``: names of functions that raise NVMLError; ``fail_after``: GPM reads before the GPU is "lost".
    """

    NVMLError = FakeNvmlError
    NVML_ERROR_NOT_SUPPORTED = 3
    NVML_ERROR_LIBRARY_NOT_FOUND = 12
    NVML_ERROR_GPU_IS_LOST = 15
    NVML_CLOCK_SM = 1
    NVML_CLOCK_MEM = 2
    NVML_TEMPERATURE_GPU = 0
    NVML_MEMORY_UTILIZATION_SAMPLES = 2
    NVML_GPM_METRIC_DRAM_BW_UTIL = 10
    NVML_GPM_METRICS_GET_VERSION = 1
    c_nvmlGpmMetricsGet_t = FakeGpmMetricsGet

    def __init__(self, *, gpm: bool = True, dram_util: float = 50.0, mem_busy: int = 40, bus_width: int = 5120,
                 max_mem_clock: int = 1215, uuid: str = "GPU-1234", fail: tuple[str, ...] = (),
                 fail_after: int | None = None, init_error: int | None = None, reasons: int = 0x4) -> None:
        self.gpm, self.dram_util, self.mem_busy = gpm, dram_util, mem_busy
        self.bus_width, self.max_mem_clock, self.uuid = bus_width, max_mem_clock, uuid
        self.fail, self.fail_after, self.init_error, self.reasons = set(fail), fail_after, init_error, reasons
        self.calls: list[str] = []
        self.gpm_reads = 0
        self.allocated = 0
        self.driver_time_us = 1_000_000

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if name in self.fail:
            raise FakeNvmlError(self.NVML_ERROR_NOT_SUPPORTED)

    def nvmlInit(self) -> None:  # noqa: N802 - pynvml's names
        self._call("nvmlInit")
        if self.init_error is not None:
            raise FakeNvmlError(self.init_error)

    def nvmlShutdown(self) -> None:  # noqa: N802
        self._call("nvmlShutdown")

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802
        return 1

    def nvmlDeviceGetHandleByIndex(self, index: int) -> str:  # noqa: N802
        self._call("nvmlDeviceGetHandleByIndex")
        if index != 0:
            raise FakeNvmlError(2)
        return "handle0"

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> str:  # noqa: N802
        self._call("nvmlDeviceGetHandleByUUID")
        if uuid != self.uuid:
            raise FakeNvmlError(6)
        return "handle0"

    def nvmlDeviceGetHandleByPciBusId(self, bus_id: str) -> str:  # noqa: N802
        self._call("nvmlDeviceGetHandleByPciBusId")
        return "handle0"

    def nvmlDeviceGetUUID(self, handle: str) -> str:  # noqa: N802
        return self.uuid

    def nvmlDeviceGetName(self, handle: str) -> str:  # noqa: N802
        return "NVIDIA A100-SXM4-40GB"

    def nvmlDeviceGetMemoryBusWidth(self, handle: str) -> int:  # noqa: N802
        return self.bus_width

    def nvmlDeviceGetMaxClockInfo(self, handle: str, clock: int) -> int:  # noqa: N802
        assert clock == self.NVML_CLOCK_MEM
        return self.max_mem_clock

    def nvmlDeviceGetClockInfo(self, handle: str, clock: int) -> int:  # noqa: N802
        self._call("nvmlDeviceGetClockInfo")
        return 1410 if clock == self.NVML_CLOCK_SM else self.max_mem_clock

    def nvmlDeviceGetPowerUsage(self, handle: str) -> int:  # noqa: N802
        self._call("nvmlDeviceGetPowerUsage")
        return 250_000  # milliwatts

    def nvmlDeviceGetTemperature(self, handle: str, sensor: int) -> int:  # noqa: N802
        return 60

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: str) -> int:  # noqa: N802
        self._call("nvmlDeviceGetCurrentClocksEventReasons")
        return self.reasons

    def nvmlDeviceIsMigDeviceHandle(self, handle: str) -> int:  # noqa: N802
        return 0

    def nvmlDeviceGetMigMode(self, handle: str) -> tuple[int, int]:  # noqa: N802
        raise FakeNvmlError(self.NVML_ERROR_NOT_SUPPORTED)  # GPUs without MIG answer so

    def nvmlGpmQueryDeviceSupport(self, handle: str) -> Any:  # noqa: N802
        self._call("nvmlGpmQueryDeviceSupport")
        return SimpleNamespace(version=1, isSupportedDevice=int(self.gpm))

    def nvmlGpmSampleAlloc(self) -> Any:  # noqa: N802
        self.allocated += 1
        return SimpleNamespace(taken=None)

    def nvmlGpmSampleFree(self, sample: Any) -> None:  # noqa: N802
        self.allocated -= 1

    def nvmlGpmSampleGet(self, handle: str, sample: Any) -> Any:  # noqa: N802
        self._call("nvmlGpmSampleGet")
        self.gpm_reads += 1
        if self.fail_after is not None and self.gpm_reads > self.fail_after:
            raise FakeNvmlError(self.NVML_ERROR_GPU_IS_LOST)
        sample.taken = self.gpm_reads
        return sample

    def nvmlGpmMetricsGet(self, request: FakeGpmMetricsGet) -> FakeGpmMetricsGet:  # noqa: N802
        self._call("nvmlGpmMetricsGet")
        assert request.version == self.NVML_GPM_METRICS_GET_VERSION and request.numMetrics == 1
        assert request.sample1.taken is not None and request.sample2.taken is not None
        assert request.metrics[0].metricId == self.NVML_GPM_METRIC_DRAM_BW_UTIL
        request.metrics[0].value = self.dram_util
        return request

    def nvmlDeviceGetSamples(self, handle: str, sampling_type: int, last_seen: int) -> tuple[int, list[Any]]:  # noqa: N802
        self._call("nvmlDeviceGetSamples")
        assert sampling_type == self.NVML_MEMORY_UTILIZATION_SAMPLES
        self.driver_time_us += 100_000
        values = [SimpleNamespace(timeStamp=t, sampleValue=SimpleNamespace(uiVal=self.mem_busy))
                  for t in (self.driver_time_us - 50_000, self.driver_time_us) if t > last_seen]
        return 1, values

    def nvmlDeviceGetUtilizationRates(self, handle: str) -> Any:  # noqa: N802
        self._call("nvmlDeviceGetUtilizationRates")
        return SimpleNamespace(gpu=90, memory=self.mem_busy)
