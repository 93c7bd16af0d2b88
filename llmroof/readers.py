"""Read the files users hand llmroof (config.json, hardware TOML/JSON, results JSON) into plain data.

Whatever the file holds (binary, UTF-16, a thousand nested brackets, a 5,000-digit integer, a name too long
for the file system), the only exception that leaves these functions is :class:`LlmroofError`, naming the
file and what is wrong with it. Below specs in the import order, so every reader can use it.
"""

from __future__ import annotations

import codecs
import errno
import json
import os
import select
import stat
import sys
import time
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

from llmroof.errors import LlmroofError, shorten

_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def os_error(path: str | Path, exc: OSError, doing: str = "cannot read") -> LlmroofError:
    """A one-line error for a file the operating system refused, with a hint fitting the cause."""
    name = shorten(str(path))
    reason = exc.strerror or str(exc)
    hints = {
        errno.ENOENT: "check the path",
        errno.EACCES: "check the file's permissions",
        errno.EPERM: "check the file's permissions",
        errno.ENAMETOOLONG: "a path or name shorter than the file system's limit (usually 255 bytes a name)",
        errno.EISDIR: "pass a file, not a folder",
        errno.ENOSPC: "free some disk space, or write elsewhere",
        errno.EROFS: "write to a writable folder",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
        errno.ELOOP: "the path is a loop of symbolic links",
    }
    return LlmroofError(f"{name}: {doing}: {reason}", hints.get(exc.errno or 0, "check the path"))


MAX_INPUT_BYTES = 256 * 2**20
"""Larger inputs are refused: no config, hardware or results file comes near, and ``--model /dev/zero`` would
otherwise read until memory runs out."""


