"""Calibrated ceilings: the record and its roofs, the per-machine cache (with an injected measurement), the
hierarchical placement of ops, cache levels from sysfs, drift, and the ``llmroof ceilings`` CLI."""

from __future__ import annotations

import json

import pytest
from cli_runner import run_cli

from llmroof.analytic.hierarchy import MemoryHierarchy, MemoryLevel, op_roof_time_s
from llmroof.measure.ceilings import (PLANS, BandwidthFigure, CacheLevel, Ceilings, ComputeFigure, cpu_cache_levels,
                                      plan_from_env, working_sets)
from llmroof.measure.ceilings_cache import cache_dir, fingerprint_id, load_or_measure
from llmroof.errors import LlmroofError

KIB, MIB = 2**10, 2**20
CACHES = (CacheLevel(name="L1", capacity_bytes=64 * KIB, instance_bytes=32 * KIB, instances=2),
          CacheLevel(name="L2", capacity_bytes=2 * MIB, instance_bytes=MIB, instances=2),
          CacheLevel(name="L3", capacity_bytes=32 * MIB, instance_bytes=32 * MIB, instances=1))


def figure(pattern: str, size: int, *rounds_gb: float) -> BandwidthFigure:
    return BandwidthFigure(pattern=pattern, working_set_bytes=size,
                           rounds_bytes_per_s=tuple(r * 1e9 for r in rounds_gb))


def make_ceilings(**changes) -> Ceilings:
    values = dict(
        device_kind="cpu", device_name="test cpu", threads=2, plan="full", caches=CACHES, elapsed_s=12.0,
        bandwidth=(figure("read", 32 * KIB, 30, 40), figure("copy", 32 * KIB, 50, 60),
                   figure("read", MIB, 100, 120), figure("triad", MIB, 140, 130),
                   figure("read", 16 * MIB, 110, 125), figure("copy", 16 * MIB, 150, 90),
                   figure("read", 64 * MIB, 30, 31),  # 2x LLC: mixed, counts for no roof
                   figure("read", 128 * MIB, 22, 25, 28), figure("copy", 128 * MIB, 20, 26, 24),
                   figure("triad", 128 * MIB, 27, 29, 21), figure("write", 256 * MIB, 18, 19, 20)),
        compute=(ComputeFigure(dtype="fp32", n=1024, rounds_flops_per_s=(5e10, 5.5e10)),
                 ComputeFigure(dtype="bf16", n=512, rounds_flops_per_s=(0.9e11, 1.2e11)),
                 ComputeFigure(dtype="bf16", n=2048, rounds_flops_per_s=(1.1e11, 0.8e11))))
    values.update(changes)
    return Ceilings(**values)


# --- the record and its roofs --------------------------------------------------------------------

def test_memory_roof_is_the_best_of_any_pattern_beyond_the_llc() -> None:
    ceilings = make_ceilings()
    roof = ceilings.memory_roof()
    assert (roof.pattern, roof.working_set_bytes, roof.best_bytes_per_s) == ("triad", 128 * MIB, 29e9)
    data = ceilings.to_dict()
    assert data["memory_bandwidth_bytes_per_s"] == 29e9
    assert data["memory_bandwidth_spread_bytes_per_s"] == {"min": 21e9, "median": 27e9, "max": 29e9}
    assert data["memory_bandwidth_by_pattern_bytes_per_s"] == {"read": 28e9, "write": 20e9, "copy": 26e9,
                                                               "triad": 29e9}
    assert data["compute_flops_per_s"] == {"fp32": 5.5e10, "bf16": 1.2e11}  # the best of every size
    assert make_ceilings().compute_roof("bf16").n == 512


