"""The measurement layer: statistics, the timer, the device adapter (CPU, and CUDA through a fake
``torch.cuda``), NVTX ranges, and atomic results files."""

from __future__ import annotations

import json
import math
import os

import pytest

from llmroof.errors import LlmroofError
from llmroof.measure import nvtx
from llmroof.measure.device import Device, cpu_llc_bytes, open_device
from llmroof.measure.stats import quantile, summarize
from llmroof.measure.timer import bench
from llmroof.results.io import read_json, write_json_atomic
from fakes import FakeClock, FakeNvtx, FakeTorch


def test_summarize_known_values() -> None:
    stats = summarize([4.0, 1.0, 3.0, 2.0, 5.0])
    assert stats["n"] == 5
    assert stats["min_s"] == 1.0 and stats["max_s"] == 5.0
    assert stats["median_s"] == 3.0
    assert stats["p10_s"] == pytest.approx(1.4)
    assert stats["p90_s"] == pytest.approx(4.6)
    assert stats["iqr_s"] == pytest.approx(2.0)
    assert stats["cv"] == pytest.approx(math.sqrt(2.5) / 3)
    assert summarize([2.0])["cv"] == 0.0
    assert quantile([1.0, 2.0], 0.5) == 1.5
    with pytest.raises(ValueError):
        summarize([])


def cuda_device(torch: FakeTorch) -> Device:
    return open_device("cuda", torch)


def test_bench_on_cuda_uses_events_flushes_and_budgets() -> None:
    torch = FakeTorch()
    device = cuda_device(torch)
    calls = []

    def kernel() -> None:
        calls.append(torch.flushes)
        torch.clock.tick()  # the kernel takes 1 ms of device time

    samples = bench(kernel, device, warmup_ms=5, rep_ms=20)
    assert samples == [pytest.approx(1e-3)] * len(samples)
    assert len(samples) == 20  # 20 ms budget / 1 ms per call (flushes take no fake device time)
    # One flush before every timed call: the flush count rises between consecutive timed calls.
    timed = calls[-len(samples):]
    assert all(b == a + 1 for a, b in zip(timed, timed[1:]))
    assert torch.cuda.synchronized >= 3


def test_bench_clamps_repetitions() -> None:
    torch = FakeTorch(FakeClock(step_s=1.0))  # a slow kernel: 1 s per call
    device = cuda_device(torch)
    samples = bench(torch.clock.tick, device, warmup_ms=1, rep_ms=1, min_reps=3)
    assert len(samples) == 3
    fast = FakeTorch(FakeClock(step_s=1e-9))
    assert len(bench(fast.clock.tick, cuda_device(fast), rep_ms=100, max_reps=50)) == 50


def test_bench_on_the_cpu_returns_wall_time_samples() -> None:
    device = open_device("cpu")
    samples = bench(lambda: sum(range(1000)), device, warmup_ms=1, rep_ms=5, flush=False)
    assert len(samples) >= 3 and all(0 < s < 1 for s in samples)


def test_open_device_cuda_reads_properties_and_memory() -> None:
    torch = FakeTorch(free=10 * 2**30, total=80 * 2**30)
    device = open_device("cuda:0", torch)
    assert device.is_cuda and device.torch_device == "cuda:0"
    assert device.name == "NVIDIA H100 80GB HBM3"
    assert device.cache_bytes == 50 * 2**20
    assert device.memory_bytes() == (10 * 2**30, 80 * 2**30)
    assert open_device("auto", torch).is_cuda
    assert device.is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert not device.is_out_of_memory(ValueError("x"))


def test_cuda_graph_capture_replays_the_call() -> None:
    torch = FakeTorch()
    device = cuda_device(torch)
    calls: list[bool] = []
    replay = device.capture_graph(lambda: calls.append(torch.cuda.capturing))
    assert calls == [False, False, False, True]  # three warm-up calls on a side stream, then the capture
    graph = torch.cuda.graphs[-1]
    replay()
    replay()
    assert graph.replays == 2 and len(calls) == 4  # replays run the graph, not the Python function