SPECIAL_FILE_WAIT_S = 10.0
"""A FIFO or device (``mkfifo c.json``, ``<(cat run.json)``, a terminal) that yields no byte for
this long is refused: a FIFO no program writes to would otherwise block the read forever."""
SPECIAL_FILE_TOTAL_S = 120.0
"""And one still being written after this long (a writer dripping a byte a second) is refused."""


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes: the one reader of every file a user hands llmroof (the input policy,
    docs/io-policy.md). A regular file is read up to :data:`MAX_INPUT_BYTES`; a FIFO, pipe or device
    is read with the same bound on size and a bound on time (:data:`SPECIAL_FILE_WAIT_S`,
    :data:`SPECIAL_FILE_TOTAL_S`), never waited on forever. A missing, unreadable, oddly named,
    endless or silent file is a :class:`LlmroofError`."""
    try:
        # O_NONBLOCK: opening a FIFO no program has open for writing returns at once, not blocking
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise LlmroofError(f"{shorten(str(path))}: no such file", "check the path") from None
    except OSError as exc:
        raise os_error(path, exc) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "Is a directory")
        if stat.S_ISREG(mode):
            os.set_blocking(fd, True)
            with os.fdopen(fd, "rb", closefd=False) as handle:
                raw = handle.read(MAX_INPUT_BYTES + 1)
        else:
            raw = _read_special(fd, path)
    except OSError as exc:
        raise os_error(path, exc) from None
    finally:
        os.close(fd)
    if len(raw) > MAX_INPUT_BYTES:
        raise LlmroofError(
            f"{shorten(str(path))}: larger than {MAX_INPUT_BYTES // 2**20} MiB",
            "is this the right file? (a device such as /dev/zero never ends)",
        )
    return raw


def _read_special(fd: int, path: str | Path) -> bytes:
    """Read a FIFO, pipe or device until its end, :data:`MAX_INPUT_BYTES` + 1 bytes, or a time
    bound."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    chunks: list[bytes] = []
    size = 0
    deadline = time.monotonic() + SPECIAL_FILE_TOTAL_S
    while size <= MAX_INPUT_BYTES:
        wait_s = min(SPECIAL_FILE_WAIT_S, deadline - time.monotonic())
        if wait_s <= 0:
            raise LlmroofError(
                f"{shorten(str(path))}: still being written after {SPECIAL_FILE_TOTAL_S:g} s",
                "write the input to a regular file first",
            )
        if not poller.poll(wait_s * 1e3):
            if time.monotonic() >= deadline:
                continue  # the total bound's message
            raise LlmroofError(
                f"{shorten(str(path))}: nothing to read within {SPECIAL_FILE_WAIT_S:g} s "
                "(a FIFO or device no program writes to)",
                "pass a regular file",
            )
        try:
            chunk = os.read(fd, min(2**20, MAX_INPUT_BYTES + 1 - size))
        except BlockingIOError:
            continue
        if not chunk:
            break  # the writer closed its end
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def decode_text(raw: bytes, source: str) -> str:
    """UTF-8 text (a leading byte-order mark is dropped); UTF-16/32 and binary files are refused by name."""
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            raise LlmroofError(
                f"{source}: cannot read: the file is {encoding} text; llmroof reads UTF-8",
                "save it as UTF-8 (e.g. `iconv -f UTF-16 -t UTF-8`)",
            )
    if b"\x00" in raw[:8192]:
        raise LlmroofError(
            f"{source}: cannot read: a binary file, not text", "pass the JSON or TOML file itself"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LlmroofError(
            f"{source}: cannot read: not UTF-8 text (byte {exc.start}: {exc.reason})",
            "save the file as UTF-8",
        ) from None


def parse_json(text: str | bytes, source: str, *, finite: bool = False) -> Any:
    """Parsed JSON; malformed, too deeply nested or too long numbers are a :class:`LlmroofError`,
    and with ``finite`` so are ``NaN`` and ``Infinity`` (which Python's json reads, and llmroof
    never writes: its results hold null for a number that is missing)."""
    if isinstance(text, bytes):
        text = decode_text(text, source)
    try:
        return json.loads(text, parse_constant=_refuse_constant) if finite else json.loads(text)
    except _NotFinite as exc:
        line = text.count("\n", 0, exc.position(text)) + 1
        raise LlmroofError(
            f"{source}: line {line} holds {exc.args[0]}, not a number llmroof writes",
            "edited by hand? llmroof writes null for a missing number",
        ) from None
    except json.JSONDecodeError as exc:
        raise LlmroofError(
            f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
            "truncated or corrupt? check the file with `python -m json.tool`",
        ) from None
    except RecursionError:
        raise LlmroofError(
            f"{source}: JSON nested too deeply to read", "is this the right file?"
        ) from None
    except ValueError as exc:  # an integer of more than sys.get_int_max_str_digits() digits
        raise LlmroofError(f"{source}: {exc}".split(";")[0], "is this the right file?") from None


class _NotFinite(Exception):
    def position(self, text: str) -> int:
        """Where the constant first appears outside a string (near enough for a line number)."""
        import re

        found = re.search(rf'(?<![\w"]){re.escape(self.args[0])}(?![\w"])', text)
        return found.start() if found else 0


def _refuse_constant(name: str) -> Any:
    raise _NotFinite(name)


def parse_toml(text: str | bytes, source: str) -> Any:
    """Parsed TOML, with the same guarantees as :func:`parse_json`."""
    if isinstance(text, bytes):
        text = decode_text(text, source)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LlmroofError(
            f"{source}: cannot parse: not valid TOML ({exc})", "see docs/hardware.md for the schema"
        ) from None
    except RecursionError:
        raise LlmroofError(
            f"{source}: TOML nested too deeply to read", "is this the right file?"
        ) from None
    except ValueError as exc:
        raise LlmroofError(f"{source}: {exc}".split(";")[0], "is this the right file?") from None


def read_json_file(path: str | Path) -> Any:
    """A JSON file's contents (any JSON value)."""
    return parse_json(read_bytes(path), shorten(str(path)))


def read_toml_file(path: str | Path) -> Any:
    return parse_toml(read_bytes(path), shorten(str(path)))
