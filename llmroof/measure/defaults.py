"""What ``profile`` runs when not told: sized for the device, so a 2-core CPU finishes in about a minute and
a GPU runs Llama-3-8B whole. The CLI and the Python API (``llmroof.profile``) share them."""

from __future__ import annotations

from typing import Any

CPU_DEFAULTS: dict[str, Any] = {
    "model": "llama-3.2-1b",
    "layers": 2,
    "batch": "1,4",
    "prompt": 128,
    "context": "512,2048",
}
GPU_DEFAULTS: dict[str, Any] = {
    "model": "llama-3-8b",
    "layers": None,
    "batch": "1,8,32",
    "prompt": 512,
    "context": "512,2048",
}
