"""HBM bandwidth and clocks through NVML (``pynvml``, from the ``nvidia-ml-py`` package), sampled in a
background thread.

Sources, in the order tried (docs/nvml.md says what each measures and how far to trust it):

1. ``gpm``: GPU Performance Monitoring (Hopper and newer). Two GPM samples at least 100 ms apart give
   ``NVML_GPM_METRIC_DRAM_BW_UTIL``, the share of peak DRAM bandwidth used between them: bytes/s =
   share x peak.
2. ``memory_utilization_samples``: ``nvmlDeviceGetSamples(NVML_MEMORY_UTILIZATION_SAMPLES)``, the driver's
   own samples of the share of time the memory controller was busy. Time-busy, not bytes.
3. ``utilization_rates``: ``nvmlDeviceGetUtilizationRates().memory``, the same busy share over the driver's
   last period. Time-busy, not bytes.

Peak DRAM bandwidth from NVML: 2 x max memory clock x bus width / 8 (double data rate).
The NVML device is found by the CUDA device's UUID (or PCI bus id), so CUDA_VISIBLE_DEVICES cannot point
it at the wrong GPU. Any NVML error stops the sampler and is recorded; it never stops the run.
"""

from __future__ import annotations

import contextlib
import statistics
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from llmroof.measure.stats import quantile
from llmroof.results.records.profile import NvmlReplay, NvmlSample

GPM_MIN_WINDOW_S = 0.1

CLOCK_EVENT_REASONS = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}


def decode_reasons(mask: int) -> list[str]:
    """Names of the clock-event (throttle) reasons set in an NVML bitmask."""
    return [name for bit, name in CLOCK_EVENT_REASONS.items() if mask & bit]


def load_pynvml() -> Any:
    """The real ``pynvml`` module, or None where the package is not installed."""
    try:
        import pynvml

        return pynvml
    except ImportError:
        return None


Sample = NvmlSample
"""One sample (the record the results file keeps)."""


class NvmlDevice:
    """One GPU through NVML. Construct with :func:`open_nvml`; every call may raise ``nvml.NVMLError``."""

    def __init__(self, nvml: Any, handle: Any) -> None:
        self.nvml = nvml
        self.handle = handle
        bus_width_bits = nvml.nvmlDeviceGetMemoryBusWidth(handle)
        max_mem_clock_mhz = nvml.nvmlDeviceGetMaxClockInfo(handle, nvml.NVML_CLOCK_MEM)
        self.bus_width_bits = int(bus_width_bits)
        self.max_mem_clock_mhz = float(max_mem_clock_mhz)
        self.peak_dram_bandwidth_bytes_per_s = peak_dram_bandwidth(
            self.max_mem_clock_mhz, self.bus_width_bits
        )
        self.uuid = _text(nvml.nvmlDeviceGetUUID(handle))
        self.name = (
            _text(nvml.nvmlDeviceGetName(handle)) if hasattr(nvml, "nvmlDeviceGetName") else ""
        )

    def gpm_supported(self) -> tuple[bool, str]:
        nvml = self.nvml
        if not hasattr(nvml, "nvmlGpmQueryDeviceSupport"):
            return False, "this pynvml has no GPM functions"
        try:
            if hasattr(nvml, "nvmlDeviceIsMigDeviceHandle") and nvml.nvmlDeviceIsMigDeviceHandle(
                self.handle
            ):
                return False, "a MIG slice: device-level GPM is not available"
            if hasattr(nvml, "nvmlDeviceGetMigMode"):
                current, _ = nvml.nvmlDeviceGetMigMode(self.handle)
                if current:
                    return False, "MIG mode is on: device-level GPM is not available"
        except nvml.NVMLError:
            pass  # MIG queries are not supported on GPUs without MIG
        try:
            support = nvml.nvmlGpmQueryDeviceSupport(self.handle)
        except nvml.NVMLError as exc:
            return False, f"GPM query failed: {exc}"
        if not support.isSupportedDevice:
            return False, "GPM is not supported on this GPU (Hopper or newer needed)"
        return True, ""

    def clocks_power(self) -> dict[str, Any]:
        """SM and memory clocks, power, temperature and clock-event reasons; each None where unsupported."""
        nvml, h = self.nvml, self.handle
        out: dict[str, Any] = {}
        readers = {
            "sm_clock_mhz": lambda: float(nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_SM)),
            "mem_clock_mhz": lambda: float(nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_MEM)),
            "power_w": lambda: nvml.nvmlDeviceGetPowerUsage(h) / 1e3,  # milliwatts
            "temperature_c": lambda: float(
                nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU)
            ),
            "clock_event_reasons": lambda: decode_reasons(self._reasons()),
        }
        for key, read in readers.items():
            try:
                out[key] = read()
            except nvml.NVMLError:
                out[key] = [] if key == "clock_event_reasons" else None
        return out

    def _reasons(self) -> int:
        nvml = self.nvml
        if hasattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons"):
            return int(nvml.nvmlDeviceGetCurrentClocksEventReasons(self.handle))
        return int(nvml.nvmlDeviceGetCurrentClocksThrottleReasons(self.handle))