def test_cache_roofs_are_the_plateaus_of_sizes_that_fit_each_level() -> None:
    data = make_ceilings().to_dict()
    # L1: <= 64 KiB (copy 60); L2: 64 KiB..2 MiB (triad 140); L3: 2..32 MiB (copy 150); 64 MiB counts for none.
    assert {k: f.best_bytes_per_s for k, f in make_ceilings().measured_cache_roofs().items()} == \
        {"L1": 60e9, "L2": 140e9, "L3": 150e9}
    assert data["cache_capacity_bytes"] == {"L1": 64 * KIB, "L2": 2 * MIB, "L3": 32 * MIB}


def test_cache_roofs_are_monotone_slower_levels_are_overhead_bound() -> None:
    """L1 and L2 measured below L3 (their small probes time dispatch): reported, not kept as roofs."""
    data = make_ceilings().to_dict()
    assert data["cache_bandwidth_bytes_per_s"] == {"L3": 150e9}
    assert data["overhead_bound_levels_bytes_per_s"] == {"L1": 60e9, "L2": 140e9}
    roofs = [data["memory_bandwidth_bytes_per_s"], *reversed(data["cache_bandwidth_bytes_per_s"].values())]
    assert roofs == sorted(roofs)


def test_the_dispatch_floor_is_the_best_round_and_reads_back() -> None:
    ceilings = make_ceilings(dispatch_rounds_s=(3e-6, 2e-6, 4e-6))
    assert ceilings.launch_floor_s == 2e-6
    data = json.loads(json.dumps(ceilings.to_dict()))
    assert data["dispatch_floor_s"] == 2e-6
    assert Ceilings.from_dict(data) == ceilings
    assert make_ceilings().launch_floor_s is None  # a calibration from before the floor was measured


def test_the_record_reads_back() -> None:
    ceilings = make_ceilings()
    again = Ceilings.from_dict(json.loads(json.dumps(ceilings.to_dict())))
    assert again == ceilings


@pytest.mark.parametrize("damage", [
    lambda d: d.pop("bandwidth"),
    lambda d: d["bandwidth"][0].update(rounds_bytes_per_s=[]),
    lambda d: d["bandwidth"][0].update(rounds_bytes_per_s=[-1.0]),
    lambda d: d.update(bandwidth=[f for f in d["bandwidth"] if f["working_set_bytes"] < 128 * MIB]),
    lambda d: d["caches"][0].update(capacity_bytes="big"),
])
def test_malformed_records_raise(damage) -> None:
    data = make_ceilings().to_dict()
    damage(data)
    with pytest.raises((LlmroofError, ValueError)):
        Ceilings.from_dict(data)


def test_working_sets_double_up_to_beyond_the_llc() -> None:
    sizes = working_sets(PLANS["full"], 32 * MIB)
    assert sizes[0] == 16 * KIB and sizes[-1] == 4 * 32 * MIB
    assert all(b == 2 * a for a, b in zip(sizes, sizes[1:]))
    assert 4 * 24 * MIB in working_sets(PLANS["quick"], 24 * MIB)  # a DRAM size even off the doubling grid


def test_plan_comes_from_the_environment() -> None:
    assert plan_from_env({}).name == "full"
    assert plan_from_env({"LLMROOF_CALIBRATION": "quick"}).name == "quick"
    with pytest.raises(LlmroofError, match="LLMROOF_CALIBRATION"):
        plan_from_env({"LLMROOF_CALIBRATION": "slow"})


# --- cache levels --------------------------------------------------------------------------------

def _sysfs(tmp_path, entries):
    for i, (level, kind, size, shared) in enumerate(entries):
        index = tmp_path / f"index{i}"
        index.mkdir(parents=True)
        (index / "level").write_text(f"{level}\n")
        (index / "type").write_text(f"{kind}\n")
        (index / "size").write_text(f"{size}\n")
        (index / "shared_cpu_list").write_text(f"{shared}\n")
    return tmp_path


