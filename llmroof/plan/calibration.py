"""Measured efficiencies from a profile results file (``llmroof profile``, schema ``llmroof.profile/1``).

A profile times real prefill and decode passes and records, for each, ``datasheet_roofline_fraction``: the
analytic time on the device's datasheet roofline over the measured time. The plan predicts times on that
same datasheet roofline, so dividing a predicted kernel time by the measured fraction turns it into the
time the profiled kernels would take. One number per phase: the median over the profile's configurations.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmroof.errors import LlmroofError

PROFILE_SCHEMA = "llmroof.profile/"


@dataclass(frozen=True, kw_only=True, slots=True)
class Calibration:
    """How close measured kernels came to the datasheet roofline on one device."""

    hardware: str
    """Catalog name of the device the profile ran on; calibration applies to plans on it only."""
    decode_efficiency: float
    """Median datasheet roofline time / measured time over the profile's decode steps."""
    prefill_efficiency: float | None
    """The same over its prefills; None when none was measured (prefill is then left uncalibrated)."""
    decode_range: tuple[float, float]
    """Smallest and largest decode fraction measured: how far one number is from every batch and context."""
    decode_samples: int
    prefill_samples: int
    device_name: str
    dtype: str
    """The dtype the profile computed in."""
    model: str
    source: str
    """Where the profile was read from."""

    def __post_init__(self) -> None:
        for name in ("decode_efficiency", "prefill_efficiency"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "hardware": self.hardware, "device_name": self.device_name, "dtype": self.dtype, "model": self.model,
            "source": self.source, "decode_efficiency": self.decode_efficiency,
            "prefill_efficiency": self.prefill_efficiency, "decode_range": list(self.decode_range),
            "decode_samples": self.decode_samples, "prefill_samples": self.prefill_samples,
        }


MAX_FRACTION = 2.0
"""Measured time / roofline time above this (twice the datasheet's speed) is an edited or corrupt file."""


def calibration_from_profile(data: dict[str, Any], source: str) -> Calibration:
    """The efficiencies of a parsed profile; :class:`LlmroofError` when it cannot calibrate a catalog device."""
    device = data.get("device") or {}
    device_name = str(device.get("name") or "an unknown device")
    hardware = data.get("hardware")
    kind = device.get("kind", "?")
    if kind == "cpu" or not isinstance(hardware, dict) or not hardware.get("name"):
        what = "the CPU" if kind == "cpu" else "a device that matches no catalog entry"
        raise LlmroofError(
            f"{source}: measured on {device_name}, {what}: its efficiencies say nothing about the GPUs a plan is for",
            "profile the device you plan for (`llmroof profile` on it), or plan without --calibrate",
        )
    fractions: dict[str, list[float]] = {"prefill": [], "decode": []}
    for config in data.get("configs") or []:
        fraction = config.get("datasheet_roofline_fraction")
        if config.get("status") == "ok" and config.get("phase") in fractions and isinstance(fraction, (int, float)) \
                and fraction > 0:
            if not fraction <= MAX_FRACTION:  # NaN, infinity, or a hand-edited 1e308: not a measurement
                raise LlmroofError(f"{source}: a {config['phase']} configuration reached {fraction:g} of its datasheet "
                                   f"roofline (above {MAX_FRACTION:g}, which no measurement does)",
                                   "edited by hand or corrupt? re-run llmroof profile")
            fractions[config["phase"]].append(float(fraction))
    if not fractions["decode"]:
        raise LlmroofError(f"{source}: no completed decode measurement against the {hardware['name']} datasheet",
                           "run `llmroof profile` to completion on that device")
    decode = fractions["decode"]
    workload = data.get("workload") or {}
    return Calibration(
        hardware=str(hardware["name"]),
        decode_efficiency=statistics.median(decode),
        prefill_efficiency=statistics.median(fractions["prefill"]) if fractions["prefill"] else None,
        decode_range=(min(decode), max(decode)),
        decode_samples=len(decode),
        prefill_samples=len(fractions["prefill"]),
        device_name=device_name,
        dtype=str(workload.get("dtype", "?")),
        model=str((data.get("model") or {}).get("name", "?")),
        source=source,
    )


def read_calibration(path: str | Path) -> Calibration:
    """A profile results file's efficiencies."""
    from llmroof.results.io import check_shape, read_json

    data = read_json(path, PROFILE_SCHEMA)
    check_shape(data, str(path), objects=("device", "workload", "model"), lists=("configs",), nullable=("hardware",),
                hint="truncated or edited by hand? re-run llmroof profile")
    return calibration_from_profile(data, str(path))


def match_calibrations(hardware_names: list[str], calibrations: list[Calibration]) -> dict[str, Calibration]:
    """The profiles by the device they calibrate: one for each planned device, none for any other."""
    by_name: dict[str, Calibration] = {}
    for cal in calibrations:
        if cal.hardware not in hardware_names:
            raise LlmroofError(
                f"{cal.source}: a profile of {cal.hardware} ({cal.device_name}) cannot calibrate a plan for "
                f"{', '.join(hardware_names)}",
                "efficiencies carry over only on the device that was measured; profile the planned device",
            )
        if cal.hardware in by_name:
            raise LlmroofError(f"{cal.source} and {by_name[cal.hardware].source} both profile {cal.hardware}",
                               "give one profile per device")
        by_name[cal.hardware] = cal
    missing = [name for name in hardware_names if name not in by_name]
    if by_name and missing:
        raise LlmroofError(
            f"--calibrate: no profile of {', '.join(missing)} (profiles given: {', '.join(by_name)})",
            "a calibrated device would be compared with uncalibrated ones; give one profile per device, "
            "or plan them separately",
        )
    return by_name
