"""The calibration cache is input too (docs/io-policy.md): whatever its file holds or is (a FIFO, a
link to /dev/zero, Infinity, a 5,000-digit integer, NaN rounds, a 1e-300 B/s roof), the calibration
is measured again with a one-line note, never a crash or a hang. Issue 20, classes 6 and 7."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest
from test_ceilings import PRINT, CountingMeasure

from llmroof.measure.ceilings_cache import load_or_measure


def _damaged(tmp_path, damage) -> tuple:
    measure = CountingMeasure()
    path = load_or_measure(PRINT, measure, directory=tmp_path).path
    data = json.loads(path.read_text())
    damage(data["ceilings"])
    path.write_text(json.dumps(data))
    return measure, path


def _set(key: str, value):
    """A damage: ``key`` (dotted, with list indices) set to ``value``."""

    def damage(ceilings: dict) -> None:
        *parents, last = [int(k) if k.isdigit() else k for k in key.split(".")]
        target = ceilings
        for part in parents:
            target = target[part]
        target[last] = value

    return damage


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (_set("caches.0.capacity_bytes", float("inf")), "caches[0].capacity_bytes"),
        (_set("caches.0.capacity_bytes", 10**400), "caches[0].capacity_bytes"),
        (_set("caches.0.instances", -3), "caches[0].instances"),
        (_set("caches.0.name", ["L1"]), "caches[0].name"),
        (
            _set("bandwidth.0.rounds_bytes_per_s", [float("nan"), 1e10]),
            "bandwidth[0].rounds_bytes_per_s",
        ),
        (_set("bandwidth.0.rounds_bytes_per_s", [1e-300]), "bandwidth[0].rounds_bytes_per_s"),
        (_set("bandwidth.0.rounds_bytes_per_s", [1e300]), "bandwidth[0].rounds_bytes_per_s"),
        (_set("bandwidth.0.rounds_bytes_per_s", "fast"), "bandwidth[0].rounds_bytes_per_s"),
        (_set("bandwidth.0.working_set_bytes", 1.5), "bandwidth[0].working_set_bytes"),
        (_set("compute.0.rounds_flops_per_s", [True]), "compute[0].rounds_flops_per_s"),
        (_set("compute.0.n", 0), "compute[0].n"),
        (_set("threads", 10**6), "threads"),
        (_set("elapsed_s", float("-inf")), "elapsed_s"),
        (_set("bandwidth", {"0": 1}), "bandwidth"),
        (_set("bandwidth.0", json.loads("[" * 500 + "]" * 500)), "bandwidth[0]"),
    ],
)
def test_an_implausible_calibration_is_measured_again(tmp_path, damage, reason) -> None:
    measure, path = _damaged(tmp_path, damage)
    calibration = load_or_measure(PRINT, measure, directory=tmp_path)
    assert measure.calls == 2 and calibration.status == "remeasured", calibration.note
    assert reason in calibration.note and str(path) in calibration.note
    assert "\n" not in calibration.note
    assert load_or_measure(PRINT, measure, directory=tmp_path).status == "reused"


@pytest.mark.parametrize(
    "text",
    [
        '{"schema": "llmroof.ceilings/1", "ceilings": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"schema": "llmroof.ceilings/1", "x": ' + "9" * 5000 + "}",
    ],
)
def test_a_cache_file_no_parser_can_read_is_measured_again(tmp_path, text) -> None:
    measure = CountingMeasure()
    path = load_or_measure(PRINT, measure, directory=tmp_path).path
    path.write_text(text)
    calibration = load_or_measure(PRINT, measure, directory=tmp_path)
    assert calibration.status == "remeasured" and "cannot read" in calibration.note


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")
def test_a_fifo_in_the_cache_is_replaced_not_waited_on(tmp_path) -> None:
    measure = CountingMeasure()
    path = load_or_measure(PRINT, measure, directory=tmp_path).path
    path.unlink()
    os.mkfifo(path)
    result: list = []
    thread = threading.Thread(
        target=lambda: result.append(load_or_measure(PRINT, measure, directory=tmp_path)),
        daemon=True,
    )
    started = time.monotonic()
    thread.start()
    thread.join(timeout=30)
    if thread.is_alive():
        with open(path, "w"):
            pass
        pytest.fail("waited on a FIFO in the calibration cache")
    assert result[0].status == "remeasured" and "not a regular file" in result[0].note
    assert path.is_file() and time.monotonic() - started < 20
    assert load_or_measure(PRINT, measure, directory=tmp_path).status == "reused"


def test_a_cache_linked_to_dev_zero_is_measured_again(tmp_path) -> None:
    measure = CountingMeasure()
    path = load_or_measure(PRINT, measure, directory=tmp_path).path
    path.unlink()
    path.symlink_to("/dev/zero")
    calibration = load_or_measure(PRINT, measure, directory=tmp_path)
    assert calibration.status == "remeasured" and "not a regular file" in calibration.note
    assert not path.is_symlink() and path.is_file()
    assert os.path.exists("/dev/zero") and not os.path.isfile("/dev/zero")
