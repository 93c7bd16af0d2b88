"""Options shared by several commands, and their parsing into specs."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from llmroof.specs.dtypes import DTYPES, resolve_precision  # noqa: F401 (re-exported for the commands)
from llmroof.specs.hardware import HardwareSpec, get_hardware
from llmroof.specs.model import ModelSpec, get_model


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class CatalogFormat(str, Enum):
    table = "table"
    json = "json"


class AttentionKind(str, Enum):
    mha = "mha"
    gqa = "gqa"
    mqa = "mqa"


class AttentionKernelChoice(str, Enum):
    eager = "eager"
    flash = "flash"


class ImplementationChoice(str, Enum):
    fused = "fused"
    eager = "eager"


DTYPE_HELP = f"One of {', '.join(DTYPES)}."

HARDWARE_FILE = typer.Option(
    None, "--hardware-file", help="A TOML or JSON file of extra devices (same schema as the catalog).",
    dir_okay=False,
)


def resolve_model(name: str, kv_heads: int | None = None, attention: AttentionKind | None = None) -> ModelSpec:
    """A preset or config.json, with the KV-head override applied (``--kv-heads`` wins over ``--attention``)."""
    model = get_model(name)
    if kv_heads is not None:
        return model.with_kv_heads(kv_heads)
    if attention is not None:
        return model.with_attention(attention.value)
    return model


def resolve_hardware(name: str, hardware_file: Path | None) -> HardwareSpec:
    return get_hardware(name, hardware_file)