def peak_dram_bandwidth(max_mem_clock_mhz: float, bus_width_bits: int) -> float:
    """2 x max memory clock (Hz) x bus width (bits) / 8: bytes per second (A100 40GB: 1.555e12)."""
    return 2 * max_mem_clock_mhz * 1e6 * bus_width_bits / 8


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass
class Status:
    """Whether NVML sampling runs, from which source, or why not."""

    source: str | None
    reason: str = ""

    @property
    def label(self) -> str:
        return self.source if self.source else f"unavailable: {self.reason}"


def open_nvml(
    nvml: Any, *, uuid: str | None = None, pci_bus_id: str | None = None, index: int | None = None
) -> tuple[NvmlDevice | None, Status]:
    """Initialise NVML and find the GPU: by UUID, else PCI bus id, else index. Never raises."""
    if nvml is None:
        return None, Status(None, "the nvidia-ml-py package (pynvml) is not installed")
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        if getattr(exc, "value", None) == getattr(nvml, "NVML_ERROR_LIBRARY_NOT_FOUND", object()):
            return None, Status(None, "NVML library not found (no NVIDIA driver)")
        return None, Status(None, f"nvmlInit failed: {exc}")
    except OSError as exc:
        return None, Status(None, f"NVML library could not be loaded: {exc}")
    try:
        if uuid:
            handle = nvml.nvmlDeviceGetHandleByUUID(
                uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}"
            )
        elif pci_bus_id:
            handle = nvml.nvmlDeviceGetHandleByPciBusId(pci_bus_id)
        else:
            handle = nvml.nvmlDeviceGetHandleByIndex(index or 0)
        return NvmlDevice(nvml, handle), Status("pending")
    except nvml.NVMLError as exc:
        how = (
            f"UUID {uuid}"
            if uuid
            else f"PCI bus id {pci_bus_id}"
            if pci_bus_id
            else f"index {index or 0}"
        )
        return None, Status(None, f"no NVML device with {how}: {exc}")


