"""Accelerator specs: the :class:`HardwareSpec` record and the catalog shipped in ``data/hardware.toml``.

Peaks are data with their sources, never literals in formulas. Users add devices with a TOML or JSON file
of the same schema (``--hardware-file``).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

from llmroof.errors import LlmroofError, shorten, unknown_name_error

COMPUTE_DTYPES = ("fp32", "tf32", "bf16", "fp16", "fp8", "int8", "int4")


LIMITS: dict[str, tuple[float, float, str]] = {
    "memory_bytes": (2.0**20, 2.0**60, "B"),
    "memory_bandwidth_bytes_per_s": (1e6, 1e16, "B/s"),
    "link_bandwidth_bytes_per_s": (1e6, 1e16, "B/s"),
    "internode_bandwidth_bytes_per_s": (1e6, 1e16, "B/s"),
    "link_latency_s": (0.0, 1.0, "s"),
    "internode_latency_s": (0.0, 1.0, "s"),
    "gpus_per_node": (1, 65536, "GPUs"),
}
"""Plausible range of each figure (inclusive): a bandwidth of 1e-300 B/s or a latency of an hour is a typo, and
would print "TTFT >= nan s" rather than fail."""
PEAK_LIMITS = (1e6, 1e20, "FLOP/s")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_number(name: str, value: Any, low: float, high: float, unit: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {_show(value)}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    if low > 0 and value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g} {unit}, got {value:g}")


@dataclass(frozen=True, kw_only=True, slots=True)
class HardwareSpec:
    """One accelerator, with its datasheet figures and where each comes from."""

    name: str
    """Catalog key (``h100-sxm``)."""
    display_name: str
    """Full product name."""
    memory_bytes: int
    """Device memory capacity in bytes (binary: 80 GiB for an "80 GB" card)."""
    memory_bandwidth_bytes_per_s: float
    """Peak memory bandwidth, decimal bytes per second."""
    peak_flops_per_s: Mapping[str, float]
    """Dense peak FLOP/s (or OP/s for integers) per compute dtype; absent means unpublished."""
    link_bandwidth_bytes_per_s: float
    """GPU-to-GPU bandwidth per direction (half the bidirectional datasheet figure)."""
    link_latency_s: float
    """Latency of one step of a collective over the link."""
    internode_bandwidth_bytes_per_s: float
    """Bandwidth per GPU per direction between nodes."""
    internode_latency_s: float
    """Latency of one step of a collective between nodes."""
    gpus_per_node: int = 8
    """GPUs that share the fast link."""
    aliases: tuple[str, ...] = ()
    """Other names accepted on the command line."""
    vendor: str = ""
    memory_type: str = ""
    link: str = ""
    """Name of the GPU-to-GPU link."""
    sources: Mapping[str, str] = field(default_factory=dict)
    """Source of each figure, keyed by ``memory``, ``peak_flops``, ``link``, ``internode``."""

    def __post_init__(self) -> None:
        """The one validation of a device, wherever it comes from (catalog, ``--hardware-file``, code)."""
        for name in ("name", "display_name", "vendor", "memory_type", "link"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be a string, got {_show(getattr(self, name))}")
        if not self.name.strip():
            raise ValueError("name must not be empty")
        if not isinstance(self.aliases, tuple) or not all(
            isinstance(a, str) and a.strip() for a in self.aliases
        ):
            raise ValueError(f"aliases must be a list of names, got {_show(self.aliases)}")
        for name, (low, high, unit) in LIMITS.items():
            _check_number(name, getattr(self, name), low, high, unit)
        if not isinstance(self.gpus_per_node, int):
            raise ValueError(f"gpus_per_node must be an integer, got {_show(self.gpus_per_node)}")
        if not isinstance(self.peak_flops_per_s, Mapping):
            raise ValueError(
                f"peak_flops_per_s must be a table of dtype = FLOP/s, got {_show(self.peak_flops_per_s)}"
            )
        for dtype, peak in self.peak_flops_per_s.items():
            if dtype not in COMPUTE_DTYPES:
                raise ValueError(
                    f"peak_flops_per_s: unknown dtype {_show(dtype)} (known: {', '.join(COMPUTE_DTYPES)})"
                )
            _check_number(f"peak_flops_per_s.{dtype}", peak, *PEAK_LIMITS)
        if not isinstance(self.sources, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.sources.items()
        ):
            raise ValueError(
                f'sources must be a table of figure = "source" strings, got {_show(self.sources)}'
            )
        object.__setattr__(self, "peak_flops_per_s", MappingProxyType(dict(self.peak_flops_per_s)))
        object.__setattr__(self, "sources", MappingProxyType(dict(self.sources)))

    def peak_flops(self, dtype: str) -> float | None:
        """Dense peak FLOP/s for a compute dtype, or None where none is published."""
        return self.peak_flops_per_s.get(dtype)

    def ridge_point(self, dtype: str) -> float | None:
        """Arithmetic intensity (FLOP per byte) where the roofline turns from memory- to compute-bound."""
        peak = self.peak_flops(dtype)
        return None if peak is None else peak / self.memory_bandwidth_bytes_per_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "display_name": self.display_name,
            "aliases": list(self.aliases),
            "vendor": self.vendor,
            "memory_type": self.memory_type,
            "memory_bytes": self.memory_bytes,
            "memory_bandwidth_bytes_per_s": self.memory_bandwidth_bytes_per_s,
            "peak_flops_per_s": dict(self.peak_flops_per_s),
            "gpus_per_node": self.gpus_per_node,
            "link": self.link,
            "link_bandwidth_bytes_per_s": self.link_bandwidth_bytes_per_s,
            "link_latency_s": self.link_latency_s,
            "internode_bandwidth_bytes_per_s": self.internode_bandwidth_bytes_per_s,
            "internode_latency_s": self.internode_latency_s,
            "sources": dict(self.sources),
        }


_FIELDS = {f for f in HardwareSpec.__dataclass_fields__}


def parse_hardware_entries(data: Any, source: str) -> list[HardwareSpec]:
    """Validate the parsed contents of a catalog file (``{"device": [ {...}, ... ]}``)."""
    devices = data.get("device") if isinstance(data, dict) else None
    if not isinstance(devices, list):
        raise LlmroofError(
            f"{source}: expected a list of devices under the key 'device'",
            "see docs/hardware.md for the schema ([[device]] tables in TOML)",
        )
    required = [
        name
        for name, f in HardwareSpec.__dataclass_fields__.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    specs = []
    for index, entry in enumerate(devices):
        label = f"{source}: device #{index + 1}"
        if not isinstance(entry, dict):
            raise LlmroofError(
                f"{label}: expected a table of fields", "see docs/hardware.md for the schema"
            )
        name = entry.get("name")
        if isinstance(name, str):
            label = f"{source}: device {_show(name)}"
        unknown = sorted(set(entry) - _FIELDS)
        if unknown:
            raise LlmroofError(
                f"{label}: unknown field {_show(unknown[0])}", "see docs/hardware.md for the schema"
            )
        missing = [name for name in required if name not in entry and name != "display_name"]
        if missing:
            raise LlmroofError(
                f"{label}: missing field(s) {', '.join(repr(name) for name in missing)}",
                "see docs/hardware.md for the schema",
            )
        entry = dict(entry)
        entry.setdefault("display_name", name)
        aliases = entry.get("aliases", [])
        if not isinstance(aliases, list):  # a string would become its letters
            raise LlmroofError(
                f"{label}: aliases must be a list of names, got {_show(aliases)}",
                'write aliases = ["h100", "h100-sxm5"]',
            )
        entry["aliases"] = tuple(aliases)
        try:
            specs.append(HardwareSpec(**entry))
        except ValueError as exc:
            raise LlmroofError(f"{label}: {exc}", "see docs/hardware.md for the schema") from None
    return specs


def read_hardware_file(path: str | Path) -> list[HardwareSpec]:
    """Devices from a user's TOML or JSON file."""
    from llmroof.readers import parse_json, parse_toml, read_bytes

    path = Path(path).expanduser()
    raw = read_bytes(path)
    source = shorten(str(path))
    data = parse_json(raw, source) if path.suffix.lower() == ".json" else parse_toml(raw, source)
    return parse_hardware_entries(data, source)


