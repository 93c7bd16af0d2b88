"""Write results atomically (a temporary file in the same folder, then a rename), so a reader or an
interrupted run never sees a half-written file; read them back with clear errors."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from llmroof.errors import LlmroofError


def clean(value: Any) -> Any:
    """JSON has no NaN or infinity: write them as null."""
    if isinstance(value, float) and (math.isinf(value) or math.isnan(value)):
        return None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def dumps(data: Any) -> str:
    return json.dumps(clean(data), indent=2, allow_nan=False)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename, so a reader or an
    interrupted run never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; results are ordinary files
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write ``data`` as JSON to ``path`` atomically (the text is built before the file is touched)."""
    return write_text_atomic(path, dumps(data) + "\n")


def csv_text(rows: Iterable[Mapping[str, Any]]) -> str:
    """Rows as CSV (the first row's keys are the header; None and NaN are empty cells); empty without rows."""
    rows = list(rows)
    if not rows:
        return ""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in clean(dict(row)).items()})
    return buffer.getvalue()


def write_csv_atomic(path: str | Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Write rows as CSV to ``path`` atomically."""
    return write_text_atomic(path, csv_text(rows))


def read_json(path: str | Path, schema_prefix: str | None = None) -> dict[str, Any]:
    """Read a results file, checking its ``schema`` when ``schema_prefix`` is given."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LlmroofError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LlmroofError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise LlmroofError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg}); truncated or corrupt?") from None
    if not isinstance(data, dict):
        raise LlmroofError(f"{path}: expected a JSON object")
    if schema_prefix is not None and not str(data.get("schema", "")).startswith(schema_prefix):
        raise LlmroofError(f"{path}: schema is {data.get('schema')!r}, expected {schema_prefix}...",
                           "is this a results file of llmroof?")
    return data