def test_cache_levels_from_sysfs_count_private_instances_per_thread(tmp_path) -> None:
    sysfs = _sysfs(tmp_path, [(1, "Data", "32K", "0"), (1, "Instruction", "32K", "0"), (2, "Unified", "1024K", "0"),
                              (3, "Unified", "32768K", "0-1")])
    levels = cpu_cache_levels(2, sysfs)
    assert [(c.name, c.capacity_bytes, c.instances) for c in levels] == [
        ("L1", 64 * KIB, 2), ("L2", 2 * MIB, 2), ("L3", 32 * MIB, 1)]
    assert cpu_cache_levels(1, sysfs)[1].capacity_bytes == MIB
    # An L3 per 8-core complex: 16 threads span two instances.
    assert cpu_cache_levels(16, _sysfs(tmp_path / "b", [(3, "Unified", "32M", "0-7")]))[0].capacity_bytes == 64 * MIB


def test_unreadable_sysfs_gives_no_levels(tmp_path) -> None:
    assert cpu_cache_levels(2, tmp_path / "missing") == ()


# --- the hierarchical roofline -------------------------------------------------------------------

HIERARCHY = MemoryHierarchy(caches=(MemoryLevel(name="L1", capacity_bytes=64 * KIB, bandwidth_bytes_per_s=60e9),
                                    MemoryLevel(name="L2", capacity_bytes=2 * MIB, bandwidth_bytes_per_s=140e9),
                                    MemoryLevel(name="L3", capacity_bytes=32 * MIB, bandwidth_bytes_per_s=120e9)),
                            memory_bandwidth_bytes_per_s=25e9)


@pytest.mark.parametrize(("working_set", "level", "roof"), [
    (4 * KIB, "L1", 140e9),  # an inner level's roof is raised to an outer one's: never a lower bound
    (64 * KIB, "L1", 140e9),
    (64 * KIB + 1, "L2", 140e9),
    (6.3e6, "L3", 120e9),  # the residual add of the issue: 6.3 MB fits L3
    (32 * MIB + 1, "DRAM", 25e9),
    (1e12, "DRAM", 25e9),
])
def test_ops_are_placed_on_the_level_their_working_set_fits(working_set, level, roof) -> None:
    placed = HIERARCHY.place(working_set)
    assert (placed.name, placed.bandwidth_bytes_per_s) == (level, roof)


def test_op_roof_time_is_the_larger_of_compute_and_its_level() -> None:
    time_s, level = op_roof_time_s(flops=1e6, bytes_moved=6.3e6, hierarchy=HIERARCHY, peak_flops_per_s=1e11)
    assert level.name == "L3" and time_s == pytest.approx(6.3e6 / 120e9)
    time_s, level = op_roof_time_s(flops=1e12, bytes_moved=1e9, hierarchy=HIERARCHY, peak_flops_per_s=1e11)
    assert level.name == "DRAM" and time_s == pytest.approx(10.0)


def test_calibrated_hierarchy_holds_the_measured_roofs() -> None:
    levels = make_ceilings().hierarchy().levels
    # L1 and L2 measured below L3 are overhead-bound: an op that fits them is set against L3's roof
    assert [(lv.name, lv.bandwidth_bytes_per_s) for lv in levels] == [("L3", 150e9), ("DRAM", 29e9)]


def test_profile_places_ops_on_the_hierarchy() -> None:
    from llmroof.measure.profile import place_op
    from llmroof.specs.hardware import HardwareSpec

    flat = HardwareSpec(name="m", display_name="m", memory_bytes=2**34, memory_bandwidth_bytes_per_s=25e9,
                        peak_flops_per_s={"bf16": 1e11}, link_bandwidth_bytes_per_s=1e9, link_latency_s=1e-5,
                        internode_bandwidth_bytes_per_s=1e9, internode_latency_s=1e-5, sources={})
    row = place_op(2.1e6, 6.3e6, HIERARCHY, flat, "bf16")
    assert row == {"roof_level": "L3", "roof_bandwidth_bytes_per_s": 120e9, "roof_time_s": pytest.approx(6.3e6 / 120e9)}
    assert place_op(2.1e6, 6.3e6, None, flat, "bf16")["roof_level"] == "DRAM"  # no calibration: the flat roof
    # the third wall: a small op (a norm over a few KB: ~66 ns at L3) is explained by a 2 us dispatch floor
    small = place_op(2e3, 8e3, HIERARCHY, flat, "bf16", launch_floor_s=2e-6)
    assert small["bound"] == "launch" and small["launch_floor_s"] == 2e-6
    assert "bound" not in place_op(2.1e6, 6.3e6, HIERARCHY, flat, "bf16", launch_floor_s=2e-6)  # 52 us: memory


