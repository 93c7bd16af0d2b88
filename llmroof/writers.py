"""The output policy of every command, in one place (docs/io-policy.md says it in words):

- A regular file is written atomically (a temporary file in the same folder, then a rename), so a
  reader or an interrupted run never sees half a file.
- No write follows a symbolic link: the rename replaces the link itself, the file it pointed to is
  untouched (a link in the calibration cache, or a stale ``.process-0.json`` link, never leads a
  write to ``/etc/passwd``). The one exception is a path named under ``/dev`` or ``/proc``
  (``/dev/stdout``).
- Special files (``/dev/null``, FIFOs, character devices) named by the user are written in place,
  never replaced; a block device (a disk) is never written.
- A file whose name the user gave (``--out FILE``, ``--html FILE``) is theirs to replace, as the
  shell's ``>`` is; a file llmroof names itself (``results.json`` and ``report.html`` in an
  ``--out`` folder, ``FILE.partial`` beside a sweep's ``--out``) is replaced only when llmroof wrote
  it (:func:`written_by_llmroof`), else only with ``--force`` (:func:`check_output_folder`,
  :func:`check_side_file`). Commands check these before the first measurement.

The one writer of every file llmroof writes: results, reports, the calibration cache. Below specs in
the import order (as :mod:`llmroof.readers` is), so any layer may write through it."""

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
    """Whether ``path`` must be written in place, never replaced: a FIFO, character device or socket
    named as such, or a link under ``/dev`` or ``/proc`` (``/dev/stdout`` -> ``/proc/self/fd/1`` may
    point at a file the shell opened for appending, which a rename would cut loose). A symbolic link
    anywhere else is not special whatever it points to: it is replaced, never followed (a stale
    ``.process-0.json`` link to a FIFO or a disk leads nowhere)."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return False  # nothing there yet (or unreachable: the write says why)
    if stat.S_ISLNK(mode):
        return os.path.abspath(path).startswith(("/dev/", "/proc/"))
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _check_not_a_disk(path: Path) -> None:
    if stat.S_ISBLK(os.stat(path).st_mode):
        raise LlmroofError(
            f"{shorten(str(path))}: a block device (a disk); llmroof never writes one",
            "name a file, a FIFO or /dev/stdout",
        )


def write_text_atomic(path: str | Path, text: str, *, special_in_place: bool = True) -> Path:
    """Write ``text`` to ``path``: the one writer of every file llmroof produces.

    A regular file (new or existing) is written to a temporary file in the same folder and renamed over the
    target, so a reader or an interrupted run never sees half a file; a symbolic link is replaced by the file,
    never written through. A special file (see :func:`is_special`) is written in place, never replaced, unless
    ``special_in_place`` is False (the calibration cache, a path the user never named: a FIFO there would
    block the write forever); a block device is refused. Failures (a folder that cannot be written, a full
    disk, a name too long) are a :class:`LlmroofError` naming the path.
    """
    path = Path(path)
    try:
        if special_in_place and is_special(path):
            _check_not_a_disk(path)
            with open(
                path, "a", encoding="utf-8"
            ) as handle:  # append: never truncate what a shell opened
                handle.write(text)
            return path
        _replace(path, text)
    except OSError as exc:
        raise os_error(path, exc, "cannot write") from None
    return path


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to the regular file ``path`` atomically, never through a link (a job file, a
    pickle)."""
    path = Path(path)
    try:
        _replace(path, data)
    except OSError as exc:
        raise os_error(path, exc, "cannot write") from None
    return path


def _replace(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:100]}.", suffix=".tmp", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; results are ordinary files
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8") if isinstance(text, str) else text)
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
            _check_not_a_disk(path)
            if not os.access(path, os.W_OK):
                raise PermissionError(13, "Permission denied")
            return
        where = path if folder else path.parent
        if where.exists() and not where.is_dir():
            raise LlmroofError(
                f"{shorten(str(where))}: not a folder",
                "choose a folder (or a new name) to write to",
            )
        if not folder and path.is_dir():
            raise LlmroofError(f"{shorten(str(path))}: is a folder", "name a file to write")
        where.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".llmroof-probe.", dir=where)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise os_error(path, exc, "cannot write") from None


def write_json_atomic(path: str | Path, data: Any, *, special_in_place: bool = True) -> Path:
    """Write ``data`` as JSON to ``path`` atomically (the text is built before the file is touched)."""
    return write_text_atomic(path, dumps(data) + "\n", special_in_place=special_in_place)


HTML_MARKER = b'<meta name="generator" content="llmroof'
"""In the head of every HTML page llmroof writes (reports/templates/base.html.j2)."""
_SNIFF_BYTES = 4096


def written_by_llmroof(path: str | Path) -> bool:
    """Whether ``path`` is a regular file (not a link, not a special file) that llmroof wrote: JSON
    whose ``schema`` starts ``llmroof.`` (every results file and the calibration cache carry one, as
    the first key), or an HTML page with llmroof's generator tag in its first 4 KiB. Only the first
    4 KiB are read: the schema key comes first in every file llmroof writes, so a results file is
    recognised without parsing megabytes of samples; a user's file that happens to start the same
    way is, by then, one llmroof could have written."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError:
        return False
    if HTML_MARKER in head:
        return True
    text = head.decode("utf-8", "replace").lstrip()
    return text.startswith("{") and text[1:].lstrip().startswith('"schema": "llmroof.')


def check_output_folder(folder: str | Path, names: Iterable[str], *, force: bool) -> None:
    """Refuse (before anything runs) to replace a file in ``folder`` that the run will write
    (``names``) when llmroof did not write it, unless ``force``. A symbolic link there is replaced,
    never followed, so it needs no ``--force``; a folder or special file under one of the names
    cannot be replaced at all."""
    folder = Path(folder)
    for name in names:
        path = folder / name
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            continue  # nothing there (or the folder's check says why)
        if stat.S_ISLNK(mode):
            continue
        if not stat.S_ISREG(mode):
            raise LlmroofError(
                f"{shorten(str(path))}: is a folder or special file, not a file llmroof wrote",
                "move it away, or choose another --out",
            )
        if not force and not written_by_llmroof(path):
            raise LlmroofError(
                f"{shorten(str(path))} was not written by llmroof",
                "move it away, choose another --out, or pass --force to replace it",
            )


def check_side_file(path: str | Path, *, force: bool, what: str) -> None:
    """Refuse to replace ``path``, a file llmroof names beside the user's (``FILE.partial``), when
    something is there, unless ``force``: its contents (a user's file, or rows of an earlier
    interrupted run) cannot be told from ours."""
    if force or not os.path.lexists(path) or os.path.islink(path):
        return
    raise LlmroofError(
        f"{shorten(str(path))} exists ({what})", "move it away, or pass --force to replace it"
    )


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
