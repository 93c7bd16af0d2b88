"""Rows streamed to a file in chunks (CSV, or JSON lines), for sweeps too large to hold.

The file is written as ``NAME.partial`` beside the target and renamed when complete, so a reader never takes
a half-written file for a finished one, while an interrupted or failing run keeps the rows it finished.
A FIFO or character device (``--out /dev/stdout``, ``mkfifo g.csv``) is written in place. The output
policy of :mod:`llmroof.writers` holds: a ``NAME.partial`` already there is replaced only with
``force``, and no link is followed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from llmroof.errors import LlmroofError
from llmroof.readers import os_error
from llmroof.writers import check_side_file, check_writable, is_special

JSON_SLICE_ROWS = 8192
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def stream_format(path: Path) -> str:
    """``csv`` or ``jsonl``, from the file's suffix."""
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise LlmroofError(
            f"--out {path}: unknown file type {path.suffix or '(none)'!r}",
            "name it .csv (CSV) or .jsonl (JSON lines)",
        ) from None


def write_chunk(handle: IO[str], columns: Mapping[str, Any], fmt: str, header: bool) -> int:
    """Write one chunk of rows, given as columns (numpy arrays, or one value for a whole column); returns its
    rows.

    CSV goes through the standard library's writer, which formats each float with ``repr`` in C (every float's
    shortest round-trip form, 1.6x faster than pandas' ``to_csv`` here, the same text); JSON lines through
    pandas, with 15 significant digits (its most).
    """
    rows = max(len(v) for v in columns.values() if hasattr(v, "__len__") and not isinstance(v, str))
    if fmt == "csv":
        import csv
        import itertools

        writer = csv.writer(handle, lineterminator="\n")
        if header:
            writer.writerow(columns)
        lists = [
            v.tolist() if hasattr(v, "tolist") else itertools.repeat(v, rows)
            for v in columns.values()
        ]
        writer.writerows(zip(*lists))
        return rows
    import pandas as pd

    frame = pd.DataFrame(columns)
    for start in range(0, rows, JSON_SLICE_ROWS):  # pandas builds each slice's text whole
        text = frame.iloc[start : start + JSON_SLICE_ROWS].to_json(
            orient="records", lines=True, double_precision=15
        )
        handle.write(text if text.endswith("\n") else text + "\n")
    return rows


def partial_path(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


def check_stream_target(path: Path, *, force: bool) -> None:
    """Before anything runs: ``path`` writable (a block device refused), and ``NAME.partial`` beside
    a regular target free (or ``force``)."""
    check_writable(path)
    if not is_special(path):
        check_side_file(
            partial_path(path),
            force=force,
            what="the rows of an interrupted sweep, or a file of yours; llmroof writes rows there",
        )


@contextlib.contextmanager
def streamed_file(path: Path, *, force: bool = False) -> Iterator[IO[str]]:
    """An open ``path.partial`` that becomes ``path`` when the block completes; on an error it stays
    (with the rows written so far) and the error says so. A special ``path`` is written in place."""
    if is_special(path):
        check_writable(path)
        try:
            with open(
                path, "a", encoding="utf-8", newline=""
            ) as handle:  # never truncate what a shell opened
                yield handle
        except OSError as exc:  # a FIFO whose reader went away, a device that refuses
            raise os_error(path, exc, "cannot write") from None
        return
    check_stream_target(path, force=force)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        if os.path.lexists(partial):
            os.unlink(partial)  # a link (never followed) or, with force, an earlier partial
        fd = os.open(partial, flags, 0o666)
    except OSError as exc:
        raise os_error(partial, exc, "cannot write") from None
    try:
        with open(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException as exc:
        if isinstance(exc, LlmroofError):
            raise LlmroofError(
                f"{exc.message} (the rows before it are in {partial})", exc.hint
            ) from None
        raise
    os.replace(partial, path)