def test_the_ceilings_record_is_built_by_field_and_writes_what_the_figures_give(tmp_path) -> None:
    """``llmroof ceilings --format json``: the record built from the calibration field by field writes
    the bytes that parsing the figures' JSON form (as llmroof did before) gives, with and without a
    dispatch floor; and its file reads back as the same record, figures included, and the same bytes."""
    from pathlib import Path

    from llmroof.measure.ceilings_cache import Calibration, ceilings_result
    from llmroof.results.records import CeilingsRecord, load
    from llmroof.results.records.ceilings import CalibrationInfo

    for ceilings in (make_ceilings(dispatch_rounds_s=(3e-6, 2e-6)), make_ceilings()):
        calibration = Calibration(ceilings=ceilings, path=Path("/c/cpu-x.json"), fingerprint={"host": "h"},
                                  fingerprint_id="x", measured_at="t", status="reused")
        record = ceilings_result(calibration)
        assert isinstance(record.calibration, CalibrationInfo)
        assert record.calibration.status == "reused" and record.calibration.plan == "full"
        parsed = CeilingsRecord.from_dict({"schema": "llmroof.ceilings/1", **ceilings.to_dict(),
                                           "calibration": record.calibration.to_dict()})
        assert json.dumps(record.to_dict()) == json.dumps(parsed.to_dict())
        assert record.dispatch_floor_s == ceilings.launch_floor_s
        assert record.calibration.to_dict() == {
            "cache_path": "/c/cpu-x.json", "fingerprint": {"host": "h"}, "fingerprint_id": "x",
            "measured_at": "t", "status": "reused", "note": None, "plan": "full", "method_version": 1}
        (tmp_path / "c.json").write_text(json.dumps(record.to_dict()))
        again = load(tmp_path / "c.json")
        assert again == record and json.dumps(again.to_dict()) == json.dumps(record.to_dict())
        assert again.bandwidth == ceilings.bandwidth and again.compute == ceilings.compute
        assert again.caches == ceilings.caches


def test_a_profiles_ceilings_are_built_by_field_and_write_what_the_figures_give() -> None:
    """A results file's ``ceilings`` (``measure.profile.ceilings_record``): the bytes that parsing the
    calibration's JSON form with the profile's keys gave, on a CPU with and without a dispatch floor and
    on a GPU (no threads); read back, the same record."""
    from llmroof.measure.profile import ceilings_record
    from llmroof.results.records.profile import Ceilings as RunCeilings

    for ceilings in (make_ceilings(dispatch_rounds_s=(3e-6, 2e-6)), make_ceilings(),
                     make_ceilings(device_kind="cuda", threads=None)):
        record = ceilings_record(ceilings, "bf16")
        parsed = RunCeilings.from_dict(ceilings.to_dict() | {
            "measured_bandwidth_bytes_per_s": 29e9, "measured_copy_bandwidth_bytes_per_s": 26e9,
            "measured_flops_per_s": 1.2e11, "compute_dtype": "bf16"})
        assert json.dumps(record.to_dict()) == json.dumps(parsed.to_dict())
        assert RunCeilings.from_dict(json.loads(json.dumps(record.to_dict()))) == record
        assert record.bandwidth == ceilings.bandwidth and record.caches == ceilings.caches
    with pytest.raises(LlmroofError, match="no fp16 compute roof"):
        ceilings_record(make_ceilings(), "fp16")


