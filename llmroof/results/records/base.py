"""The machinery every results record shares: one reader (:meth:`Record.from_dict`) and one writer
(:meth:`Record.to_dict`), driven by the dataclass fields.

A record is a frozen, keyword-only dataclass. A field without a default is a required key: a file without
it is a user error. A key the record does not know (one a later version or another branch added) is kept
in :attr:`Record.extra` and written back, so reading and writing a file never loses anything.

Every plain value is checked against its field's annotation as it is read (``float``: a number, ``int``: an
integer, ``str``, ``bool``, ``Mapping``: an object, ``tuple[X, ...]``: a list of X), so a
hand-edited ``"tpot_fraction": "fast"`` is one error naming the file and the field, not a TypeError in
whichever command reads it first.

Field helpers say how a value crosses the file boundary: :func:`one` (a nested record), :func:`many`
(a list of records), :func:`by_key` (records by name, a JSON object of objects), :func:`seq` (a list of
plain values, a tuple in the record), :func:`opt` (a key that some files do not have; ``None`` when
absent, and left out again on writing) and :func:`late` (a key a later version added: its default when a
file lacks it, and left out again on writing; a record built in memory always writes it, ``null``
included).
"""

from __future__ import annotations

import dataclasses
import numbers
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar, Union

from llmroof.errors import LlmroofError

R = TypeVar("R", bound="Record")
_HINT = "is this an llmroof results file, and complete? (a run that is still going writes it in full each time)"


def one(record: type[Record], **kw: Any) -> Any:
    """A nested record (a JSON object)."""
    return dataclasses.field(metadata={"record": record, **kw.pop("metadata", {})}, **kw)


def many(record: type[Record], **kw: Any) -> Any:
    """A list of records (a JSON array of objects); a tuple in the record."""
    return dataclasses.field(metadata={"record": record, "many": True}, **kw)


def by_key(record: type[Record], **kw: Any) -> Any:
    """Records by name (a JSON object of objects, ``{"tpot_s": {...}, ...}``); a mapping in the record."""
    return dataclasses.field(metadata={"record": record, "by_key": True}, **kw)


def seq(**kw: Any) -> Any:
    """A list of plain values (a JSON array); a tuple in the record."""
    return dataclasses.field(metadata={"seq": True}, **kw)


def opt(
    record: type[Record] | None = None,
    *,
    many_: bool = False,
    seq_: bool = False,
    by_key_: bool = False,
) -> Any:
    """A key that only some files have: ``None`` when absent, left out on writing when ``None``."""
    metadata: dict[str, Any] = {"omit_none": True, "seq": seq_}
    if record is not None:
        metadata |= {"record": record, "many": many_, "by_key": by_key_}
    return dataclasses.field(default=None, metadata=metadata)


def late(default: Any = None, record: type[Record] | None = None, *, seq_: bool = False) -> Any:
    """A key a later version added, always written by it (``null`` included): ``default`` when a file
    lacks it, and then left out again on writing, so that an older file writes back unchanged.
    ``record``: the value is a nested record (or None); ``seq_``: a list of plain values (a tuple)."""
    metadata: dict[str, Any] = {"late": True, "seq": seq_}
    if record is not None:
        metadata["record"] = record
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Record:
    """Base of every results record."""

    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)
    """Keys this version of llmroof does not know, in file order, kept so that writing loses nothing
    (records that differ only there are equal: the same figures, read from a newer file)."""

    SCHEMA: ClassVar[str | None] = None
    """``llmroof.<name>/<version>`` for a whole file; None for a record nested in one."""
    FIRST: ClassVar[tuple[str, ...]] = ()
    """Fields written first, in this order: the leading keys of a record that adds them to the fields of a
    type it derives from (whose fields a dataclass puts first)."""

    @classmethod
    def from_dict(cls: type[R], data: Any, where: str = "") -> R:
        """Read a record from its JSON object: required keys must be there, unknown keys are kept."""
        label = where or (cls.SCHEMA or cls.__name__)
        if not isinstance(data, Mapping):
            raise LlmroofError(f"{label}: expected a JSON object, found {_json_kind(data)}", _HINT)
        if cls.SCHEMA is not None:
            check_schema(data.get("schema"), cls.SCHEMA, label)
        values: dict[str, Any] = {}
        known = {"schema"} if cls.SCHEMA is not None else set()
        absent = []
        for f in _fields(cls):
            known.add(f.name)
            if f.name not in data:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    raise LlmroofError(f"{label}: the key {f.name!r} is missing", _HINT)
                if f.metadata.get("late"):
                    absent.append(f.name)
                continue
            values[f.name] = _read(f, data[f.name], f"{label}.{f.name}", _hints(cls)[f.name])
        # unknown keys, and optional keys written as null (so that writing them back keeps the null)
        extra = {
            k: v
            for k, v in data.items()
            if k not in known or (v is None and _field(cls, k).metadata.get("omit_none"))
        }
        record = cls(**values, extra=extra)
        if absent:  # late keys this file lacks: written back without them
            object.__setattr__(record, "_absent", frozenset(absent))
        return record

    def to_dict(self) -> dict[str, Any]:
        """The JSON object: ``schema`` first for a whole file, then the fields in order, then :attr:`extra`."""
        out: dict[str, Any] = {} if self.SCHEMA is None else {"schema": self.SCHEMA}
        absent: frozenset[str] = getattr(self, "_absent", _NONE_ABSENT)
        for name, omit_none in _writing(type(self)):
            value = getattr(self, name)
            if (value is None and omit_none) or name in absent:
                continue
            out[name] = _write(value)
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out


