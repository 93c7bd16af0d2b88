"""Read one side of a comparison: a profile results file, or a folder of repeated runs (every
``results.json`` under it), each checked for what compare reads, so a corrupt or hand-edited file fails
with its path and the missing key rather than a traceback halfway through. A ``profile --repeat N`` file
holds one record per process (``processes[*].record``): each is a run of its own, as the unit of
replication is the process.

What compare, ``compare --history`` and ``history add`` read of a run is typed here, once:
a :class:`Run`'s attributes and its :class:`RunConfig` configurations (with their
:class:`TimedOp` ops). Profiles of every version, ``--repeat`` files and bench results (their
concurrency levels, see :mod:`llmroof.compare.bench_levels`) read alike. This is not
:class:`~llmroof.results.records.profile.ProfileRecord` on purpose: compare needs only the
figures :func:`check_record` checks, and reads a profile that holds just those (a partial or
hand-made file) that the complete record would refuse."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from llmroof.errors import LlmroofError
from llmroof.results.io import read_json

SCHEMA_PREFIX = "llmroof.profile/"
RESULTS_NAME = "results.json"
REPAIR = "truncated or edited by hand? re-run llmroof profile"


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
    """One process's results: the file's object (``record``, checked by :func:`check_record` for
    what compare reads) and, read from it, the typed figures compare compares. The record's fields
    are read here only, by their dotted paths; files of 0.1.0 and 0.2.0 and bench results read
    alike, and so does a profile that holds only what compare reads (not a complete
    ``ProfileRecord``)."""

    path: Path
    record: dict[str, Any]
    process: int | None = None
    """The process index within a ``--repeat`` file; None for a single-process file."""

    @cached_property
    def model_name(self) -> str:
        return str(_get(self.record, "model.name"))

    @cached_property
    def model_spec(self) -> Mapping[str, Any]:
        """The model's shape (free-form: its keys depend on the model)."""
        spec: Mapping[str, Any] = _get(self.record, "model.spec")
        return spec

    @cached_property
    def device_kind(self) -> str:
        return str(_get(self.record, "device.kind"))

    @cached_property
    def device_name(self) -> str:
        return str(_get(self.record, "device.name"))

    @cached_property
    def workload(self) -> Mapping[str, Any]:
        """The workload object, for the settings that only some files hold (``kv_dtype``,
        ``rep_ms``...); the required ones are :attr:`dtype` and the layer counts."""
        workload: Mapping[str, Any] = _get(self.record, "workload")
        return workload

    @cached_property
    def dtype(self) -> str:
        return str(_get(self.record, "workload.dtype"))

    @cached_property
    def layers_instantiated(self) -> int:
        return int(_get(self.record, "workload.layers_instantiated"))

    @cached_property
    def layers_total(self) -> int:
        return int(_get(self.record, "workload.layers_total"))

    @cached_property
    def environment(self) -> Mapping[str, Any]:
        """Free-form: what the machine and software were (keys vary by version and device)."""
        environment: Mapping[str, Any] = _get(self.record, "environment")
        return environment

    @property
    def status(self) -> str:
        """The run's status as shown (``None`` when the file has none)."""
        return str(_optional(self.record, "status"))

    @property
    def time_utc(self) -> str:
        return str(_optional(self.environment, "time_utc"))

    @property
    def calibration(self) -> Any:
        """The calibration (free-form; ``fingerprint_id`` names the machine); None when absent."""
        return _optional(self.record, "calibration")

    @property
    def ceilings(self) -> Mapping[str, Any]:
        """The measured ceilings (free-form across versions); empty when the file has none."""
        ceilings: Mapping[str, Any] = _optional(self.record, "ceilings") or {}
        return ceilings

    @property
    def measured_roofline(self) -> Mapping[str, Any]:
        """``roofline.measured`` (``peak_flops_per_s``, ``bandwidth_bytes_per_s``); empty when
        absent."""
        roofline = _optional(self.record, "roofline") or {}
        measured: Mapping[str, Any] = _optional(roofline, "measured") or {}
        return measured

    @property
    def extra_layers(self) -> int:
        """Layers extrapolated beyond those instantiated (L - N)."""
        return self.layers_total - self.layers_instantiated

    def ok_configs(self) -> tuple[RunConfig, ...]:
        return self._ok_configs

    @cached_property
    def _ok_configs(self) -> tuple[RunConfig, ...]:
        configs: list[dict[str, Any]] = _get(self.record, "configs")
        return tuple(_config(c) for c in configs if _optional(c, "status") == "ok")


