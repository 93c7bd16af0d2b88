"""Human-readable quantities for tables: SI prefixes for counts, bytes and rates, and seconds."""

from __future__ import annotations

import math

_PREFIXES = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def si(value: float | None, unit: str = "", digits: int = 3) -> str:
    """``si(1.5e12, "FLOP") == "1.5 TFLOP"``; decimal prefixes, ``digits`` significant digits."""
    if value is None:
        return "-"
    if value == 0:
        return f"0 {unit}".strip()
    if math.isinf(value):
        return "inf"
    for scale, prefix in _PREFIXES:
        if abs(value) >= scale:
            return f"{value / scale:.{digits}g} {prefix}{unit}"
    return f"{value:.{digits}g} {unit}".strip()


def gib(nbytes: float | None) -> str:
    """Binary gibibytes, as nvidia-smi and device memory sizes are quoted."""
    return "-" if nbytes is None else f"{nbytes / 2**30:.2f} GiB"


def seconds(value: float | None) -> str:
    """``seconds(4.57e-3) == "4.57 ms"``."""
    if value is None:
        return "-"
    if value == 0:
        return "0 s"
    for scale, unit in ((1, "s"), (1e-3, "ms"), (1e-6, "us"), (1e-9, "ns")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.3g} s"


def percent(fraction: float | None) -> str:
    return "-" if fraction is None else f"{fraction * 100:.1f}%"