def check_schema(found: Any, expected: str, where: str) -> None:
    """The file's schema must name this record and a version this llmroof reads (same major version)."""
    name, _, version = expected.partition("/")
    if not isinstance(found, str) or found.partition("/")[0] != name:
        raise LlmroofError(f"{where}: schema is {found!r}, expected {expected}", _HINT)
    if found.partition("/")[2] != version:
        raise LlmroofError(
            f"{where}: schema {found} is a version this llmroof ({expected}) does not read",
            "read it with the llmroof version that wrote it",
        )


def _field(cls: type, name: str) -> dataclasses.Field:
    return next(f for f in dataclasses.fields(cls) if f.name == name)


_NONE_ABSENT: frozenset[str] = frozenset()
_FIELDS: dict[type, list[dataclasses.Field]] = {}
_WRITING: dict[type, list[tuple[str, bool]]] = {}


def _writing(cls: type) -> list[tuple[str, bool]]:
    """Each field's name in file order, and whether a None there is left out."""
    if cls not in _WRITING:
        _WRITING[cls] = [(f.name, bool(f.metadata.get("omit_none"))) for f in _fields(cls)]
    return _WRITING[cls]


def _fields(cls: type) -> list[dataclasses.Field]:
    """The fields in file order: :attr:`Record.FIRST`, then the rest as declared (``extra`` aside);
    worked out once per class."""
    if cls not in _FIELDS:
        fields = [f for f in dataclasses.fields(cls) if f.name != "extra"]
        first: tuple[str, ...] = getattr(cls, "FIRST", ())
        if first:
            fields.sort(key=lambda f: first.index(f.name) if f.name in first else len(first))
        _FIELDS[cls] = fields
    return _FIELDS[cls]


