"""What differs between the runs of BASE and NEW: the model, device and workload (which make a comparison
meaningless, so compare refuses them unless told), and the environment and measured ceilings (which do not,
but could explain a shift: a new driver or torch, other clocks, fewer threads, a slower memory system)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmroof.compare.load import Run, Side
from llmroof.errors import LlmroofError
from llmroof.results.records.compare import Difference
from llmroof.units import si

# The model's shape decides what is computed; its display name and source path do not (a config.json
# read from another checkout names another path).
MODEL_LABELS = ("name", "source")
WORKLOAD_KEYS = ("dtype", "kv_dtype", "layers_instantiated", "layers_total", "cuda_graphs")
SETTING_KEYS = ("warmup_ms", "rep_ms", "per_op")
# Differ from run to run by design: not a difference worth reporting.
VOLATILE_ENVIRONMENT = ("time_utc", "command_line")
CEILINGS = (
    ("measured_bandwidth_bytes_per_s", "measured read bandwidth", "B/s"),
    ("measured_copy_bandwidth_bytes_per_s", "measured copy bandwidth", "B/s"),
    ("measured_flops_per_s", "measured compute", "FLOP/s"),
)


def _identity(run: Run) -> dict[tuple[str, str], Any]:
    """The fields that must agree, keyed by (scope, key)."""
    fields: dict[tuple[str, str], Any] = {}
    for key, value in run.model_spec.items():
        if key not in MODEL_LABELS:
            fields[("model", key)] = value
    fields[("device", "kind")] = run.device_kind
    fields[("device", "name")] = run.device_name
    for key in WORKLOAD_KEYS:  # optional settings: absent in some versions' files
        fields[("workload", key)] = run.workload.get(key)
    return fields


def check_pooled_models(side: Side) -> None:
    """Runs of one identity (model shape, device, workload) are pooled as repeats of one
    measurement: runs that name different models are not that, even when the shapes agree, and are
    refused (a folder of models of different shapes is compared model with model, and is fine)."""
    named: dict[str, dict[str, Path]] = {}
    for run in side.runs:
        named.setdefault(identity(run), {}).setdefault(run.model_name, run.path)
    for names in named.values():
        if len(names) > 1:
            (a, a_path), (b, b_path) = list(names.items())[:2]
            raise LlmroofError(
                f"{side.label} {side.path}: runs of {a!r} ({a_path}) and {b!r} ({b_path}) would be "
                "pooled as repeats of one model",
                "give each model's runs their own folder",
            )


def _context(run: Run) -> dict[tuple[str, str], Any]:
    """Fields that may differ, and are worth showing when they do."""
    fields: dict[tuple[str, str], Any] = {("model", "name"): run.model_name}
    for key in SETTING_KEYS:
        fields[("settings", key)] = run.workload.get(key)
    for key, value in run.environment.items():
        if key not in VOLATILE_ENVIRONMENT and not isinstance(value, (dict, list)):
            fields[("environment", key)] = value
    return fields


def _show(values: list[Any]) -> str:
    distinct = sorted({repr(v) if isinstance(v, str) else str(v) for v in values})
    return " | ".join(distinct)


def identity(run: Run) -> str:
    """What a run measured (model shape, device, workload) as one hashable text: runs with the same identity
    are compared with each other, whatever else differs."""
    return repr(sorted(_identity(run).items(), key=repr))


def _compare_fields(
    base: list[dict], new: list[dict], blocking: bool, within: bool = True
) -> list[Difference]:
    """Fields that differ between the sides (and, with ``within``, between runs of one side)."""
    keys = list(dict.fromkeys(k for fields in base + new for k in fields))
    found = []
    for key in keys:
        base_values = [fields.get(key) for fields in base]
        new_values = [fields.get(key) for fields in new]
        varies = within and len({_show([v]) for v in base_values + new_values}) > 1
        if _show(base_values) != _show(new_values) or varies:
            found.append(
                Difference(
                    scope=key[0],
                    key=key[1],
                    base=_show(base_values),
                    new=_show(new_values),
                    blocking=blocking,
                )
            )
    return found


def _side_ceilings(side: Side) -> dict[str, float | None]:
    """Each measured ceiling's median over a side's runs (None where no run has it)."""
    import statistics

    medians: dict[str, float | None] = {}
    for key, _, _ in CEILINGS:
        found = [run.ceilings.get(key) for run in side.runs]  # free-form: checked here
        figures: list[float] = [f for f in found if isinstance(f, (int, float)) and f > 0]
        medians[key] = statistics.median(figures) if figures else None
    return medians


def ceiling_shifts(base: Side, new: Side, threshold: float) -> list[Difference]:
    """Measured ceilings (medians over each side's runs) that moved by more than ``threshold``."""
    found = []
    before_all, after_all = _side_ceilings(base), _side_ceilings(new)
    for key, label, unit in CEILINGS:
        before, after = before_all[key], after_all[key]
        if before is None or after is None:
            continue
        change = after / before - 1
        if abs(change) > threshold:
            found.append(
                Difference(
                    scope="ceilings",
                    key=label,
                    base=si(before, unit),
                    new=f"{si(after, unit)} ({change:+.1%})",
                    blocking=False,
                )
            )
    return found


def ceiling_movement(base: Side, new: Side) -> float:
    """How far the machine itself moved between the sides, as evidenced by their measured ceilings: the
    largest factor by which any ceiling differs (either way), minus 1; 0 when none can be compared. The same
    code timed on a machine whose memory system ran 30% slower runs up to 30% slower."""
    before_all, after_all = _side_ceilings(base), _side_ceilings(new)
    factors = [
        max(after / before, before / after)
        for key in before_all
        if (before := before_all[key]) is not None and (after := after_all[key]) is not None
    ]
    return max(factors, default=1.0) - 1.0


def differences(base: Side, new: Side, threshold: float) -> list[Difference]:
    """Blocking differences first (model, device, workload: across all runs of both sides, so runs within
    a side must agree too), then the context: settings, environment, measured ceilings."""
    base_groups, new_groups = {identity(r) for r in base.runs}, {identity(r) for r in new.runs}
    # Folders holding runs of several models (or devices, workloads) compare model with model: the sides must
    # hold the same set of them, and variation within a side is then expected, not a difference.
    grouped = len(base_groups | new_groups) > 1 and base_groups == new_groups
    found = (
        []
        if grouped
        else _compare_fields(
            [_identity(r) for r in base.runs], [_identity(r) for r in new.runs], blocking=True
        )
    )
    found += _compare_fields(
        [_context(r) for r in base.runs],
        [_context(r) for r in new.runs],
        blocking=False,
        within=not grouped,
    )
    return found + ceiling_shifts(base, new, threshold)
