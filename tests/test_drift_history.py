"""Drift is judged against this machine's recent drift probes, kept in the calibration cache: a shared VM's
run-to-run noise stops warning once a few probes show it, a real move still warns, in one line that says
what moved and by how much."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

from llmroof.measure.ceilings_cache import (
    DRIFT_HISTORY,
    DRIFT_MIN_HISTORY,
    drift_history,
    judge_drift,
    record_drift,
)
from llmroof.measure.profile import drift_notes
from llmroof.results.records.ceilings import (
    BandwidthProbe,
    CalibrationInfo,
    CeilingsCacheRecord,
    DriftCheck,
    DriftChecks,
    DriftProbe,
)


def probe(fraction: float, beyond_spread: bool) -> BandwidthProbe:
    """A probe that measured ``fraction`` off a calibration of 10 GB/s in every round."""
    return BandwidthProbe(measured_bytes_per_s=1e10 * (1 + fraction), calibration_median_bytes_per_s=1e10,
                          calibration_min_bytes_per_s=1e10, calibration_max_bytes_per_s=1e10,
                          drift_fraction=fraction, beyond_spread=beyond_spread)


def check(read: float, copy: float, beyond_spread: bool = True) -> DriftCheck:
    """A drift check as drift_check returns it."""
    return DriftCheck(working_set_bytes=2**27, drift_fraction=max(read, copy, key=abs),
                      beyond_spread=beyond_spread,
                      probes={"read": probe(read, beyond_spread), "copy": probe(copy, beyond_spread)})


def cache_file(path: Path, **extra: object) -> Path:
    """A calibration cache file as load_or_measure writes it (figures left empty: the drift history is
    what these tests read), with ``extra`` keys beside."""
    record = CeilingsCacheRecord(method_version=1, fingerprint={"host": "h"}, fingerprint_id="x",
                                 measured_at="t", ceilings={})
    path.write_text(json.dumps(record.to_dict() | extra))
    return path


def history(*fractions: float) -> list[DriftProbe]:
    return [DriftProbe(at="t", when="start", fractions={"read": f, "copy": f}) for f in fractions]


def test_without_enough_history_the_calibrations_spread_decides() -> None:
    assert judge_drift(check(-0.2, -0.2), history(0.0, 0.0)).warn  # beyond the calibration's spread
    assert not judge_drift(check(-0.2, -0.2, beyond_spread=False), []).warn


def test_within_the_recent_probes_range_is_quiet_beyond_it_warns() -> None:
    past = history(-0.12, 0.03, -0.06, 0.01)
    assert not judge_drift(check(-0.15, 0.05), past).warn  # inside [-12%, +3%] widened by 5 points
    judged = judge_drift(check(-0.02, -0.35), past)
    assert judged.warn and judged.moved == {"copy": -0.35}
    assert judged.range["copy"] == [-0.12, 0.03] and judged.probes == 4


def test_only_the_last_few_probes_count() -> None:
    old_noise = history(-0.4, -0.4, -0.4, -0.4, -0.4)
    assert judge_drift(check(-0.4, -0.4), [*old_noise, *history(0.0, 0.01, 0.0, -0.01, 0.0)]).warn


def test_a_noisy_vm_stops_warning_after_a_few_runs(tmp_path) -> None:
    """Run-to-run noise of +-15% (far wider than a calibration's rounds): once the cache holds a few probes,
    noise inside that range does not warn, while a halved bandwidth does."""
    cache = cache_file(tmp_path / "cpu-x.json")
    rng = random.Random(1)
    warnings = []
    for run in range(12):
        noise = check(
            rng.uniform(-0.15, 0.15), rng.uniform(-0.15, 0.15)
        )  # each beyond the calibration's spread
        warnings.append(judge_drift(noise, drift_history(cache)).warn)
        assert record_drift(cache, noise, "start") is None
    assert all(warnings[:DRIFT_MIN_HISTORY])  # no history yet: the calibration's spread, as before
    assert sum(warnings[DRIFT_MIN_HISTORY:]) <= 2
    assert judge_drift(check(-0.5, -0.5), drift_history(cache)).warn
    assert len(drift_history(cache)) == DRIFT_HISTORY


def test_the_history_survives_in_the_cache_file_and_a_broken_one_is_empty(tmp_path) -> None:
    cache = cache_file(tmp_path / "c.json", keep=1)
    assert record_drift(cache, check(0.01, -0.02), "end") is None
    data = json.loads(cache.read_text())
    assert CeilingsCacheRecord.from_dict(data).drift_history == (data["drift_history"][0],)
    assert data["keep"] == 1 and data["drift_history"][0]["fractions"] == {
        "read": 0.01,
        "copy": -0.02,
    }
    cache_file(cache, drift_history=[1, {"fractions": {"read": "x"}}, history(0.1)[0].to_dict()])
    assert drift_history(cache) == history(0.1)  # entries of another shape are skipped
    cache.write_text('{"drift_history": [1, {"fractions": {"read": "x"}}]}')  # not a cache file
    assert drift_history(cache) == [] and drift_history(tmp_path / "missing.json") == []
    assert "not updated" in record_drift(tmp_path / "missing.json", check(0, 0), "end")
    not_a_cache = tmp_path / "other.json"
    not_a_cache.write_text('{"schema": "llmroof.profile/1"}')
    assert "not updated" in record_drift(not_a_cache, check(0, 0), "end")
    assert not_a_cache.read_text() == '{"schema": "llmroof.profile/1"}'  # another file is left alone


def test_the_warning_is_one_line_saying_what_moved_and_by_how_much() -> None:
    past = history(-0.05, 0.0, 0.02)
    start, end = check(0.0, -0.3), check(-0.25, -0.31)
    start = dataclasses.replace(start, history=judge_drift(start, past))
    end = dataclasses.replace(end, history=judge_drift(end, past))
    notes = drift_notes(
        CalibrationInfo(
            fingerprint={},
            fingerprint_id="x",
            measured_at="2026-12-01T00:00:00+00:00",
            drift=DriftChecks(start=start, end=end),
        )
    )
    assert len(notes) == 1
    assert "copy bandwidth -30% at the start of the run (its last 3 probes -5% to +2%)" in notes[0]
    assert "read bandwidth -25% at the end" in notes[0] and "2026-12-01" in notes[0]
    quiet = check(0.01, 0.0)
    quiet = dataclasses.replace(quiet, history=judge_drift(quiet, past))
    assert (
        drift_notes(
            CalibrationInfo(
                fingerprint={}, fingerprint_id="x", measured_at="t", drift=DriftChecks(start=quiet, end=None)
            )
        )
        == []
    )