def _read(f: dataclasses.Field, value: Any, where: str, hint: Any = Any) -> Any:
    record = f.metadata.get("record")
    if (
        value is None
    ):  # null: fine where the annotation allows None (a record is checked by its reader)
        if record is None:
            check_type(value, hint, where)
        return None
    if record is None:
        check_type(value, hint, where)
    if record is not None and f.metadata.get("many"):
        if not isinstance(value, list):
            raise LlmroofError(f"{where}: expected a JSON array, found {_json_kind(value)}", _HINT)
        return tuple(record.from_dict(item, f"{where}[{i}]") for i, item in enumerate(value))
    if record is not None and f.metadata.get("by_key"):
        if not isinstance(value, dict):
            raise LlmroofError(f"{where}: expected a JSON object, found {_json_kind(value)}", _HINT)
        return {key: record.from_dict(item, f"{where}.{key}") for key, item in value.items()}
    if record is not None:
        return record.from_dict(value, where)
    if f.metadata.get("seq"):
        if not isinstance(value, list):
            raise LlmroofError(f"{where}: expected a JSON array, found {_json_kind(value)}", _HINT)
        return tuple(value)
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """The fields' annotations, resolved once per class (the modules use ``from __future__ import
    annotations``)."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


_KINDS = {float: "a number", int: "an integer", str: "a string", bool: "true or false"}
_PLAIN: dict[Any, set[type]] = {float: {float, int}, int: {int}, str: {str}}
"""The exact types JSON gives each annotation (bool is not int here: ``type(True) is bool``)."""


def check_type(value: Any, hint: Any, where: str) -> None:
    """``value`` (read from JSON) must be what ``hint`` says. Raises :class:`LlmroofError` naming
    ``where`` and the value found. Finiteness is the file reader's (``read_json`` refuses NaN and
    Infinity, which llmroof never writes), as records built in memory may hold an infinite
    intensity."""
    if type(value) in _accepted(hint):  # the common case, without walking the annotation
        return
    problem = _mismatch(value, hint)
    if problem is not None:
        raise LlmroofError(f"{where} is {_show(value)}, expected {problem}", _HINT)


_ACCEPTED: dict[Any, set[type]] = {}


def _accepted(hint: Any) -> set[type]:
    """The exact types that fit ``hint`` whatever their value (``float | None``: float, int, None)."""
    if hint not in _ACCEPTED:
        args = (
            typing.get_args(hint)
            if typing.get_origin(hint) in (Union, types.UnionType)
            else (hint,)
        )
        _ACCEPTED[hint] = set().union(
            *(_PLAIN.get(a, {bool} if a is bool else set()) for a in args),
            {type(None)} if type(None) in args else set(),
        )
    return _ACCEPTED[hint]


def _mismatch(value: Any, hint: Any) -> str | None:
    """None when ``value`` fits ``hint``, else what was expected."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or isinstance(hint, TypeVar):
        return None
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        problems = [_mismatch(value, a) for a in args if a is not type(None)]
        return None if None in problems else " or ".join(p for p in problems if p)
    if hint is float:  # numbers.Real/Integral: numpy's scalars too, in records built in memory
        return (
            None if isinstance(value, numbers.Real) and not isinstance(value, bool) else "a number"
        )
    if hint is int:
        return (
            None
            if isinstance(value, numbers.Integral) and not isinstance(value, bool)
            else "an integer"
        )
    if hint in (str, bool):
        return None if isinstance(value, hint) else _KINDS[hint]
    if origin in (Mapping, dict) or hint in (Mapping, dict):
        if not isinstance(value, dict):
            return "an object"
        inner = args[1] if len(args) == 2 else Any
        return next(
            (
                f"an object of {p}"
                for v in value.values()
                if v is not None and (p := _mismatch(v, inner)) is not None
            ),
            None,
        )
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return "a list"
        items = args[:1] if len(args) == 2 and args[1] is Ellipsis else args
        if len(items) == 1 and len(args) == 2:
            if set(map(type, value)) <= _PLAIN.get(items[0], set()):  # the common case, at C speed
                return None
            return next(
                (f"a list of {p}" for v in value if (p := _mismatch(v, items[0])) is not None), None
            )
        if len(value) != len(items):
            return f"a list of {len(items)}"
        return next((p for v, a in zip(value, items) if (p := _mismatch(v, a)) is not None), None)
    return None  # a type the file boundary does not check (records are checked by their own fields)


def _json_kind(value: Any) -> str:
    """What a JSON value is, in JSON's words (``null``, not Python's ``NoneType``)."""
    kinds = {
        type(None): "null",
        bool: "true or false",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
    }
    return kinds.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    import json

    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = type(value).__name__
    text = repr(value) if isinstance(value, str) else text
    return text if len(text) <= 40 else text[:37] + "..."


_SCALARS = frozenset({int, float, str, bool, type(None)})
"""Types written as they are (checked first: most values of a record are numbers)."""


def _write(value: Any) -> Any:
    if type(value) in _SCALARS:
        return value
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_write(v) for v in value]
    if isinstance(value, Mapping) and any(isinstance(v, Record) for v in value.values()):
        return {key: _write(v) for key, v in value.items()}  # records by key
    return value
