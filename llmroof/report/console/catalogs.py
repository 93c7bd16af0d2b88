"""What ``llmroof models`` and ``llmroof hardware`` print: the model presets and the hardware catalog,
as a table or as JSON."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from llmroof.report.console.render import console, print_json, user
from llmroof.units import gib, si


def print_models(fmt: str = "table") -> None:
    """Every model preset, its aliases and parameter count."""
    from rich.table import Table

    from llmroof.analytic.memory import param_count
    from llmroof.specs.model import MODEL_ALIASES, MODEL_PRESETS

    aliases: dict[str, list[str]] = {}
    for alias, target in MODEL_ALIASES.items():
        aliases.setdefault(target, []).append(alias)
    if fmt == "json":
        print_json(
            [
                {
                    **dataclasses.asdict(m),
                    "aliases": aliases.get(m.name, []),
                    "params": param_count(m),
                }
                for m in MODEL_PRESETS.values()
            ]
        )
        return
    table = Table(title="Model presets", title_justify="left")
    for column in (
        "name",
        "params",
        "layers",
        "hidden",
        "heads",
        "kv",
        "head dim",
        "MLP",
        "vocab",
        "attention",
        "tied",
        "experts (E/k)",
        "window",
    ):
        table.add_column(column, justify="left" if column in ("name", "attention") else "right")
    for m in MODEL_PRESETS.values():
        name = m.name + (f" ({', '.join(aliases[m.name])})" if m.name in aliases else "")
        table.add_row(
            name,
            si(param_count(m)),
            str(m.num_layers),
            str(m.hidden_size),
            str(m.num_heads),
            str(m.num_kv_heads),
            str(m.head_dim),
            str(m.intermediate_size),
            str(m.vocab_size),
            m.attention_kind.upper(),
            "yes" if m.tie_word_embeddings else "no",
            f"{m.num_experts}/{m.experts_per_token}" if m.is_moe else "-",
            f"{m.sliding_window} x{m.window_layers}" if m.window_layers else "-",
        )
    out = console()
    out.print(table)
    out.print(
        "Any Hugging Face config.json works too: --model path/to/config.json (or its folder)."
    )


def print_hardware(hardware_file: Path | None = None, fmt: str = "table") -> None:
    """Every device of the catalog (and of ``hardware_file``): memory, bandwidth, peaks, link."""
    from rich.table import Table

    from llmroof.specs.hardware import load_hardware_catalog

    catalog = load_hardware_catalog(hardware_file)
    if fmt == "json":
        print_json([spec.to_dict() for spec in catalog.values()])
        return
    table = Table(
        title="Hardware catalog (dense peaks; link bandwidth per direction)", title_justify="left"
    )
    for column in (
        "name",
        "device",
        "memory",
        "bandwidth",
        "bf16",
        "fp8",
        "int8",
        "link",
        "ridge bf16",
    ):
        table.add_column(column, justify="left" if column in ("name", "device") else "right")
    for spec in catalog.values():
        peaks = spec.peak_flops_per_s
        ridge = spec.ridge_point("bf16")
        table.add_row(
            user(spec.name),
            user(spec.display_name),
            gib(spec.memory_bytes),
            si(spec.memory_bandwidth_bytes_per_s, "B/s"),
            si(peaks.get("bf16"), "FLOP/s"),
            si(peaks.get("fp8"), "FLOP/s"),
            si(peaks.get("int8"), "OP/s"),
            si(spec.link_bandwidth_bytes_per_s, "B/s"),
            "-" if ridge is None else f"{ridge:.0f} FLOP/B",
        )
    out = console()
    out.print(table)
    out.print(
        "Sources: llmroof hardware --format json (every figure has one). "
        "Add devices with --hardware-file."
    )
