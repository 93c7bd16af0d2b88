"""A reader of Nsight Systems SQLite exports (``nsys export --type sqlite``).

Tables read: ``CUPTI_ACTIVITY_KIND_KERNEL`` (the kernels; ``start``/``end`` in ns, ``streamId``,
``correlationId``, the name as a ``StringIds`` id in ``demangledName``, or ``shortName`` in exports that
lack it), ``CUPTI_ACTIVITY_KIND_RUNTIME`` (the launch calls, joined to kernels by ``correlationId``),
``NVTX_EVENTS`` (ranges, ``text`` or ``textId``) and ``TARGET_INFO_GPU`` (the device name), each where
present. Columns are looked up by name first, since NVIDIA changes them between versions; a file
without the kernel table is refused.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from llmroof.errors import LlmroofError, shorten
from llmroof.trace.events import Range, TraceEvents

KERNEL_TABLE = "CUPTI_ACTIVITY_KIND_KERNEL"
NVTX_RANGE_TYPES = (59, 60, 70, 71)
"""NVTX_EVENTS.eventType of push/pop and start/end ranges (CPU and, 70/71, their domain variants)."""
_HINT = "export the report with `nsys export --type sqlite --output trace.sqlite report.nsys-rep`"


def is_sqlite(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(16) == b"SQLite format 3\x00"


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def read_nsys(path: str | Path) -> TraceEvents:
    """Read an nsys SQLite export into :class:`TraceEvents` (times converted from ns to us)."""
    path = Path(path)
    where = shorten(str(path))
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return _read(db, where, str(path))
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise LlmroofError(
            f"{where}: cannot read it as an nsys SQLite export ({exc})", _HINT
        ) from None


def _read(db: sqlite3.Connection, where: str, source: str) -> TraceEvents:
    tables = {
        row[0]
        for row in db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
    }
    if KERNEL_TABLE not in tables:
        raise LlmroofError(
            f"{where}: no {KERNEL_TABLE} table: the report holds no kernels",
            "profile with `nsys profile --trace=cuda,nvtx` and export again",
        )
    events = TraceEvents(source=source)
    strings = dict(db.execute("SELECT id, value FROM StringIds")) if "StringIds" in tables else {}
    columns = _columns(db, KERNEL_TABLE)
    name_column = next(
        (c for c in ("demangledName", "shortName", "mangledName") if c in columns), None
    )
    missing = {"start", "end"} - columns
    if name_column is None or missing:
        raise LlmroofError(
            f"{where}: {KERNEL_TABLE} lacks {', '.join(sorted(missing)) or 'a name column'}",
            "an nsys version this reader does not know? " + _HINT,
        )
    stream = "streamId" if "streamId" in columns else "0"
    correlation = "correlationId" if "correlationId" in columns else "-1"
    rows = db.execute(
        f"SELECT start, end, {name_column}, {stream}, {correlation} FROM {KERNEL_TABLE} "
        "ORDER BY start"
    )
    names = events.names
    for start, end, name, stream_id, corr in rows:
        text = strings.get(name, str(name)) if isinstance(name, int) else str(name)
        events.kernels.add(
            names.id(text), start / 1e3, (end - start) / 1e3, int(stream_id), -1, int(corr)
        )
    if "CUPTI_ACTIVITY_KIND_RUNTIME" in tables and {"start", "correlationId"} <= _columns(
        db, "CUPTI_ACTIVITY_KIND_RUNTIME"
    ):
        for start, corr in db.execute(
            "SELECT start, correlationId FROM CUPTI_ACTIVITY_KIND_RUNTIME"
        ):
            events.add_launch(int(corr), start / 1e3, -1)
    if "NVTX_EVENTS" in tables:
        events.ranges += _nvtx_ranges(db, strings)
    if "TARGET_INFO_GPU" in tables and "name" in _columns(db, "TARGET_INFO_GPU"):
        events.device_names += [
            str(n) for (n,) in db.execute("SELECT name FROM TARGET_INFO_GPU") if n
        ]
    return events


def _nvtx_ranges(db: sqlite3.Connection, strings: dict[int, str]) -> list[Range]:
    columns = _columns(db, "NVTX_EVENTS")
    if not {"start", "end"} <= columns:
        return []
    text = "text" if "text" in columns else "NULL"
    text_id = "textId" if "textId" in columns else "NULL"
    kind = "eventType" if "eventType" in columns else "59"
    ranges = []
    query = f"SELECT start, end, {text}, {text_id}, {kind} FROM NVTX_EVENTS WHERE end IS NOT NULL"
    for start, end, label, label_id, event_type in db.execute(query):
        if event_type not in NVTX_RANGE_TYPES:
            continue
        name = label if label is not None else strings.get(label_id, "")
        ranges.append(Range(str(name), start / 1e3, (end - start) / 1e3, gpu=False))
    return ranges