def _config(config: dict[str, Any]) -> RunConfig:
    """A configuration that :func:`check_record` passed, typed."""
    phase = _get(config, "phase")
    ops = _optional(config, "ops") or []
    return RunConfig(
        phase=phase,
        batch=_get(config, "batch"),
        length=_get(config, "prompt_len" if phase == "prefill" else "context_len"),
        time_s=_get(config, "time_s"),
        roofline_time_s=_get(config, "roofline_time_s"),
        bytes=_get(config, "analytic.bytes"),
        flops=_get(config, "analytic.flops"),
        stack_samples_s=tuple(_get(config, "stack.samples_s")),
        layer_samples_s=tuple(_get(config, "layer.samples_s")),
        ops=tuple(
            TimedOp(
                name=_get(op, "name"),
                samples_s=tuple(_get(op, "samples_s")),
                median_s=_get(op, "median_s"),
            )
            for op in ops
            if "samples_s" in op
        ),
    )


@dataclass(frozen=True)
class Side:
    label: str
    """"BASE" or "NEW"."""
    path: Path
    """What the user named: a file or a folder."""
    runs: tuple[Run, ...]


def load_side(label: str, path: str | Path) -> Side:
    path = Path(path)
    if path.is_dir():
        files = sorted(path.rglob(RESULTS_NAME))
        if not files:
            raise LlmroofError(
                f"{label} {path}: no {RESULTS_NAME} in this folder or below",
                "pass a results file, or the folder `llmroof profile --out` wrote",
            )
    elif path.exists():
        files = [path]
    else:
        raise LlmroofError(f"{label} {path}: no such file or folder")
    runs = tuple(run for f in files for run in load_runs(f))
    if not runs:
        raise LlmroofError(
            f"{label} {path}: no finished process in the results", "let a --repeat run finish one"
        )
    return Side(label=label, path=path, runs=runs)


def load_run(path: Path) -> Run:
    """The one run of a results file (the first process of a ``--repeat`` file)."""
    return load_runs(path)[0]


def load_runs(path: Path) -> list[Run]:
    """The runs of one results file: itself, or each finished process of a ``--repeat`` file."""
    record = read_json(path, "llmroof.")
    if str(record.get("schema", "")).startswith(
        "llmroof.bench/"
    ):  # a serving benchmark, levels as configs
        from llmroof.compare.bench_levels import as_profile_record

        record = as_profile_record(record, path)
    elif not str(record.get("schema", "")).startswith(SCHEMA_PREFIX):
        raise LlmroofError(
            f"{path}: schema is {record.get('schema')!r}, expected {SCHEMA_PREFIX}... or llmroof.bench/...",
            "is this a results file of llmroof profile or llmroof bench?",
        )
    processes = record.get("processes")
    if processes is None:
        check_record(record, path)
        return [Run(path=path, record=record)]
    if not isinstance(processes, list):
        raise LlmroofError(
            f"{path}: 'processes' is {type(processes).__name__}, expected a list", REPAIR
        )
    runs = []
    for position, process in enumerate(processes):
        where = f"processes[{position}] "
        _require(path, where, process, ("index",), int)
        _require(path, where, process, ("record",), dict)
        check_record(_get(process, "record"), path, where)
        runs.append(Run(path=path, record=_get(process, "record"), process=_get(process, "index")))
    return runs


def _get(record: Any, dotted: str) -> Any:
    value = record
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            raise KeyError(dotted)
        value = value[key]
    return value


def _optional(record: Any, key: str) -> Any:
    """``record``'s ``key``, None when absent."""
    return record.get(key) if isinstance(record, dict) else None