@cache
def builtin_hardware() -> tuple[HardwareSpec, ...]:
    """The catalog shipped with llmroof."""
    text = (
        resources.files("llmroof.specs").joinpath("data/hardware.toml").read_text(encoding="utf-8")
    )
    return tuple(parse_hardware_entries(tomllib.loads(text), "llmroof/specs/data/hardware.toml"))


def load_hardware_catalog(extra_file: str | Path | None = None) -> dict[str, HardwareSpec]:
    """The built-in catalog, plus (and overridden by) the devices of ``extra_file``."""
    catalog = {spec.name: spec for spec in builtin_hardware()}
    if extra_file is not None:
        catalog.update({spec.name: spec for spec in read_hardware_file(extra_file)})
    return catalog


def _key(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(" ", "-")


def get_hardware(name: str, extra_file: str | Path | None = None) -> HardwareSpec:
    """A device by name or alias (case-insensitive)."""
    catalog = load_hardware_catalog(extra_file)
    by_name = {}
    for spec in catalog.values():
        for alias in (spec.name, *spec.aliases):
            by_name[_key(alias)] = spec
    for spec in catalog.values():  # names win over aliases
        by_name[_key(spec.name)] = spec
    try:
        return by_name[_key(name)]
    except KeyError:
        raise unknown_name_error("hardware", name, by_name, "llmroof hardware") from None
