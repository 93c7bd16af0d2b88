"""The NVML sampler through a fake pynvml with the real names and shapes: bandwidth arithmetic, the
fallback order, alignment to timed regions, and every failure path; plus the real pynvml on this
driverless machine."""

from __future__ import annotations

import pytest

from fakes import FakeNvml
from llmroof.measure import nvml as nv


class ManualClock:
    """A clock the sampler's sleep advances; stops the sampler after ``ticks`` sleeps."""

    def __init__(self, ticks: int) -> None:
        self.now = 100.0
        self.ticks = ticks
        self.sampler: nv.Sampler | None = None

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.ticks -= 1
        if self.ticks <= 0 and self.sampler is not None:
            self.sampler._stop.set()


def run_sampler(fake: FakeNvml, ticks: int = 5, interval_s: float = 0.1, **locate) -> nv.Sampler:
    device, status = nv.open_nvml(fake, **(locate or {"index": 0}))
    clock = ManualClock(ticks)
    sampler = nv.Sampler(device, status, interval_s=interval_s, clock=clock, sleep=clock.sleep)
    clock.sampler = sampler
    sampler.start()
    sampler.stop()
    return sampler


def test_peak_bandwidth_from_clock_and_bus_width() -> None:
    assert nv.peak_dram_bandwidth(1215, 5120) == pytest.approx(1.555e12, rel=1e-3)  # A100 40GB
    device, _ = nv.open_nvml(FakeNvml(bus_width=5120, max_mem_clock=2619), index=0)
    assert device.peak_dram_bandwidth_bytes_per_s == pytest.approx(2 * 2619e6 * 5120 / 8)  # H100 SXM: 3.35 TB/s


def test_gpm_bandwidth_is_share_times_peak() -> None:
    fake = FakeNvml(gpm=True, dram_util=62.5)
    sampler = run_sampler(fake, ticks=4)
    assert sampler.status.source == "gpm" and sampler.error is None
    samples = sampler.samples
    assert len(samples) == 4
    peak = nv.peak_dram_bandwidth(1215, 5120)
    for s in samples:
        assert s.source == "gpm"
        assert s.dram_bw_util_percent == 62.5
        assert s.dram_bandwidth_bytes_per_s == pytest.approx(0.625 * peak)
        assert s.end_s - s.start_s == pytest.approx(0.1)  # consecutive GPM samples 100 ms apart
        assert s.sm_clock_mhz == 1410 and s.power_w == 250 and s.clock_event_reasons == ["sw_power_cap"]
    assert [s.start_s for s in samples[1:]] == [s.end_s for s in samples[:-1]]  # back-to-back windows
    assert fake.allocated == 0  # GPM samples freed


def test_gpm_windows_are_never_shorter_than_100_ms() -> None:
    sampler = run_sampler(FakeNvml(gpm=True), ticks=3, interval_s=0.01)
    assert sampler.interval_s == pytest.approx(0.1)
    assert all(s.end_s - s.start_s >= 0.1 - 1e-9 for s in sampler.samples)


def test_fallback_to_driver_memory_samples_is_labelled_time_busy() -> None:
    sampler = run_sampler(FakeNvml(gpm=False, mem_busy=37), ticks=3)
    assert sampler.status.source == "memory_utilization_samples"
    assert "not supported" in sampler.status.reason.lower()
    assert sampler.samples and all(s.mem_busy_percent == 37 and s.dram_bandwidth_bytes_per_s is None
                                   for s in sampler.samples)


def test_fallback_order_ends_at_utilization_rates() -> None:
    sampler = run_sampler(FakeNvml(gpm=False, fail=("nvmlDeviceGetSamples",), mem_busy=21), ticks=3)
    assert sampler.status.source == "utilization_rates"
    assert [s.mem_busy_percent for s in sampler.samples] == [21, 21, 21]
    none = run_sampler(FakeNvml(gpm=False, fail=("nvmlDeviceGetSamples", "nvmlDeviceGetUtilizationRates")))
    assert none.status.source is None and "nvmlDeviceGetUtilizationRates" in none.status.label
    assert none.samples == []


def test_an_nvml_error_mid_run_stops_the_sampler_not_the_caller() -> None:
    fake = FakeNvml(gpm=True, fail_after=3)
    sampler = run_sampler(fake, ticks=10)
    assert sampler.error is not None and "GPU is lost" in sampler.error
    assert len(sampler.samples) == 2  # what was sampled before the error is kept
    assert fake.allocated == 0


