"""A streaming reader of PyTorch-profiler (Kineto) Chrome-trace JSON, plain or gzipped.

The file is read in 1 MiB pieces and decoded one event at a time (``json.JSONDecoder.raw_decode`` on a
sliding buffer), so memory holds one piece and the columns of :class:`~llmroof.trace.events.TraceEvents`,
never the whole document: a 2 GB trace reads in bounded memory. The standard library's decoder is the
scanner (C, strict about control characters); no streaming JSON library is needed for a format whose
only large value is one flat array of small objects.

Kept: ``kernel`` (and ``gpu_memcpy``/``gpu_memset``), ``cpu_op``, ``user_annotation``,
``gpu_user_annotation`` and ``cuda_runtime`` events, in their current spellings and the older ones
(``Kernel``, ``Operator``, ``Runtime``; ``External id``/``external id``, ``Input Dims``/``Input dims``);
``deviceProperties`` and ``distributedInfo``. ``ac2g`` flow events repeat the ``correlation`` ids kernels
and runtime calls carry, so they are not needed.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import zlib
from pathlib import Path
from typing import IO, Any

from llmroof.errors import LlmroofError, shorten
from llmroof.trace.events import SHAPE_OPS, Range, TraceEvents

CHUNK_CHARS = 1 << 20
MAX_VALUE_CHARS = 256 << 20
"""One JSON value (an event, ``deviceProperties``) larger than this is refused: no profiler writes one."""
_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()

CATEGORIES = {
    "kernel": "kernel",
    "gpu_memcpy": "kernel",
    "gpu_memset": "kernel",
    "memcpy": "kernel",
    "memset": "kernel",
    "cpu_op": "cpu_op",
    "operator": "cpu_op",
    "user_annotation": "range",
    "gpu_user_annotation": "gpu_range",
    "cuda_runtime": "runtime",
    "runtime": "runtime",
    "cuda_driver": "runtime",
}
"""Lower-cased ``cat`` -> what the reader makes of it (every other category is skipped)."""
_HINT = "is this a PyTorch profiler trace (torch.profiler's export_chrome_trace, or an engine's *.pt.trace.json.gz)?"


class _Buffer:
    """A text stream read piece by piece, decoded one JSON value at a time."""

    def __init__(self, stream: IO[str], where: str) -> None:
        self.stream, self.where = stream, where
        self.text, self.pos, self.eof = "", 0, False

    def fill(self, at_least: int = CHUNK_CHARS) -> bool:
        """Append the next piece (dropping what was consumed); False at the end of the stream."""
        data = self.stream.read(max(at_least, CHUNK_CHARS))
        if not data:
            self.eof = True
            return False
        self.text = self.text[self.pos :] + data
        self.pos = 0
        return True

    def peek(self) -> str:
        """The next non-blank character ("" at the end)."""
        while True:
            self.pos = _WS.match(self.text, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.text) or not self.fill():
                return self.text[self.pos : self.pos + 1]

    def expect(self, chars: str) -> str:
        found = self.peek()
        if not found or found not in chars:
            what = "the end of the file" if not found else repr(found)
            raise LlmroofError(
                f"{self.where}: invalid JSON: expected {' or '.join(map(repr, chars))}, found "
                f"{what}",
                "the trace is truncated or not JSON" if not found else _HINT,
            )
        self.pos += 1
        return found

    def value(self) -> Any:
        """Decode the next JSON value, reading on while it is cut by the end of the piece."""
        self.peek()
        grow = CHUNK_CHARS
        while True:
            try:
                value, end = _DECODER.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as exc:
                if not self.eof and len(self.text) - self.pos < MAX_VALUE_CHARS and self.fill(grow):
                    grow *= 2
                    continue
                line = exc.msg if exc.pos < len(self.text) else "the file ends inside a value"
                raise LlmroofError(
                    f"{self.where}: invalid JSON: {line}", "the trace is truncated or corrupt"
                ) from None
            if end == len(self.text) and not self.eof and self.fill():
                continue  # a number may go on in the next piece
            self.pos = end
            return value


def open_text(path: Path) -> IO[str]:
    """The file as text, gunzipped when it starts with the gzip magic."""
    raw = path.open("rb")
    head = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
    binary: IO[bytes] = gzip.GzipFile(fileobj=raw) if head == b"\x1f\x8b" else raw  # type: ignore[assignment]
    return io.TextIOWrapper(binary, encoding="utf-8", errors="strict")


def read_chrome(path: str | Path) -> TraceEvents:
    """Read one Chrome-trace JSON file (``.json`` or ``.json.gz``) into :class:`TraceEvents`."""
    path = Path(path)
    where = shorten(str(path))
    events = TraceEvents(source=str(path))
    try:
        with open_text(path) as stream:
            _read_document(_Buffer(stream, where), events)
    except OSError as exc:
        reason = (
            "a truncated or corrupt gzip file"
            if isinstance(exc, (gzip.BadGzipFile, EOFError))
            else (exc.strerror or type(exc).__name__)
        )
        raise LlmroofError(f"{where}: cannot read it: {reason}", _HINT) from None
    except (EOFError, zlib.error) as exc:
        raise LlmroofError(
            f"{where}: cannot read it: a truncated or corrupt gzip file ({exc})", _HINT
        ) from None
    except UnicodeDecodeError:
        raise LlmroofError(f"{where}: cannot read it: not UTF-8 text", _HINT) from None
    return events


def _read_document(buffer: _Buffer, events: TraceEvents) -> None:
    """``{"traceEvents": [...], ...}`` (Kineto) or a bare ``[...]`` of events (the JSON Array Format)."""
    opening = buffer.expect("{[")
    if opening == "[":
        _read_events(buffer, events)
        return
    if buffer.peek() == "}":
        buffer.pos += 1
        return
    while True:
        key = buffer.value()
        buffer.expect(":")
        if key == "traceEvents" and buffer.peek() == "[":
            buffer.pos += 1
            _read_events(buffer, events)
        else:
            _keep_metadata(key, buffer.value(), events)
        if buffer.expect(",}") == "}":
            return


def _read_events(buffer: _Buffer, events: TraceEvents) -> None:
    """The events of an array whose ``[`` was read, up to its ``]``: many at a time (one ``json.loads`` of
    the events up to the last ``}, {`` of the buffer), one at a time where that does not parse (a cut
    inside a string or a nested value: the batch is then unbalanced and fails, never parses wrong)."""
    if buffer.peek() == "]":
        buffer.pos += 1
        return
    add = _adder(events)
    while True:
        if len(buffer.text) - buffer.pos < CHUNK_CHARS and not buffer.eof:
            buffer.fill()
        cut = _last_separator(buffer.text, buffer.pos)
        if cut is not None:
            end, start = cut
            try:
                batch = json.loads("[" + buffer.text[buffer.pos : end + 1] + "]")
            except json.JSONDecodeError:
                batch = None
            if batch is not None:
                for event in batch:
                    if type(event) is dict:
                        add(event)
                buffer.pos = start
                continue
        event = buffer.value()
        if isinstance(event, dict):
            add(event)
        if buffer.expect(",]") == "]":
            return


def _last_separator(text: str, pos: int) -> tuple[int, int] | None:
    """(index of the ``}``, index of the ``{``) of the last ``}`` ``,`` ``{`` (blanks allowed) after ``pos``."""
    limit = len(text)
    for _ in range(64):
        close = text.rfind("}", pos, limit)
        if close < 0:
            return None
        after = _WS.match(text, close + 1).end()  # type: ignore[union-attr]
        if text.startswith(",", after):
            start = _WS.match(text, after + 1).end()  # type: ignore[union-attr]
            if text.startswith("{", start):
                return (close, start) if close > pos else None
        limit = close
    return None


def _keep_metadata(key: Any, value: Any, events: TraceEvents) -> None:
    if key == "deviceProperties" and isinstance(value, list):
        events.device_names += [
            str(d["name"]) for d in value if isinstance(d, dict) and d.get("name")
        ]
    elif key == "distributedInfo" and isinstance(value, dict):
        events.distributed = value


def _adder(events: TraceEvents) -> Any:
    """The function that files one event dict into ``events`` (closures over the columns: the hot loop,
    run once per event, so the columns' appends and the name index are bound here)."""
    names, kernels, ops = events.names, events.kernels, events.cpu_ops
    name_index, intern = names.index, names.id
    k_name, k_start, k_dur = kernels.name.append, kernels.start_us.append, kernels.dur_us.append
    k_stream, k_external, k_corr = (
        kernels.stream.append,
        kernels.external_id.append,
        kernels.correlation.append,
    )
    add_launch, ranges = events.add_launch, events.ranges
    shapes: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    categories = {
        **CATEGORIES,
        **{c.capitalize(): k for c, k in CATEGORIES.items()},
        "Kernel": "kernel",
        "Operator": "cpu_op",
        "Runtime": "runtime",
        "Memcpy": "kernel",
        "Memset": "kernel",
        # frequent categories llmroof does not read: skipped without a second look-up
        "ac2g": "",
        "python_function": "",
        "Trace": "",
        "fwdbwd": "",
        "overhead": "",
        "cuda_profiler_range": "",
    }

    def add(event: dict[str, Any]) -> None:
        cat = event.get("cat")
        kind = categories.get(cat) if type(cat) is str else None
        if not kind:
            if kind == "" or not isinstance(cat, str):
                return
            kind = categories.get(cat.lower())
            if not kind:
                return
        if event.get("ph", "X") != "X":
            return
        ts, dur, name = event.get("ts"), event.get("dur"), event.get("name")
        # numbers, not booleans (type(True) is bool, so an exact type test leaves them out)
        if (
            (type(ts) is not float and type(ts) is not int)
            or (type(dur) is not float and type(dur) is not int)
            or type(name) is not str
        ):
            return
        args = event.get("args")
        if type(args) is not dict:
            args = {}
        external = args.get("External id", args.get("external id", -1))
        if type(external) is not int:
            external = -1
        if kind == "kernel":
            correlation = args.get("correlation", -1)
            stream = args.get("stream", event.get("tid", 0))
            found = name_index.get(name)
            k_name(intern(name) if found is None else found)
            k_start(float(ts))
            k_dur(float(dur))
            k_stream(stream if type(stream) is int else 0)
            k_external(external)
            k_corr(correlation if type(correlation) is int else -1)
        elif kind == "cpu_op":
            if name.startswith("ProfilerStep#"):  # older PyTorch recorded the step as an operator
                ranges.append(Range(name, float(ts), float(dur), gpu=False))
                return
            tid = event.get("tid", 0)
            found = name_index.get(name)
            row = ops.add(
                intern(name) if found is None else found,
                float(ts),
                float(dur),
                tid if type(tid) is int else 0,
                external,
            )
            if name in SHAPE_OPS:
                dims = args.get("Input Dims", args.get("Input dims"))
                if isinstance(dims, list):
                    shape = tuple(tuple(d) if isinstance(d, list) else () for d in dims)
                    ops.shapes[row] = shapes.setdefault(shape, shape)  # one copy of each shape
        elif kind == "runtime":
            correlation = args.get("correlation", -1)
            if type(correlation) is int and correlation >= 0:
                add_launch(correlation, float(ts), external)
        else:
            ranges.append(Range(name, float(ts), float(dur), gpu=kind == "gpu_range"))

    return add