def test_a_calibration_reads_and_writes_back_as_the_file_has_it() -> None:
    """Calibrations of other versions and tools: only a fingerprint (the history fixtures: every key
    kept, in the record's order), keys this version does not know, a drift check made before the drift
    history and the compute probe (the same bytes)."""
    from llmroof.results.records.ceilings import CalibrationInfo

    fingerprint_only = {"fingerprint_id": "f00d", "fingerprint": {"host": "runner"}}
    assert CalibrationInfo.from_dict(fingerprint_only).to_dict() == fingerprint_only
    for data in (
        {"cache_path": "/c.json", "fingerprint": {}, "fingerprint_id": "x", "measured_at": "t",
         "status": "reused", "note": None, "plan": "full", "method_version": 1,
         "drift": {"start": {"working_set_bytes": 1, "probes": {}, "drift_fraction": None,
                             "beyond_spread": False}, "end": None}, "later": [1]},
    ):
        info = CalibrationInfo.from_dict(json.loads(json.dumps(data)))
        assert json.dumps(info.to_dict()) == json.dumps(data)
    assert info.drift_checks()[0][1].history is None and info.extra == {"later": [1]}


# --- the calibration cache -----------------------------------------------------------------------

class CountingMeasure:
    """A quick fake measurement: returns a fixed record and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> Ceilings:
        self.calls += 1
        return make_ceilings(elapsed_s=float(self.calls))


PRINT = {"device_kind": "cpu", "device_name": "test cpu", "threads": 2, "torch": "2.x", "plan": "full",
         "method_version": 1}


def test_a_second_calibration_reuses_the_cache(tmp_path) -> None:
    measure = CountingMeasure()
    first = load_or_measure(PRINT, measure, directory=tmp_path)
    second = load_or_measure(PRINT, measure, directory=tmp_path)
    assert measure.calls == 1 and (first.status, second.status) == ("measured", "reused")
    assert second.ceilings == first.ceilings and second.measured_at == first.measured_at
    assert first.path == tmp_path / f"cpu-{fingerprint_id(PRINT)}.json"
    assert json.loads(first.path.read_text())["fingerprint"] == PRINT
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left behind


def test_the_cache_file_is_its_record_and_a_0_2_0_cache_is_reused(tmp_path) -> None:
    """The cache has its own schema, read by ``llmroof.load()``; a cache written before it had one
    (0.2.0: ``llmroof.ceilings/1``, the results schema) is reused, not measured again."""
    import llmroof
    from llmroof.results.records import CeilingsCacheRecord

    measure = CountingMeasure()
    first = load_or_measure(PRINT, measure, directory=tmp_path)
    record = llmroof.load(first.path, CeilingsCacheRecord)
    assert record.SCHEMA == "llmroof.ceilings.cache/1" and record.fingerprint == PRINT
    assert record.measured_at == first.measured_at and record.ceilings == first.ceilings.to_dict()
    assert record.to_dict() == json.loads(first.path.read_text())
    old = record.to_dict() | {"schema": "llmroof.ceilings/1"}
    first.path.write_text(json.dumps(old))
    again = load_or_measure(PRINT, measure, directory=tmp_path)
    assert measure.calls == 1 and again.status == "reused" and again.ceilings == first.ceilings


def test_a_changed_fingerprint_measures_again(tmp_path) -> None:
    measure = CountingMeasure()
    load_or_measure(PRINT, measure, directory=tmp_path)
    for change in ({"threads": 1}, {"torch": "2.y"}, {"device_name": "other cpu"}, {"method_version": 2}):
        calibration = load_or_measure(PRINT | change, measure, directory=tmp_path)
        assert calibration.status == "measured"
    assert measure.calls == 5


def test_refresh_measures_again_and_replaces_the_cache(tmp_path) -> None:
    measure = CountingMeasure()
    load_or_measure(PRINT, measure, directory=tmp_path)
    refreshed = load_or_measure(PRINT, measure, directory=tmp_path, refresh=True)
    assert measure.calls == 2 and refreshed.status == "refreshed"
    assert load_or_measure(PRINT, measure, directory=tmp_path).ceilings.elapsed_s == 2.0


@pytest.mark.parametrize(("damage", "reason"), [
    (lambda text: text[: len(text) // 2], "cannot read"),
    (lambda text: "\x00\xff garbage", "cannot read"),
    (lambda text: "[]", "not a calibration file"),
    (lambda text: text.replace('"method_version": 1', '"method_version": 0', 1), "method version 0"),
    (lambda text: text.replace('"threads": 2', '"threads": 3', 1), "fingerprint differs"),
    (lambda text: text.replace('"rounds_bytes_per_s"', '"rounds"'), "malformed"),
])
def test_a_corrupt_or_foreign_cache_file_is_measured_again(tmp_path, damage, reason) -> None:
    measure = CountingMeasure()
    path = load_or_measure(PRINT, measure, directory=tmp_path).path
    path.write_text(damage(path.read_text()))
    calibration = load_or_measure(PRINT, measure, directory=tmp_path)
    assert measure.calls == 2 and calibration.status == "remeasured"
    assert reason in calibration.note and str(path) in calibration.note
    assert load_or_measure(PRINT, measure, directory=tmp_path).status == "reused"  # and the cache is whole again


def test_an_unwritable_cache_is_a_note_not_a_crash(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    calibration = load_or_measure(PRINT, CountingMeasure(), directory=blocker / "sub")
    assert calibration.status == "measured" and "not cached" in calibration.note


def test_the_cache_lives_under_xdg_cache_home(tmp_path) -> None:
    assert cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "llmroof" / "ceilings"
    assert cache_dir({"XDG_CACHE_HOME": "relative"}).parts[-3:] == (".cache", "llmroof", "ceilings")


def test_tests_never_write_the_real_cache(tmp_path_factory) -> None:
    assert str(cache_dir()).startswith(str(tmp_path_factory.getbasetemp()))


# --- drift ---------------------------------------------------------------------------------------

def test_a_drift_probe_faster_than_the_calibration_raises_the_roof(tmp_path) -> None:
    import dataclasses

    from llmroof.measure.ceilings import raise_roofs
    from llmroof.measure.ceilings_cache import save_raised
    from llmroof.results.records.ceilings import BandwidthProbe, ComputeProbe, DriftCheck

    ceilings = make_ceilings()

    def probe(gb: float, max_gb: float) -> BandwidthProbe:
        return BandwidthProbe(measured_bytes_per_s=gb * 1e9, calibration_median_bytes_per_s=25e9,
                              calibration_min_bytes_per_s=20e9, calibration_max_bytes_per_s=max_gb * 1e9,
                              drift_fraction=gb / 25 - 1, beyond_spread=False)

    def drift(read_gb: float, copy_gb: float) -> DriftCheck:
        return DriftCheck(working_set_bytes=128 * MIB, drift_fraction=0.0, beyond_spread=False,
                          probes={"read": probe(read_gb, 28), "copy": probe(copy_gb, 26)})

    assert raise_roofs(ceilings, drift(27, 26)) is None  # nothing beat its figure's best: the roof stays
    raised = raise_roofs(ceilings, drift(27, 33))
    assert raised is not None
    copy = next(f for f in raised.bandwidth if (f.pattern, f.working_set_bytes) == ("copy", 128 * MIB))
    assert copy.rounds_bytes_per_s == (20e9, 26e9, 24e9, 33e9)
    assert raised.memory_roof().best_bytes_per_s == 33e9 and ceilings.memory_roof().best_bytes_per_s == 29e9
    assert raised.compute == ceilings.compute
    faster_bf16 = dataclasses.replace(drift(27, 26), compute={"bf16": ComputeProbe(
        n=512, measured_flops_per_s=1.5e11, calibration_median_flops_per_s=1.05e11,
        calibration_max_flops_per_s=1.2e11, drift_fraction=1.5 / 1.05 - 1)})
    raised = raise_roofs(ceilings, faster_bf16)
    assert raised.compute_roofs() == {"fp32": 5.5e10, "bf16": 1.5e11}
    assert raised.compute_roof("bf16").rounds_flops_per_s == (0.9e11, 1.2e11, 1.5e11)
    path = load_or_measure(PRINT, CountingMeasure(), directory=tmp_path).path
    assert save_raised(path, raised) is None
    from llmroof.results.records import CeilingsCacheRecord

    saved = CeilingsCacheRecord.from_dict(json.loads(path.read_text()))
    assert saved.raised_at is not None and not saved.extra  # every key a field of the cache's record
    again = load_or_measure(PRINT, CountingMeasure(), directory=tmp_path)
    assert again.status == "reused" and again.ceilings == raised
    assert "not updated" in save_raised(tmp_path / "missing.json", raised)


def test_drift_beyond_the_spread_is_a_warning() -> None:
    from llmroof.measure.profile import drift_notes
    from llmroof.results.records.ceilings import CalibrationInfo, DriftCheck, DriftChecks

    def calibration(start: DriftCheck | None, end: DriftCheck | None) -> CalibrationInfo:
        return CalibrationInfo(fingerprint={}, fingerprint_id="x", measured_at="t",
                               drift=DriftChecks(start=start, end=end))

    def check(fraction: float, beyond: bool) -> DriftCheck:  # as files made before drift history have it
        return DriftCheck(working_set_bytes=MIB, probes={}, drift_fraction=fraction, beyond_spread=beyond)

    quiet, moved = check(0.02, False), check(-0.41, True)
    assert drift_notes(calibration(quiet, None)) == []
    notes = drift_notes(calibration(quiet, moved))
    assert len(notes) == 1 and "end" in notes[0] and "-41%" in notes[0]
    assert drift_notes(None) == []


@pytest.mark.slow
def test_drift_check_measures_against_the_calibration() -> None:
    import torch

    from llmroof.measure.ceilings import calibrate, drift_check
    from llmroof.measure.device import open_device

    device = open_device("cpu", torch)
    ceilings = calibrate(device, threads=torch.get_num_threads(), plan=PLANS["quick"])
    drift = drift_check(device, ceilings, budget_ms=1.0, dtype="fp32")
    assert drift.working_set_bytes == ceilings.memory_roof().working_set_bytes
    assert drift.compute is not None and drift.compute["fp32"].measured_flops_per_s > 0
    assert set(drift.probes) == {"read", "copy"}
    for probe in drift.probes.values():
        assert probe.measured_bytes_per_s > 0
        assert probe.drift_fraction == pytest.approx(probe.measured_bytes_per_s
                                                     / probe.calibration_median_bytes_per_s - 1)


# --- the CLI -------------------------------------------------------------------------------------

def test_cli_ceilings_json_then_reuse_then_refresh(capsys, tmp_path) -> None:
    code, out, _ = run_cli(capsys, "ceilings", "--device", "cpu", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["schema"] == "llmroof.ceilings/1"
    for key in ("memory_bandwidth_bytes_per_s", "compute_flops_per_s", "cache_bandwidth_bytes_per_s",
                "cache_capacity_bytes", "bandwidth", "compute", "method"):
        assert key in data
    assert set(data["compute_flops_per_s"]) == {"fp32", "bf16", "fp16"}
    assert set(data["cache_bandwidth_bytes_per_s"]) <= set(data["cache_capacity_bytes"])
    assert data["calibration"]["plan"] == "quick"
    # the third wall, and monotone roofs: inner levels at least as fast as outer ones, or reported apart
    assert 0 < data["dispatch_floor_s"] < 1e-3 and data["dispatch_kind"] == "op dispatch"
    roofs = [data["memory_bandwidth_bytes_per_s"], *reversed(data["cache_bandwidth_bytes_per_s"].values())]
    assert roofs == sorted(roofs)
    assert not set(data["overhead_bound_levels_bytes_per_s"]) & set(data["cache_bandwidth_bytes_per_s"])
    from llmroof.results.records import CeilingsRecord, load

    (tmp_path / "ceilings.json").write_text(out)
    record = load(tmp_path / "ceilings.json")
    assert isinstance(record, CeilingsRecord) and record.to_dict() == data
    assert record.dispatch_floor_s == data["dispatch_floor_s"]
    assert "dispatch" in set(record.to_pandas()["roof"])
    code, out, _ = run_cli(capsys, "ceilings", "--device", "cpu", "--format", "json")
    again = json.loads(out)
    assert again["calibration"]["status"] == "reused" and again["bandwidth"] == data["bandwidth"]
    code, out, _ = run_cli(capsys, "ceilings", "--device", "cpu", "--refresh")
    assert code == 0 and "calibration refreshed" in out and "DRAM" in out and "Dispatch floor" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--threads", "0"], "--threads"),
    (["--device", "tpu"], "--device"),
    (["--format", "xml"], "--format"),
])
def test_cli_ceilings_bad_input(capsys, args, message) -> None:
    code, out, err = run_cli(capsys, "ceilings", *args)
    assert code == 2 and message in err and "Traceback" not in err and out == ""


# --- the GPU path, with the fake torch.cuda ------------------------------------------------------

def test_a_gpu_has_its_l2_as_the_one_cache_level_and_a_uuid_in_its_fingerprint() -> None:
    from fakes import FakeTorch

    from llmroof.measure.ceilings import cuda_cache_levels, device_cache_levels
    from llmroof.measure.ceilings_cache import fingerprint
    from llmroof.measure.device import open_device

    torch = FakeTorch()
    device = open_device("cuda", torch)
    assert device_cache_levels(device, threads=1) == (CacheLevel(name="L2", capacity_bytes=50 * MIB,
                                                                 instance_bytes=50 * MIB, instances=1),)
    assert cuda_cache_levels(object()) == ()  # a build of torch without L2_cache_size
    base = fingerprint(device, threads=8, plan=PLANS["full"])
    assert base["device_kind"] == "cuda" and base["threads"] is None and base["cuda"] == "12.4"
    props = torch.cuda.get_device_properties(0)
    torch.cuda.get_device_properties = lambda index: props.__class__(**vars(props), uuid="GPU-5678")
    other = fingerprint(device, threads=8, plan=PLANS["full"])
    assert other["gpu_uuid"] == "GPU-5678" and fingerprint_id(other) != fingerprint_id(base)


def test_the_gpu_launch_floor_is_timed_with_device_events() -> None:
    """The dispatch probe on a GPU is one kernel launch back to back, timed by the device adapter's events:
    with the fake torch.cuda, each call a 4 us kernel, the floor is 4 us per launch."""
    from fakes import FakeClock, FakeTorch

    from llmroof.measure.ceilings import _Timed, best_rate
    from llmroof.measure.device import open_device

    clock = FakeClock(step_s=4e-6)
    device = open_device("cuda", FakeTorch(clock))
    launch = _Timed(clock.tick, 1.0)  # amount 1: one launch per call, so 1 / rate is the time of one
    floor_s = 1.0 / best_rate(launch, device, budget_ms=1.0, batch_ms=0.2, min_samples=3)
    assert floor_s == pytest.approx(4e-6)
    assert launch.batch >= 50  # 0.2 ms batches of 4 us launches (ceil): a sample is launches back to back