def test_unsupported_readings_are_none() -> None:
    sampler = run_sampler(FakeNvml(fail=("nvmlDeviceGetPowerUsage", "nvmlDeviceGetClockInfo",
                                         "nvmlDeviceGetCurrentClocksEventReasons")), ticks=2)
    assert sampler.samples[0].power_w is None and sampler.samples[0].sm_clock_mhz is None
    assert sampler.samples[0].clock_event_reasons == []


def test_device_matched_by_uuid_not_index() -> None:
    fake = FakeNvml(uuid="GPU-abcd")
    device, status = nv.open_nvml(fake, uuid="abcd")
    assert device is not None and "nvmlDeviceGetHandleByUUID" in fake.calls
    assert "nvmlDeviceGetHandleByIndex" not in fake.calls
    missing, status = nv.open_nvml(FakeNvml(uuid="GPU-abcd"), uuid="ffff")
    assert missing is None and "no NVML device with UUID ffff" in status.label


@pytest.mark.parametrize(("fake", "reason"), [
    (None, "pynvml) is not installed"),
    (FakeNvml(init_error=12), "NVML library not found"),
    (FakeNvml(init_error=9), "nvmlInit failed"),
])
def test_unavailable_paths(fake, reason) -> None:
    device, status = nv.open_nvml(fake, index=0)
    assert device is None and status.source is None and reason in status.label
    sampler = nv.Sampler(device, status).start()
    assert not sampler.running and sampler.stop() == []


def test_mig_slices_fall_back() -> None:
    fake = FakeNvml(gpm=True)
    fake.nvmlDeviceIsMigDeviceHandle = lambda handle: 1  # type: ignore[method-assign]
    sampler = run_sampler(fake, ticks=2)
    assert sampler.status.source == "memory_utilization_samples" and "MIG" in sampler.status.reason


def test_alignment_keeps_only_whole_windows_inside_a_region() -> None:
    samples = [nv.Sample(t, t + 0.1, "gpm", dram_bandwidth_bytes_per_s=1e12 * t) for t in (0.0, 0.1, 0.2, 0.3, 0.4)]
    inside = nv.samples_within(samples, 0.05, 0.45)
    assert [s.start_s for s in inside] == [0.1, 0.2, 0.3]  # 0.0-0.1 starts before, 0.4-0.5 ends after
    assert nv.samples_within(samples, 0.12, 0.18) == []


def test_summary_has_units_in_keys_and_throttle_reasons() -> None:
    samples = [nv.Sample(0, 1, "gpm", dram_bandwidth_bytes_per_s=v * 1e12, dram_bw_util_percent=v * 10,
                         clock_event_reasons=["sw_power_cap"] if v == 2 else []) for v in (1, 2, 3, 4)]
    summary = nv.summarize_samples(samples)
    assert summary["mean_dram_bandwidth_bytes_per_s"] == pytest.approx(2.5e12)
    assert summary["p50_dram_bandwidth_bytes_per_s"] == pytest.approx(2.5e12)
    assert summary["p95_dram_bandwidth_bytes_per_s"] == pytest.approx(3.85e12)
    assert summary["mean_mem_busy_percent"] is None
    assert summary["clock_event_reasons_seen"] == ["sw_power_cap"] and summary["sources"] == ["gpm"]
    assert nv.decode_reasons(0x1 | 0x40) == ["gpu_idle", "hw_thermal_slowdown"]


def test_real_pynvml_on_this_driverless_machine_is_cleanly_unavailable() -> None:
    pynvml = nv.load_pynvml()
    assert pynvml is not None  # nvidia-ml-py is a dependency
    device, status = nv.open_nvml(pynvml, index=0)
    if device is not None:
        pytest.skip("this machine has an NVIDIA driver")
    assert status.source is None
    assert status.label.startswith("unavailable: ")
    assert "NVML library not found" in status.label


