"""Accelerator specs: the :class:`HardwareSpec` record and the catalog shipped in ``data/hardware.toml``.

Peaks are data with their sources, never literals in formulas. Users add devices with a TOML or JSON file
of the same schema (``--hardware-file``).
"""

from __future__ import annotations

import dataclasses
import json
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

from llmroof.errors import LlmroofError, unknown_name_error

COMPUTE_DTYPES = ("fp32", "tf32", "bf16", "fp16", "fp8", "int8", "int4")


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
        for name in (
            "memory_bytes",
            "memory_bandwidth_bytes_per_s",
            "link_bandwidth_bytes_per_s",
            "internode_bandwidth_bytes_per_s",
            "gpus_per_node",
        ):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        for name in ("link_latency_s", "internode_latency_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative number, got {value!r}")
        for dtype, peak in self.peak_flops_per_s.items():
            if dtype not in COMPUTE_DTYPES:
                raise ValueError(f"peak_flops_per_s: unknown dtype {dtype!r} (known: {', '.join(COMPUTE_DTYPES)})")
            if not isinstance(peak, (int, float)) or isinstance(peak, bool) or peak <= 0:
                raise ValueError(f"peak_flops_per_s.{dtype} must be a positive number, got {peak!r}")
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
    if not isinstance(data, dict) or not isinstance(data.get("device"), list):
        raise LlmroofError(f"{source}: expected a list of devices under the key 'device'",
                           "see docs/hardware.md for the schema ([[device]] tables in TOML)")
    specs = []
    for index, entry in enumerate(data["device"]):
        label = f"{source}: device #{index + 1}"
        if not isinstance(entry, dict):
            raise LlmroofError(f"{label}: expected a table of fields")
        if isinstance(entry.get("name"), str):
            label = f"{source}: device {entry['name']!r}"
        unknown = sorted(set(entry) - _FIELDS)
        if unknown:
            raise LlmroofError(f"{label}: unknown field {unknown[0]!r}", "see docs/hardware.md for the schema")
        entry = dict(entry)
        entry.setdefault("display_name", entry.get("name", ""))
        entry["aliases"] = tuple(entry.get("aliases", ()))
        try:
            specs.append(HardwareSpec(**entry))
        except TypeError:  # required fields missing
            required = [name for name, f in HardwareSpec.__dataclass_fields__.items()
                        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
            missing = ", ".join(repr(name) for name in required if name not in entry)
            raise LlmroofError(f"{label}: missing field(s) {missing}", "see docs/hardware.md for the schema") from None
        except ValueError as exc:
            raise LlmroofError(f"{label}: {exc}") from None
    return specs


def read_hardware_file(path: str | Path) -> list[HardwareSpec]:
    """Devices from a user's TOML or JSON file."""
    path = Path(path).expanduser()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise LlmroofError(f"{path}: no such file", "pass a TOML or JSON hardware file") from None
    except OSError as exc:
        raise LlmroofError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(raw)
        else:
            data = tomllib.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise LlmroofError(f"{path}: cannot parse: {exc}") from None
    return parse_hardware_entries(data, str(path))


@cache
def builtin_hardware() -> tuple[HardwareSpec, ...]:
    """The catalog shipped with llmroof."""
    text = resources.files("llmroof.specs").joinpath("data/hardware.toml").read_text(encoding="utf-8")
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