class Sampler:
    """Samples one GPU in a background thread every ``interval_s`` until :meth:`stop`.

    ``clock`` gives the timestamps (perf_counter by default, the clock the profiler's regions use).
    """

    def __init__(
        self,
        device: NvmlDevice | None,
        status: Status,
        *,
        interval_s: float = 0.1,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.device = device
        self.status = status
        self.interval_s = max(interval_s, 0.001)
        self.clock = clock
        self.samples: list[Sample] = []
        self.error: str | None = None
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        if device is not None:
            self.status = self._choose_source()

    # --- source selection ---------------------------------------------------------------------------
    def _choose_source(self) -> Status:
        assert self.device is not None
        nvml = self.device.nvml
        ok, why_not_gpm = self.device.gpm_supported()
        if ok:
            if self.interval_s < GPM_MIN_WINDOW_S:
                self.interval_s = GPM_MIN_WINDOW_S  # GPM needs samples at least 100 ms apart
            return Status("gpm")
        try:
            nvml.nvmlDeviceGetSamples(self.device.handle, nvml.NVML_MEMORY_UTILIZATION_SAMPLES, 0)
            return Status("memory_utilization_samples", why_not_gpm)
        except nvml.NVMLError as exc:
            fallback_reason = f"{why_not_gpm}; nvmlDeviceGetSamples: {exc}"
        try:
            nvml.nvmlDeviceGetUtilizationRates(self.device.handle)
            return Status("utilization_rates", fallback_reason)
        except nvml.NVMLError as exc:
            return Status(None, f"{fallback_reason}; nvmlDeviceGetUtilizationRates: {exc}")

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Sampler:
        if self.device is not None and self.status.source:
            self._thread = threading.Thread(target=self._run, name="llmroof-nvml", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> list[Sample]:
        """Stop the thread and release NVML; returns the samples."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self.device is not None and hasattr(self.device.nvml, "nvmlShutdown"):
            with contextlib.suppress(self.device.nvml.NVMLError):
                self.device.nvml.nvmlShutdown()
        return self.snapshot()

    def snapshot(self) -> list[Sample]:
        with self._lock:
            return list(self.samples)

    def __enter__(self) -> Sampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the thread ------------------------------------------------------------------------------------
    def _run(self) -> None:
        assert self.device is not None
        nvml = self.device.nvml
        try:
            if self.status.source == "gpm":
                self._run_gpm()
            elif self.status.source == "memory_utilization_samples":
                self._run_driver_samples()
            else:
                self._run_utilization_rates()
        except nvml.NVMLError as exc:  # stops the sampler, never the run
            self.error = f"NVML error, sampling stopped: {exc}"
        except Exception as exc:
            self.error = f"sampler stopped: {type(exc).__name__}: {exc}"

    def _append(self, sample: Sample) -> None:
        sample.__dict__.update(self.device.clocks_power())  # type: ignore[union-attr]
        with self._lock:
            self.samples.append(sample)

    def _run_gpm(self) -> None:
        nvml, handle = self.device.nvml, self.device.handle  # type: ignore[union-attr]
        peak = self.device.peak_dram_bandwidth_bytes_per_s  # type: ignore[union-attr]
        previous, current = nvml.nvmlGpmSampleAlloc(), nvml.nvmlGpmSampleAlloc()
        try:
            nvml.nvmlGpmSampleGet(handle, previous)
            previous_t = self.clock()
            while not self._stop.is_set():
                self._sleep(self.interval_s)
                nvml.nvmlGpmSampleGet(handle, current)
                now = self.clock()
                share = _gpm_dram_util(nvml, previous, current)
                self._append(
                    Sample(
                        previous_t,
                        now,
                        "gpm",
                        dram_bw_util_percent=share,
                        dram_bandwidth_bytes_per_s=share / 100 * peak,
                    )
                )
                previous, current, previous_t = current, previous, now
        finally:
            nvml.nvmlGpmSampleFree(previous)
            nvml.nvmlGpmSampleFree(current)

    def _run_driver_samples(self) -> None:
        """The driver keeps a ring of (timestamp in us, busy %) samples; read the new ones each interval.

        Driver timestamps are wall-clock microseconds; each is mapped onto ``clock`` by the offset between
        the two clocks at read time, and a sample covers the gap since the previous one."""
        nvml, handle = self.device.nvml, self.device.handle  # type: ignore[union-attr]
        last_us = 0
        previous_end: float | None = None
        while not self._stop.is_set():
            offset = self.clock() - time.time()
            _, values = nvml.nvmlDeviceGetSamples(
                handle, nvml.NVML_MEMORY_UTILIZATION_SAMPLES, last_us
            )
            for value in sorted(values, key=lambda v: v.timeStamp):
                if value.timeStamp <= last_us:
                    continue
                end = value.timeStamp / 1e6 + offset
                start = previous_end if previous_end is not None else end - self.interval_s
                self._append(
                    Sample(
                        start,
                        end,
                        "memory_utilization_samples",
                        mem_busy_percent=float(_sample_value(value.sampleValue)),
                    )
                )
                previous_end, last_us = end, value.timeStamp
            self._sleep(self.interval_s)

    def _run_utilization_rates(self) -> None:
        nvml, handle = self.device.nvml, self.device.handle  # type: ignore[union-attr]
        previous_t = self.clock()
        while not self._stop.is_set():
            self._sleep(self.interval_s)
            rates = nvml.nvmlDeviceGetUtilizationRates(handle)
            now = self.clock()
            self._append(
                Sample(previous_t, now, "utilization_rates", mem_busy_percent=float(rates.memory))
            )
            previous_t = now


def _gpm_dram_util(nvml: Any, sample1: Any, sample2: Any) -> float:
    request = nvml.c_nvmlGpmMetricsGet_t()
    request.version = nvml.NVML_GPM_METRICS_GET_VERSION
    request.numMetrics = 1
    request.sample1 = sample1
    request.sample2 = sample2
    request.metrics[0].metricId = nvml.NVML_GPM_METRIC_DRAM_BW_UTIL
    nvml.nvmlGpmMetricsGet(request)
    metric = request.metrics[0]
    if getattr(metric, "nvmlReturn", 0):
        raise nvml.NVMLError(metric.nvmlReturn)
    return float(metric.value)


def _sample_value(value: Any) -> float:
    """nvmlValue_t is a union; memory utilisation samples are unsigned ints."""
    for name in ("uiVal", "ulVal", "ullVal", "dVal"):
        if hasattr(value, name):
            return float(getattr(value, name))
    return float(value)


# --- alignment and summaries (pure) ---------------------------------------------------------------


def samples_within(samples: Iterable[Sample], start_s: float, end_s: float) -> list[Sample]:
    """Samples whose whole window lies inside [start_s, end_s]: the ones that measured only that region."""
    return [s for s in samples if s.start_s >= start_s and s.end_s <= end_s]


SUMMARY_FIELDS = (
    "dram_bandwidth_bytes_per_s",
    "dram_bw_util_percent",
    "mem_busy_percent",
    "sm_clock_mhz",
    "mem_clock_mhz",
    "power_w",
    "temperature_c",
)


def summarize_samples(samples: list[Sample]) -> dict[str, Any]:
    """mean, p50 and p95 of every figure (``mean_dram_bandwidth_bytes_per_s``, ...), the sources, and every
    clock-event reason seen."""
    summary: dict[str, Any] = {"n": len(samples), "sources": sorted({s.source for s in samples})}
    for key in SUMMARY_FIELDS:
        values = sorted(getattr(s, key) for s in samples if getattr(s, key) is not None)
        summary[f"mean_{key}"] = statistics.fmean(values) if values else None
        summary[f"p50_{key}"] = quantile(values, 0.5) if values else None
        summary[f"p95_{key}"] = quantile(values, 0.95) if values else None
    summary["clock_event_reasons_seen"] = sorted(
        {r for s in samples for r in s.clock_event_reasons}
    )
    return summary


def measure_region(
    fn: Callable[[], Any],
    synchronize: Callable[[], None],
    sampler: Sampler,
    *,
    window_s: float = 0.3,
    call_s: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
    wait: Callable[[float], None] = time.sleep,
) -> NvmlReplay:
    """Replay ``fn`` in a steady loop for at least ``window_s`` (plus two sampling intervals, so whole
    windows fall inside) and average the NVML samples that lie wholly inside the loop.

    ``call_s`` (the kernel's measured time) sets how many calls are queued between synchronisations, so
    the GPU never idles waiting for the host. Returns the region, the aligned samples' summary and, for
    GPM, the measured DRAM bytes/s.
    """
    duration = window_s + 2 * sampler.interval_s
    batch = max(1, int(0.05 / call_s)) if call_s else 1
    start = clock()
    calls = 0
    while clock() - start < duration:
        for _ in range(batch):
            fn()
        calls += batch
        synchronize()
    end = clock()
    wait(sampler.interval_s * 1.5)  # let the sampler close the window that ends after the loop
    inside = samples_within(sampler.snapshot(), start, end)
    summary = summarize_samples(inside)
    return NvmlReplay(
        start_s=start,
        end_s=end,
        calls=calls,
        samples=len(inside),
        source=sampler.status.source,
        summary=summary,
        reason=None if inside else "no whole sampling window fell inside the replay",
        measured_dram_bandwidth_bytes_per_s=_mean(inside, "dram_bandwidth_bytes_per_s"),
        mem_busy_percent=_mean(inside, "mem_busy_percent"),
    )


def _mean(samples: list[Sample], figure: str) -> float | None:
    """The mean of one figure over the samples that have it (None where none does)."""
    values = sorted(v for s in samples if (v := getattr(s, figure)) is not None)
    return statistics.fmean(values) if values else None  # as summarize_samples' mean_* figures
