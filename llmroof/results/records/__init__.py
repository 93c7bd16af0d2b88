"""Typed, frozen records of every llmroof results file: one class per schema, one reader
(``Record.from_dict``), one writer (``Record.to_dict``), and :func:`load` for any file.

Each schema name and version is defined once, in :mod:`llmroof.schemas`; each record class names its own as
``SCHEMA``, and :data:`SCHEMAS` maps them to the classes. Readers keep keys they do not know (files of later versions or other branches load), and fail with
:class:`~llmroof.errors.LlmroofError` on a missing required key.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

from llmroof import schemas
from llmroof.errors import LlmroofError
from llmroof.labels import config_label
from llmroof.results.records.base import Record

if TYPE_CHECKING:
    from typing import TypeAlias

    from llmroof.results.records.analysis import AnalysisRecord
    from llmroof.results.records.bench import BenchResult
    from llmroof.results.records.ceilings import CeilingsCacheRecord, CeilingsRecord
    from llmroof.results.records.comm import CommRecord
    from llmroof.results.records.compare import CompareRecord
    from llmroof.results.records.compare_trace import TraceCompareRecord
    from llmroof.results.records.grid import GridRecord
    from llmroof.results.records.history import HistoryRecord
    from llmroof.results.records.plan import PlanRecord
    from llmroof.results.records.profile import ProfileRecord
    from llmroof.results.records.sample import SampleRecord
    from llmroof.results.records.simulate import SimulateResult
    from llmroof.results.records.sweep import SweepRecord
    from llmroof.results.records.trace import TraceRecord

    AnyRecord: TypeAlias = (
        AnalysisRecord
        | SweepRecord
        | ProfileRecord
        | SampleRecord
        | CommRecord
        | CompareRecord
        | PlanRecord
        | BenchResult
        | HistoryRecord
        | SimulateResult
        | GridRecord
        | TraceRecord
        | CeilingsRecord
        | TraceCompareRecord
        | CeilingsCacheRecord
    )
    """What :func:`load` returns without a ``kind``: one of :data:`RECORDS` (tests check the two
    agree)."""
    RECORDS: tuple[type[Record], ...]
    SCHEMAS: dict[str, type[Record]]

CLASSES: dict[str, tuple[str, str]] = {
    schemas.ANALYSIS: ("analysis", "AnalysisRecord"),
    schemas.SWEEP: ("sweep", "SweepRecord"),
    schemas.PROFILE: ("profile", "ProfileRecord"),
    schemas.SAMPLE: ("sample", "SampleRecord"),
    schemas.COMM: ("comm", "CommRecord"),
    schemas.COMPARE: ("compare", "CompareRecord"),
    schemas.PLAN: ("plan", "PlanRecord"),
    schemas.BENCH: ("bench", "BenchResult"),
    schemas.HISTORY: ("history", "HistoryRecord"),
    schemas.SIMULATE: ("simulate", "SimulateResult"),
    schemas.GRID: ("grid", "GridRecord"),
    schemas.TRACE: ("trace", "TraceRecord"),
    schemas.CEILINGS: ("ceilings", "CeilingsRecord"),
    schemas.COMPARE_TRACE: ("compare_trace", "TraceCompareRecord"),
    schemas.CEILINGS_CACHE: ("ceilings", "CeilingsCacheRecord"),
}
"""Schema -> (module under ``llmroof.results.records``, class) of its record. The classes are imported
when first named (``from llmroof.results.records import ProfileRecord``, or a file of that schema
read by :func:`load`), so that a command imports the records of its own schema only: importing
all of them costs about 90 ms at start-up."""
_MODULES = {name: module for module, name in CLASSES.values()}


def _record_type(name: str) -> type[Record]:
    module = importlib.import_module(f"{__name__}.{_MODULES[name]}")
    cls: type[Record] = getattr(module, name)
    return cls


def __getattr__(name: str) -> Any:
    """The record classes, :data:`RECORDS`, :data:`SCHEMAS` and :data:`AnyRecord`, imported on first
    use."""
    if name in _MODULES:
        return _record_type(name)
    if name == "RECORDS":  # Schema order: what load() reads, the order tests and docs list them
        return tuple(_record_type(cls) for _, cls in CLASSES.values())
    if name == "SCHEMAS":  # Schema (``llmroof.profile/1``) -> its record class
        return {schema: _record_type(cls) for schema, (_, cls) in CLASSES.items()}
    if name == "AnyRecord":
        import functools
        import operator

        return functools.reduce(operator.or_, __getattr__("RECORDS"))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


R = TypeVar("R", bound=Record)

__all__ = [
    "CLASSES",
    "RECORDS",
    "SCHEMAS",
    "AnalysisRecord",
    "AnyRecord",
    "BenchResult",
    "CeilingsCacheRecord",
    "CeilingsRecord",
    "CommRecord",
    "CompareRecord",
    "GridRecord",
    "HistoryRecord",
    "PlanRecord",
    "ProfileRecord",
    "Record",
    "SampleRecord",
    "SimulateResult",
    "SweepRecord",
    "TraceCompareRecord",
    "TraceRecord",
    "config_label",
    "from_dict",
    "load",
]


def record_class(schema: Any, where: str = "") -> type[Record]:
    """The record class of a file's ``schema``, by name (``llmroof.profile``) so a newer version gets a clear
    error from :func:`~llmroof.results.records.base.check_schema`."""
    by_name = {s.partition("/")[0]: cls for s, (_, cls) in CLASSES.items()}
    name = schema.partition("/")[0] if isinstance(schema, str) else None
    if name not in by_name:
        raise LlmroofError(
            f"{where or 'results'}: schema is {schema!r}, not one llmroof writes "
            f"({', '.join(CLASSES)})",
            "is this an llmroof results file?",
        )
    return _record_type(by_name[name])


def from_dict(data: Any, where: str = "") -> AnyRecord:
    """The record of a results object, whatever its schema."""
    if not isinstance(data, dict):
        raise LlmroofError(
            f"{where or 'results'}: expected a JSON object", "is this an llmroof results file?"
        )
    record: Any = record_class(data.get("schema"), where).from_dict(data, where)
    return record  # the class of its schema: one of AnyRecord


@overload
def load(path: str | Path) -> AnyRecord: ...


@overload
def load(path: str | Path, kind: type[R]) -> R: ...


def load(path: str | Path, kind: type[Record] | None = None) -> Record:
    """Read any llmroof results file (a profile's or a bench's ``results.json``, or the JSON of analyze, plan,
    compare, sample, comm) into its record. A profile run's folder reads its ``results.json``.

    ``kind`` (a record class, e.g. :class:`ProfileRecord`) types the result and refuses a file of another
    schema: ``load(path, ProfileRecord).configs`` type-checks."""
    from llmroof.results.io import read_json

    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    record: Record = from_dict(read_json(path), str(path))
    if kind is not None and not isinstance(record, kind):
        raise LlmroofError(
            f"{path}: a {record.SCHEMA} file, not {kind.SCHEMA}",
            f"pass a {kind.SCHEMA} file, or load it without a kind",
        )
    return record
