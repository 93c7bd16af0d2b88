"""Read one side of a comparison: a profile results file, or a folder of repeated runs (every
``results.json`` under it), each checked for what compare reads, so a corrupt or hand-edited file fails
with its path and the missing key rather than a traceback halfway through. A ``profile --repeat N`` file
holds one record per process (``processes[*].record``): each is a run of its own, as the unit of
replication is the process.

What compare, ``compare --history`` and ``history add`` read of a run is typed here, once:
a :class:`Run`'s attributes and its :class:`RunConfig` configurations (with their
:class:`TimedOp` ops), read from the file's record
(:class:`~llmroof.results.records.profile.ProfileRecord`, or a bench result's
:class:`~llmroof.results.records.bench.BenchResult`, its concurrency levels as configurations:
see :mod:`llmroof.compare.bench_levels`). Profiles of every version, ``--repeat`` files and
bench results read alike; :func:`check_record` adds what compare needs beyond the record's own
checks (the timings of every finished configuration, positive samples)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmroof.compare.bench_levels import bench_run
from llmroof.compare.run import Run, RunConfig, TimedOp
from llmroof.errors import LlmroofError
from llmroof.results.io import read_json
from llmroof.results.records.bench import BenchResult
from llmroof.results.records.profile import ConfigResult, ProfileRecord

SCHEMA_PREFIX = "llmroof.profile/"
RESULTS_NAME = "results.json"
REPAIR = "truncated or edited by hand? re-run llmroof profile"
__all__ = [
    "Run",
    "RunConfig",
    "Side",
    "TimedOp",
    "check_record",
    "load_run",
    "load_runs",
    "load_side",
]


def profile_run(record: ProfileRecord, path: Path, process: int | None = None) -> Run:
    """The run of a profile record (checked by :func:`check_record`)."""
    # a run still measuring its ceilings has no roofline; some files wrote its measured one as null
    measured = None if record.roofline is None else record.roofline.measured
    return Run(
        path=path,
        model_name=record.model.name,
        model_spec=record.model.spec,
        device_kind=record.device.kind,
        device_name=record.device.name,
        dtype=record.workload.dtype,
        layers_instantiated=record.workload.layers_instantiated,
        layers_total=record.workload.layers_total,
        workload=record.workload.to_dict(),
        environment=record.environment,
        configs=tuple(_config(c) for c in record.configs if c.ok),
        status=str(record.status),
        calibration=record.calibration,
        ceilings={} if record.ceilings is None else record.ceilings.to_dict(),
        measured_roofline=measured,
        process=process,
    )


def _config(config: ConfigResult) -> RunConfig:
    """A finished configuration that :func:`check_record` passed, as compare reads it."""
    assert config.length is not None and config.stack is not None and config.layer is not None
    assert config.analytic is not None
    assert config.time_s is not None and config.roofline_time_s is not None
    return RunConfig(
        phase=config.phase,
        batch=config.batch,
        length=config.length,
        time_s=config.time_s,
        roofline_time_s=config.roofline_time_s,
        bytes=config.analytic.bytes,
        flops=config.analytic.flops,
        stack_samples_s=config.stack.samples_s,
        layer_samples_s=config.layer.samples_s,
        ops=tuple(
            TimedOp(name=op.name, samples_s=op.samples_s, median_s=op.median_s)
            for op in config.ops or ()
            if op.samples_s is not None and op.median_s is not None
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
    data = read_json(path, "llmroof.")
    schema = str(data.get("schema", ""))
    if schema.startswith("llmroof.bench/"):  # a serving benchmark, levels as configs
        return [bench_run(BenchResult.from_dict(data, str(path)), path)]
    if not schema.startswith(SCHEMA_PREFIX):
        raise LlmroofError(
            f"{path}: schema is {data.get('schema')!r}, expected {SCHEMA_PREFIX}... or llmroof.bench/...",
            "is this a results file of llmroof profile or llmroof bench?",
        )
    processes = data.get("processes")
    if processes is None:
        return [profile_run(check_record(data, path), path)]
    if not isinstance(processes, list):
        raise LlmroofError(
            f"{path}: 'processes' is {type(processes).__name__}, expected a list", REPAIR
        )
    runs = []
    for position, process in enumerate(processes):
        where = f"processes[{position}] "
        _require(path, where, process, ("index",), int)
        _require(path, where, process, ("record",), dict)
        record = check_record(process["record"], path, where)
        runs.append(profile_run(record, path, process["index"]))
    return runs


def _get(record: Any, dotted: str) -> Any:
    value = record
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            raise KeyError(dotted)
        value = value[key]
    return value


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


RUN_OBJECTS = ("model", "model.spec", "device", "workload", "environment")
RUN_STRINGS = ("model.name", "device.kind", "device.name", "workload.dtype")
RUN_INTS = ("workload.layers_instantiated", "workload.layers_total")
"""What compare reads of a run: checked before the record is read, so that a null or mistyped
object is one error naming its key (the record reader takes null for an absent optional key)."""


def check_record(data: dict[str, Any], path: Path, prefix: str = "") -> ProfileRecord:
    """The profile record of ``data``, with everything compare reads present, of the right type
    and plausible (``prefix``: where the record sits in the file)."""
    _require(path, prefix, data, RUN_OBJECTS, dict)
    _require(path, prefix, data, RUN_STRINGS, str)
    _require(path, prefix, data, RUN_INTS, int)
    _require(path, prefix, data, ("configs",), list)
    record = ProfileRecord.from_dict(data, f"{path} {prefix}".rstrip())
    for index, config in enumerate(record.configs):
        if config.ok:
            _check_config(config, path, f"{prefix}configs[{index}] ")
    return record


def _check_config(config: ConfigResult, path: Path, where: str) -> None:
    """A finished configuration holds what compare reads: its length, both timings, the times and
    the analytic totals."""
    if config.phase not in ("prefill", "decode"):
        raise LlmroofError(f"{path}: {where}phase is {config.phase!r}, expected prefill or decode")
    needed = {
        "prompt_len" if config.phase == "prefill" else "context_len": config.length,
        "stack": config.stack,
        "layer": config.layer,
        "time_s": config.time_s,
        "roofline_time_s": config.roofline_time_s,
        "analytic": config.analytic,
    }
    missing = [name for name, value in needed.items() if value is None]
    if missing:
        raise LlmroofError(f"{path}: {where}has no {missing[0]!r}", REPAIR)
    assert config.stack is not None and config.layer is not None and config.time_s is not None
    _check_samples(path, where + "stack.", config.stack.samples_s)
    _check_samples(path, where + "layer.", config.layer.samples_s)
    if config.time_s <= 0:
        raise LlmroofError(f"{path}: {where}time_s is {config.time_s!r}, expected a positive time")
    for op_index, op in enumerate(config.ops or ()):
        if op.samples_s is not None:  # ops without timings carry only the analytic figures
            op_where = f"{where}ops[{op_index}] "
            if op.median_s is None:
                raise LlmroofError(f"{path}: {op_where}has no 'median_s'", REPAIR)
            _check_samples(path, op_where, op.samples_s)


def _check_samples(path: Path, where: str, samples: tuple[float, ...]) -> None:
    if not samples:
        raise LlmroofError(f"{path}: {where}samples_s is empty", REPAIR)
    for value in samples:
        if not value > 0:
            raise LlmroofError(
                f"{path}: {where}samples_s holds {value!r}, expected positive times in seconds",
                REPAIR,
            )
