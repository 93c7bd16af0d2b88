"""Write files atomically (a temporary file in the same folder, then a rename), so a reader or an interrupted
run never sees a half-written file; special files (``/dev/null``, FIFOs, character devices) are written in
place, never replaced. The one writer of every file llmroof writes: results, reports, the calibration cache.
Below specs in the import order (as :mod:`llmroof.readers` is), so any layer may write through it."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import stat
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from llmroof.errors import LlmroofError, shorten
from llmroof.readers import os_error


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


def is_special(path: str | Path) -> bool:
    """Whether ``path`` must be written in place, never replaced: a character device (``/dev/null``), a FIFO,
    a socket, or anything reached through ``/dev`` or ``/proc`` (``/dev/stdout`` may point at a file the shell
    opened for appending, which a rename would cut loose)."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False  # nothing there yet (or unreachable: the write says why)
    if not stat.S_ISREG(mode):
        return True
    return any(str(p).startswith(("/dev/", "/proc/")) for p in (*_link_chain(path), os.path.realpath(path)))


def _link_chain(path: Path) -> list[Path]:
    """``path`` and every path its symbolic links lead through (``/dev/stdout`` -> ``/proc/self/fd/1`` -> ...)."""
    chain = [Path(os.path.abspath(path))]
    while chain[-1].is_symlink() and len(chain) < 40:
        target = Path(os.readlink(chain[-1]))
        chain.append(Path(os.path.normpath(chain[-1].parent / target)))
    return chain


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path``: the one writer of every file llmroof produces.

    A regular file (new or existing; through a symbolic link, the file it points to) is written to a temporary
    file in the same folder and renamed over the target, so a reader or an interrupted run never sees half a
    file. A special file (see :func:`is_special`) is written in place, never replaced. Failures (a folder that
    cannot be written, a full disk, a name too long) are a :class:`LlmroofError` naming the path.
    """
    path = Path(path)
    try:
        if is_special(path):
            with open(path, "a", encoding="utf-8") as handle:  # append: never truncate what a shell opened
                handle.write(text)
            return path
        _replace(Path(os.path.realpath(path)) if path.is_symlink() else path, text)
    except OSError as exc:
        raise os_error(path, exc, "cannot write") from None
    return path


def _replace(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:100]}.", suffix=".tmp", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; results are ordinary files
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def check_writable(path: str | Path, *, folder: bool = False) -> None:
    """Fail now, before anything expensive runs, when ``path`` (a file, or with ``folder`` a folder to write
    files into) cannot be written: creates missing parent folders and a probe file, then removes the probe."""
    path = Path(path)
    try:
        if not folder and is_special(path):
            if not os.access(path, os.W_OK):
                raise PermissionError(13, "Permission denied")
            return
        where = path if folder else path.parent
        if where.exists() and not where.is_dir():
            raise LlmroofError(f"{shorten(str(where))}: not a folder", "choose a folder (or a new name) to write to")
        if not folder and path.is_dir():
            raise LlmroofError(f"{shorten(str(path))}: is a folder", "name a file to write")
        where.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".llmroof-probe.", dir=where)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise os_error(path, exc, "cannot write") from None


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
