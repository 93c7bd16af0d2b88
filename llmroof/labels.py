"""The one way a configuration of a run is named: in progress lines, NVTX ranges, tables, reports and
comparisons."""

from __future__ import annotations


def config_label(phase: str, batch: int, length: int | None) -> str:
    """``prefill b=1 s=128`` (s: prompt tokens) or ``decode b=4 c=2048`` (c: KV-cache tokens)."""
    return f"{phase} b={batch} {'s' if phase == 'prefill' else 'c'}={length}"
