"""A run as compare reads it, whatever file it came from: a :class:`Run` and its finished
:class:`RunConfig` configurations with their timed :class:`TimedOp` ops. :mod:`llmroof.compare.load`
reads them from a profile's record, :mod:`llmroof.compare.bench_levels` from a bench result's
concurrency levels."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmroof.results.records.ceilings import CalibrationInfo
from llmroof.results.records.profile import RooflineInfo


@dataclass(frozen=True)
class TimedOp:
    """One op of one layer with its timing repetitions (ops without timings are not compared)."""

    name: str
    samples_s: tuple[float, ...]
    median_s: float


@dataclass(frozen=True)
class RunConfig:
    """A finished configuration as compare reads it: a profile configuration, or a bench level's
    decode or prefill (see :mod:`llmroof.compare.bench_levels`)."""

    phase: str
    """``prefill`` or ``decode``."""
    batch: int
    length: int
    """Prompt tokens (prefill) or KV-cache tokens (decode)."""
    time_s: float
    """Full-depth time at the median, as the results file reports it."""
    roofline_time_s: float
    bytes: float
    """Analytic bytes moved at full depth."""
    flops: float
    """Analytic FLOPs at full depth."""
    stack_samples_s: tuple[float, ...]
    layer_samples_s: tuple[float, ...]
    ops: tuple[TimedOp, ...] = ()
    """The timed ops, in file order."""

    def timed_ops(self) -> dict[str, TimedOp]:
        return {op.name: op for op in self.ops}

    def shape(self) -> tuple[str, int, int]:
        """(phase, batch, length): what matches a configuration across runs."""
        return self.phase, self.batch, self.length


@dataclass(frozen=True)
class Run:
    """One process's results as compare reads them: read from a profile's
    :class:`~llmroof.results.records.profile.ProfileRecord` (:func:`profile_run`) or a bench
    result's levels (:func:`~llmroof.compare.bench_levels.bench_run`); files of 0.1.0 and 0.2.0
    read alike."""

    path: Path
    model_name: str
    model_spec: Mapping[str, Any]
    """The model's shape (free-form: its keys depend on the model)."""
    device_kind: str
    device_name: str
    dtype: str
    layers_instantiated: int
    layers_total: int
    workload: Mapping[str, Any]
    """The workload object, for the settings that only some files hold (``kv_dtype``,
    ``rep_ms``...); the required ones are :attr:`dtype` and the layer counts."""
    environment: Mapping[str, Any]
    """Free-form: what the machine and software were (keys vary by version and device)."""
    configs: tuple[RunConfig, ...]
    """The finished (``ok``) configurations, in file order."""
    status: str = "None"
    """The run's status as shown (``None`` when the file has none)."""
    calibration: CalibrationInfo | None = None
    """Where the ceilings came from (its ``fingerprint_id`` names the machine); None when absent."""
    ceilings: Mapping[str, Any] = field(default_factory=dict)
    """The measured ceilings (free-form across versions); empty when the file has none."""
    measured_roofline: RooflineInfo | None = None
    """``roofline.measured`` (its compute peak and bandwidth); None when the file has none."""
    process: int | None = None
    """The process index within a ``--repeat`` file; None for a single-process file."""

    @property
    def time_utc(self) -> str:
        return str(self.environment.get("time_utc"))

    @property
    def extra_layers(self) -> int:
        """Layers extrapolated beyond those instantiated (L - N)."""
        return self.layers_total - self.layers_instantiated

    def ok_configs(self) -> tuple[RunConfig, ...]:
        return self.configs
