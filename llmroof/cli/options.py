"""Options shared by several commands, and their parsing into specs."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

import typer

from llmroof.errors import LlmroofError
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
    None,
    "--hardware-file",
    help="A TOML or JSON file of extra devices (same schema as the catalog).",
    dir_okay=False,
)


def resolve_model(
    name: str, kv_heads: int | None = None, attention: AttentionKind | None = None
) -> ModelSpec:
    """A preset or config.json, with the KV-head override applied (``--kv-heads`` wins over ``--attention``)."""
    model = get_model(name)
    if kv_heads is not None:
        return model.with_kv_heads(kv_heads)
    if attention is not None:
        return model.with_attention(attention.value)
    return model


def resolve_hardware(name: str, hardware_file: Path | None) -> HardwareSpec:
    return get_hardware(name, hardware_file)


def resolve_routing(zipf: float | None, expert_load: Path | None) -> Any:
    """``--zipf S`` or ``--expert-load FILE`` (a JSON list, or numbers separated by commas, spaces or lines:
    one token count or share per expert) as a :class:`~llmroof.analytic.moe.Routing`."""
    from llmroof.analytic.moe import UNIFORM, Routing

    if expert_load is None and not zipf:
        return UNIFORM
    if expert_load is not None and zipf:
        raise LlmroofError("--zipf and --expert-load both describe the routing", "pass one of them")
    load = None
    if expert_load is not None:
        from llmroof.readers import decode_text, parse_json, read_bytes

        source = f"--expert-load {expert_load}"
        text = decode_text(read_bytes(expert_load), source)
        try:
            values = (
                parse_json(text, source)
                if text.lstrip().startswith("[")
                else text.replace(",", " ").split()
            )
            load = tuple(float(v) for v in values)
        except (ValueError, TypeError):
            raise LlmroofError(
                f"--expert-load {expert_load}: expected one number per expert (a JSON list, or "
                "numbers separated by commas, spaces or lines)"
            ) from None
    try:
        return Routing(zipf_s=zipf or 0.0, expert_load=load)
    except ValueError as exc:
        raise LlmroofError(f"--expert-load/--zipf: {exc}") from None
