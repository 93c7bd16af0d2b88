"""Results files: written through the one atomic writer (:mod:`llmroof.writers`, re-exported here), read back
with clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmroof.errors import LlmroofError, shorten
from llmroof.readers import decode_text, parse_json, read_bytes
from llmroof.writers import (
    check_writable,
    clean,
    csv_text,
    dumps,
    is_special,
    write_csv_atomic,
    write_json_atomic,
    write_text_atomic,
)

__all__ = [
    "check_shape",
    "check_writable",
    "clean",
    "csv_text",
    "dumps",
    "is_special",
    "read_json",
    "read_json_and_text",
    "write_csv_atomic",
    "write_json_atomic",
    "write_text_atomic",
]


def read_json(path: str | Path, schema_prefix: str | None = None) -> dict[str, Any]:
    """Read a results file, checking its ``schema`` when ``schema_prefix`` is given."""
    return read_json_and_text(path, schema_prefix)[0]


def read_json_and_text(
    path: str | Path, schema_prefix: str | None = None
) -> tuple[dict[str, Any], str]:
    """:func:`read_json`, and the file's text as read (once: a FIFO or ``<(cat run.json)`` has no second read)."""
    path = Path(path)
    name = shorten(str(path))
    text = decode_text(read_bytes(path), name)
    data = parse_json(text, name, finite=True)
    if not isinstance(data, dict):
        raise LlmroofError(f"{name}: expected a JSON object", "is this a results file of llmroof?")
    if schema_prefix is not None and not str(data.get("schema", "")).startswith(schema_prefix):
        raise LlmroofError(
            f"{name}: schema is {shorten(repr(data.get('schema')), 60)}, expected {schema_prefix}...",
            "is this a results file of llmroof?",
        )
    return data, text


def check_shape(
    data: dict[str, Any],
    source: str,
    *,
    objects: tuple[str, ...] = (),
    lists: tuple[str, ...] = (),
    required: tuple[str, ...] = (),
    nullable: tuple[str, ...] = (),
    hint: str = "truncated or edited by hand? write it again",
) -> None:
    """The containers of a results record, checked before anything reads into them: each key of ``objects``
    holds a JSON object (or null, for keys in ``nullable``) and each of ``lists`` a list of objects, where
    present (``required``: must be)."""
    for key in required:
        if key not in data:
            raise LlmroofError(f"{source}: has no {key!r}", hint)
    for key in objects:
        if (
            key in data
            and not isinstance(data[key], dict)
            and not (data[key] is None and key in nullable)
        ):
            raise LlmroofError(
                f"{source}: {key!r} is {_describe(data[key])}, expected an object", hint
            )
    for key in lists:
        if key not in data:
            continue
        if not isinstance(data[key], list):
            raise LlmroofError(
                f"{source}: {key!r} is {_describe(data[key])}, expected a list of objects", hint
            )
        for index, item in enumerate(data[key]):
            if not isinstance(item, dict):
                raise LlmroofError(
                    f"{source}: {key}[{index}] is {_describe(item)}, expected an object", hint
                )


def _describe(value: Any) -> str:
    return (
        "null"
        if value is None
        else shorten(
            json.dumps(value) if isinstance(value, (str, int, float)) else type(value).__name__, 40
        )
    )
