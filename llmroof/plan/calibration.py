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

from llmroof import schemas
from llmroof.errors import LlmroofError
from llmroof.results.records import ProfileRecord

PROFILE_SCHEMA = schemas.prefix(schemas.PROFILE)


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
            "hardware": self.hardware,
            "device_name": self.device_name,
            "dtype": self.dtype,
            "model": self.model,
            "source": self.source,
            "decode_efficiency": self.decode_efficiency,
            "prefill_efficiency": self.prefill_efficiency,
            "decode_range": list(self.decode_range),
            "decode_samples": self.decode_samples,
            "prefill_samples": self.prefill_samples,
        }


MAX_FRACTION = 2.0
"""Measured time / roofline time above this (twice the datasheet's speed) is an edited or corrupt file."""


def calibration_from_profile(run: ProfileRecord | dict[str, Any], source: str) -> Calibration:
    """The efficiencies of a profile run (its record, or the parsed JSON); :class:`LlmroofError` when it
    cannot calibrate a catalog device."""
    if not isinstance(run, ProfileRecord):
        run = ProfileRecord.from_dict(run, source)
    device_name = run.device.name or "an unknown device"
    hardware = run.hardware.get("name") if isinstance(run.hardware, dict) else None
    if run.device.kind == "cpu" or not hardware:
        what = "the CPU" if run.device.kind == "cpu" else "a device that matches no catalog entry"
        raise LlmroofError(
            f"{source}: measured on {device_name}, {what}: its efficiencies say nothing about the GPUs a plan is for",
            "profile the device you plan for (`llmroof profile` on it), or plan without --calibrate",
        )
    prefill: list[float] = []
    decode: list[float] = []
    fractions = {"prefill": prefill, "decode": decode}  # a run's roofline fractions, by phase
    for config in run.configs:
        fraction = config.datasheet_roofline_fraction
        if (
            config.ok
            and config.phase in fractions
            and isinstance(fraction, (int, float))
            and fraction > 0
        ):
            if (
                not fraction <= MAX_FRACTION
            ):  # NaN, infinity, or a hand-edited 1e308: not a measurement
                raise LlmroofError(
                    f"{source}: a {config.phase} configuration reached {fraction:g} of its datasheet "
                    f"roofline (above {MAX_FRACTION:g}, which no measurement does)",
                    "edited by hand or corrupt? re-run llmroof profile",
                )
            fractions[config.phase].append(float(fraction))
    if not decode:
        raise LlmroofError(
            f"{source}: no completed decode measurement against the {hardware} datasheet",
            "run `llmroof profile` to completion on that device",
        )
    return Calibration(
        hardware=str(hardware),
        decode_efficiency=statistics.median(decode),
        prefill_efficiency=statistics.median(prefill) if prefill else None,
        decode_range=(min(decode), max(decode)),
        decode_samples=len(decode),
        prefill_samples=len(prefill),
        device_name=device_name,
        dtype=run.workload.dtype,
        model=run.model.name,
        source=source,
    )


def read_calibration(path: str | Path) -> Calibration:
    """A profile's (or a bench run's) efficiencies."""
    from llmroof.results.io import check_shape, read_json

    data = read_json(path, "llmroof.")
    if str(data.get("schema", "")).startswith(BENCH_SCHEMA):
        return calibration_from_bench(data, str(path))
    if not str(data.get("schema", "")).startswith(PROFILE_SCHEMA):
        raise LlmroofError(
            f"{path}: schema is {data.get('schema')!r}, expected {PROFILE_SCHEMA}... or {BENCH_SCHEMA}...",
            "give a results file of llmroof profile or llmroof bench",
        )
    check_shape(
        data,
        str(path),
        objects=("device", "workload", "model"),
        lists=("configs",),
        nullable=("hardware",),
        hint="truncated or edited by hand? re-run llmroof profile",
    )
    return calibration_from_profile(data, str(path))


BENCH_SCHEMA = "llmroof.bench/"


def calibration_from_bench(data: dict[str, Any], source: str) -> Calibration:
    """A serving engine's measured share of the roofline (``llmroof bench``): each level's analytic TPOT
    bound over its measured mean TPOT, on the catalog device the engine served from. Prefill stays
    uncalibrated: a served TTFT includes queueing, which is no kernel efficiency."""
    from llmroof.results.records.bench import BenchResult

    result = BenchResult.from_dict(data, source)
    hardware = result.hardware or {}
    name = hardware.get("name")  # the free-form hardware entry the bench ran against
    if not name or not (
        result.hardware_method == "catalog" or result.hardware_method.startswith("nvml")
    ):
        raise LlmroofError(
            f"{source}: the bench ran against {hardware.get('display_name') or 'no catalog device'} "
            f"({result.hardware_method or 'none'}): its efficiency says nothing about the GPUs a plan is for",
            "bench a server on the device you plan for, with --hardware NAME, or plan without --calibrate",
        )
    fractions = [
        level.roofline.tpot_fraction
        for level in result.levels
        if level.roofline is not None
        and level.roofline.tpot_fraction
        and level.errors < level.requests
    ]
    if not fractions:
        raise LlmroofError(
            f"{source}: no level with a measured TPOT on the {name} roofline",
            "run llmroof bench to completion with a model it can place on the roofline",
        )
    return Calibration(
        hardware=str(name),
        decode_efficiency=statistics.median(fractions),
        prefill_efficiency=None,
        decode_range=(min(fractions), max(fractions)),
        decode_samples=len(fractions),
        prefill_samples=0,
        device_name=str(hardware.get("display_name", name)),
        dtype=result.settings.dtype,
        model=str((result.model_spec or {}).get("name", result.settings.model)),
        source=source,
    )


def match_calibrations(
    hardware_names: list[str], calibrations: list[Calibration]
) -> dict[str, Calibration]:
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
            raise LlmroofError(
                f"{cal.source} and {by_name[cal.hardware].source} both profile {cal.hardware}",
                "give one profile per device",
            )
        by_name[cal.hardware] = cal
    missing = [name for name in hardware_names if name not in by_name]
    if by_name and missing:
        raise LlmroofError(
            f"--calibrate: no profile of {', '.join(missing)} (profiles given: {', '.join(by_name)})",
            "a calibrated device would be compared with uncalibrated ones; give one profile per device, "
            "or plan them separately",
        )
    return by_name