@pytest.mark.parametrize(("spec", "message"), [("cuda", "no CUDA device"), ("cuda:3", "no CUDA device"),
                                               ("tpu", "expected auto, cpu, cuda")])
def test_open_device_errors_without_cuda(spec, message) -> None:
    with pytest.raises(LlmroofError, match=message):
        open_device(spec, FakeTorch(devices=0))


def test_open_device_index_out_of_range() -> None:
    with pytest.raises(LlmroofError, match="there are 1 CUDA devices"):
        open_device("cuda:3", FakeTorch(devices=1))
    assert not open_device("auto", FakeTorch(devices=0)).is_cuda


def test_cpu_llc_size_from_sysfs(tmp_path) -> None:
    for index, (level, size) in enumerate([(1, "32K"), (2, "1024K"), (3, "32768K")]):
        folder = tmp_path / f"index{index}"
        folder.mkdir()
        (folder / "level").write_text(f"{level}\n")
        (folder / "size").write_text(f"{size}\n")
    assert cpu_llc_bytes(tmp_path) == 32 * 2**20
    assert cpu_llc_bytes(tmp_path / "missing") == 32 * 2**20  # the default


def test_nvtx_ranges_in_the_llmroof_domain() -> None:
    fake = FakeNvtx()
    nvtx.set_module(fake)
    try:
        with nvtx.annotate("decode b=1 c=512"):
            assert fake.open == 1
        assert fake.ranges == [("decode b=1 c=512", "llmroof")]
    finally:
        nvtx.set_module(None)
    with nvtx.annotate("nothing happens"):  # a no-op without the package
        pass


def test_real_nvtx_package_is_called_with_its_own_api(monkeypatch) -> None:
    real = pytest.importorskip("nvtx")
    calls = []
    real_annotate = real.annotate

    def spy(message, color=None, domain=None):
        calls.append((message, color, domain))
        return real_annotate(message, color=color, domain=domain)  # the real range: its API must accept these

    monkeypatch.setattr(real, "annotate", spy)
    nvtx._loaded = False  # load the real package
    try:
        assert nvtx.available()
        with nvtx.annotate("real range", color="red"):
            assert calls == [("real range", "red", "llmroof")]
    finally:
        nvtx.set_module(None)


def test_atomic_write_leaves_no_partial_file(tmp_path) -> None:
    path = tmp_path / "out" / "results.json"
    write_json_atomic(path, {"schema": "llmroof.profile/1", "x": float("inf")})
    assert read_json(path, "llmroof.profile/") == {"schema": "llmroof.profile/1", "x": None}

    class Boom:
        pass

    with pytest.raises(TypeError):
        write_json_atomic(path, {"schema": "llmroof.profile/1", "bad": Boom()})
    assert json.loads(path.read_text())["x"] is None  # the old file is intact
    assert os.listdir(path.parent) == ["results.json"]  # no temporary left behind


def test_read_json_errors(tmp_path) -> None:
    bad = tmp_path / "r.json"
    bad.write_text('{"schema": "llmroof.profile/1", ')
    with pytest.raises(LlmroofError, match="truncated or corrupt"):
        read_json(bad)
    bad.write_text('{"schema": "other/1"}')
    with pytest.raises(LlmroofError, match="schema is 'other/1'"):
        read_json(bad, "llmroof.profile/")
    with pytest.raises(LlmroofError, match="no such file"):
        read_json(tmp_path / "missing.json")


def test_every_html_template_loads_from_one_environment() -> None:
    from llmroof.results.html import template_environment

    for name in ("report.html.j2", "compare.html.j2", "plan.html.j2"):
        env = template_environment(name)
        assert env.autoescape and env.get_template(name) is not None
    with pytest.raises(LlmroofError, match="missing"):
        template_environment("nope.html.j2")