def _require(
    path: Path, where: str, record: Any, keys: tuple[str, ...], kind: type | tuple[type, ...]
) -> None:
    for key in keys:
        try:
            value = _get(record, key)
        except KeyError:
            raise LlmroofError(f"{path}: {where}has no {key!r}", REPAIR) from None
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise LlmroofError(
                f"{path}: {where}{key!r} is {value!r}, expected {_kind_name(kind)}", REPAIR
            )


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(
        {
            "dict": "an object",
            "list": "a list",
            "str": "a string",
            "int": "an integer",
            "float": "a number",
        }.get(k.__name__, k.__name__)
        for k in kinds
    )


NUMBER = (int, float)
RUN_OBJECTS = ("model", "model.spec", "device", "workload", "environment")
RUN_STRINGS = ("model.name", "device.kind", "device.name", "workload.dtype")
OPTIONAL_OBJECTS = ("ceilings", "roofline", "roofline.measured")
NULLABLE = ("roofline.measured",)
RUN_INTS = ("workload.layers_instantiated", "workload.layers_total")
CONFIG_NUMBERS = ("time_s", "roofline_time_s", "analytic.bytes", "analytic.flops")


def check_record(record: dict[str, Any], path: Path, prefix: str = "") -> None:
    """Everything compare reads, present and of the right type (``prefix``: where the record sits)."""
    _require(path, prefix, record, RUN_OBJECTS, dict)
    _require(path, prefix, record, RUN_STRINGS, str)
    _require(path, prefix, record, RUN_INTS, int)
    _require(path, prefix, record, ("configs",), list)
    for key in OPTIONAL_OBJECTS:  # read with .get() further on: absent is fine, another type is not
        try:
            value = _get(record, key)
        except KeyError:
            continue
        if not isinstance(value, dict) and not (value is None and key in NULLABLE):
            raise LlmroofError(
                f"{path}: {prefix}{key!r} is {value!r:.40}, expected an object", REPAIR
            )
    for index, config in enumerate(_get(record, "configs")):
        where = f"{prefix}configs[{index}] "
        if not isinstance(config, dict):
            raise LlmroofError(f"{path}: {where}is not an object", REPAIR)
        if _optional(config, "status") != "ok":
            continue
        _require(path, where, config, ("phase",), str)
        phase = _get(config, "phase")
        if phase not in ("prefill", "decode"):
            raise LlmroofError(f"{path}: {where}phase is {phase!r}, expected prefill or decode")
        length = "prompt_len" if phase == "prefill" else "context_len"
        _require(path, where, config, ("batch", length), int)
        _require(path, where, config, CONFIG_NUMBERS, NUMBER)
        _require(path, where, config, ("stack.samples_s", "layer.samples_s"), list)
        _check_samples(path, where + "stack.", _get(config, "stack.samples_s"))
        _check_samples(path, where + "layer.", _get(config, "layer.samples_s"))
        if _get(config, "time_s") <= 0:
            raise LlmroofError(
                f"{path}: {where}time_s is {_get(config, 'time_s')!r}, expected a positive time"
            )
        ops = _optional(config, "ops") or []
        if not isinstance(ops, list):
            raise LlmroofError(f"{path}: {where}'ops' is {ops!r:.40}, expected a list", REPAIR)
        for op_index, op in enumerate(ops):
            op_where = f"{where}ops[{op_index}] "
            _require(path, op_where, op, ("name",), str)
            if "samples_s" in op:  # ops without timings carry only the analytic figures
                _require(path, op_where, op, ("median_s",), NUMBER)
                _check_samples(path, op_where, _get(op, "samples_s"))


def _check_samples(path: Path, where: str, samples: Any) -> None:
    if not isinstance(samples, list) or not samples:
        raise LlmroofError(f"{path}: {where}samples_s is empty", REPAIR)
    for value in samples:
        if isinstance(value, bool) or not isinstance(value, NUMBER) or not value > 0:
            raise LlmroofError(
                f"{path}: {where}samples_s holds {value!r}, expected positive times in seconds",
                REPAIR,
            )