def test_measure_region_replays_and_aligns() -> None:
    """A steady replay long enough that whole GPM windows fall inside it, on a fake clock."""
    fake = FakeNvml(gpm=True, dram_util=80.0)
    device, status = nv.open_nvml(fake, index=0)
    clock = ManualClock(ticks=10**9)
    sampler = nv.Sampler(device, status, interval_s=0.1, clock=clock, sleep=lambda s: None)
    # Drive the sampler by hand: emulate its thread producing back-to-back 100 ms windows.
    calls = []

    def kernel() -> None:
        calls.append(clock.now)
        clock.now += 0.01  # 10 ms per call
        if not sampler.samples or clock.now - sampler.samples[-1].end_s >= 0.1:
            last = sampler.samples[-1].end_s if sampler.samples else clock.now - 0.1
            sampler.samples.append(nv.Sample(last, last + 0.1, "gpm", dram_bw_util_percent=80.0,
                                             dram_bandwidth_bytes_per_s=0.8 * device.peak_dram_bandwidth_bytes_per_s))

    result = nv.measure_region(kernel, lambda: None, sampler, window_s=0.3, call_s=0.01, clock=clock,
                               wait=lambda s: None)
    assert result.end_s - result.start_s >= 0.5  # 0.3 s window + two 100 ms intervals
    assert result.samples is not None and result.samples >= 3 and result.calls == len(calls)
    assert result.measured_dram_bandwidth_bytes_per_s == pytest.approx(0.8 * device.peak_dram_bandwidth_bytes_per_s)

    # With no sample inside the loop, the result says so instead of inventing a figure.
    quiet = nv.Sampler(device, status, interval_s=0.1, clock=clock)

    def tick() -> None:
        clock.now += 0.05

    nothing = nv.measure_region(tick, lambda: None, quiet, window_s=0.1, clock=clock, wait=lambda s: None)
    assert nothing.samples == 0 and nothing.measured_dram_bandwidth_bytes_per_s is None
    assert nothing.reason is not None and "no whole sampling window" in nothing.reason


def test_profile_samples_nvml_on_a_fake_gpu_path() -> None:
    """profile's NVML record on a CUDA device whose NVML is a fake: status, peak, and the samples kept."""
    from types import SimpleNamespace

    from fakes import FakeTorch
    from llmroof.measure.device import open_device
    from llmroof.measure.profile import nvml_record, start_sampler

    torch = FakeTorch()
    torch.cuda.get_device_properties = lambda index: SimpleNamespace(  # type: ignore[method-assign]
        name="NVIDIA A100-SXM4-40GB", total_memory=40 * 2**30, L2_cache_size=40 * 2**20, uuid="1234")
    device = open_device("cuda", torch)
    config = SimpleNamespace(nvml=True, nvml_interval_ms=100.0, nvml_window_s=0.3)
    fake = FakeNvml(uuid="GPU-1234")
    sampler = start_sampler(config, device, fake)
    try:
        assert sampler.running and sampler.status.source == "gpm"
        assert "nvmlDeviceGetHandleByUUID" in fake.calls
    finally:
        sampler.stop()
    record = nvml_record(sampler, device, config)
    assert record.source == "gpm" and record.peak_dram_bandwidth_bytes_per_s == pytest.approx(1.5552e12)
    written = record.to_dict()  # on a GPU, reason and error are written even when null (docs/results-schema.md)
    assert {"status", "source", "reason", "interval_s", "replay_window_s", "error", "samples"} <= set(written)
    off = nvml_record(None, open_device("cpu"), config)
    assert off.status.startswith("off:")


def test_nvml_bytes_per_token_set_the_replay_against_the_analytic_stack() -> None:
    """A replay's measured DRAM bandwidth x the stack's time per call / tokens, beside the analytic bytes of
    the instantiated stack (its layers' ops N times, the rest once); a replay without a bandwidth is kept."""
    from llmroof.analytic import Workload, analyze
    from llmroof.measure.profile import ProfileConfig, nvml_bytes
    from llmroof.results.records.profile import NvmlReplay
    from llmroof.specs import get_model
    from llmroof.specs.dtypes import Precision
    from llmroof.specs.hardware import get_hardware

    model = get_model("llama-3.2-1b")
    config = ProfileConfig(model=model, batches=(4,), prompt_len=8, contexts=(64,), layers=2)
    decode = analyze(model, get_hardware("h100"), Workload(batch=4, prompt_len=1, context_len=64,
                                                           precision=Precision.uniform("bf16"))).decode
    replay = NvmlReplay(start_s=0.0, end_s=1.0, source="gpm", measured_dram_bandwidth_bytes_per_s=2e12)
    placed = nvml_bytes(replay, 1e-3, config, decode, "decode", 4, 64)
    stack = sum(op.bytes * (2 if op.name.startswith(("attn.", "mlp.")) else 1) for op in decode.ops)
    assert placed.measured_bytes_per_token == pytest.approx(2e12 * 1e-3 / 4)
    assert placed.analytic_bytes_per_token == pytest.approx(stack / 4)
    assert placed.measured_to_analytic_bytes_ratio == pytest.approx(2e12 * 1e-3 / stack)
    assert placed.start_s == 0.0 and placed.method and "GPM" in placed.method
    busy = NvmlReplay(start_s=0.0, end_s=1.0, source="utilization_rates", mem_busy_percent=40.0)
    assert nvml_bytes(busy, 1e-3, config, decode, "decode", 4, 64) is busy
