"""What a results file puts in the history: one :class:`~llmroof.history.store.RunIn` per process, its
values read by compare's own code (``compare.load.load_runs`` for profiles, ``--repeat`` files and bench
results; ``compare.metrics.run_value`` for each metric), so the history and ``llmroof compare`` never
disagree on what a run measured. A ``llmroof.compare/1`` file adds NEW's medians."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from llmroof.compare.load import Run, RunConfig, load_runs
from llmroof.compare.metrics import METRICS, Metric, run_value
from llmroof.errors import LlmroofError
from llmroof.history.store import PointIn, RunIn
from llmroof.labels import config_label
from llmroof.readers import parse_json, read_bytes


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def machine_of(run: Run) -> str:
    """The calibration's fingerprint id (what the ceilings cache is keyed by); without one (a bench, a file
    of fixed ceilings), a fingerprint of the device and host."""
    if run.calibration is not None and run.calibration.fingerprint_id:
        return run.calibration.fingerprint_id
    environment = run.environment  # free-form: a profile names its host, a bench its server's url
    described = {
        "device_kind": run.device_kind,
        "device_name": run.device_name,
        "host": environment.get("host") or environment.get("url"),
    }
    return "d-" + hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:14]


def run_config_label(run: Run, config: RunConfig, op: str | None = None) -> str:
    """``tiny bf16 decode b=1 c=16`` (with `` attn.q`` for an op): the model, dtype and configuration."""
    label = config_label(config.phase, config.batch, config.length)
    text = f"{run.model_name} {run.dtype} {label}"
    return f"{text} {op}" if op else text


def run_points(run: Run) -> tuple[PointIn, ...]:
    """Every metric compare reads, of every finished configuration (and timed op) of one run."""
    points = []
    for config in run.ok_configs():
        for metric in METRICS.values():
            if config.phase not in metric.phases:
                continue
            if metric.per_op:
                for op in config.ops:
                    points.append(
                        _point(
                            metric,
                            run_config_label(run, config, op.name),
                            run_value(metric, config, op),
                        )
                    )
            elif metric.name != "achieved_bytes_per_s" or config.bytes:
                points.append(
                    _point(metric, run_config_label(run, config), run_value(metric, config))
                )
    return tuple(p for p in points if p.value > 0)


def _point(metric: Metric, config: str, value: float) -> PointIn:
    return PointIn(
        config=config,
        metric=metric.name,
        better=metric.better,
        unit=metric.unit,
        value=float(value),
    )


def runs_of_file(path: str | Path, machine: str | None = None) -> list[RunIn]:
    """The runs a results file adds (``machine`` overrides the fingerprint)."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    data = read_bytes(path)
    digest = content_hash(data)
    record = parse_json(data, str(path))
    schema = str(record.get("schema", "")) if isinstance(record, dict) else ""
    if schema.startswith("llmroof.compare/"):
        return [_compare_run(record, path, digest, machine)]
    if not schema.startswith(("llmroof.profile/", "llmroof.bench/")):
        raise LlmroofError(
            f"{path}: schema is {schema or None!r}, not a profile, bench or compare result",
            "history add reads results.json of llmroof profile or bench, or compare --format json",
        )
    kind = "bench" if schema.startswith("llmroof.bench/") else "profile"
    out = []
    for run in load_runs(path):
        points = run_points(run)
        if points:
            out.append(
                RunIn(
                    content_hash=digest,
                    process=-1 if run.process is None else run.process,
                    path=str(path),
                    kind=kind,
                    machine=machine or machine_of(run),
                    points=points,
                )
            )
    if not out:
        raise LlmroofError(
            f"{path}: no finished configuration to add", "let the run finish a configuration"
        )
    return out


def _compare_run(record: dict[str, Any], path: Path, digest: str, machine: str | None) -> RunIn:
    from llmroof.results.records.compare import CompareRecord

    comparison = CompareRecord.from_dict(record, str(path))
    points = []
    for row in comparison.rows:
        value = row.new.median
        if value > 0:
            points.append(
                PointIn(
                    config=f"{comparison.new.model} {row.benchmark}",
                    metric=row.metric,
                    better=row.better,
                    unit=row.unit,
                    value=float(value),
                )
            )
    if not points:
        raise LlmroofError(f"{path}: no row with a NEW median to add")
    described = {"device": comparison.new.device, "dtype": comparison.new.dtype}
    fingerprint = (
        "d-" + hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:14]
    )
    return RunIn(
        content_hash=digest,
        process=-1,
        path=str(path),
        kind="compare",
        machine=machine or fingerprint,
        points=tuple(points),
    )
