"""Shared inputs of the hostile-input tests (tests/test_hostile_*.py): files a hostile or careless user hands
llmroof, and the check every one of them must pass (one stderr line, a hint, exit 2, no traceback)."""

from __future__ import annotations

import json
from pathlib import Path

TINY_CONFIG = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 8,
               "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 256, "rms_norm_eps": 1e-5}

GOOD_DEVICE = {"name": "mine", "memory_bytes": 85899345920, "memory_bandwidth_bytes_per_s": 3.35e12,
               "link_bandwidth_bytes_per_s": 450e9, "link_latency_s": 1e-6, "internode_bandwidth_bytes_per_s": 50e9,
               "internode_latency_s": 5e-6, "peak_flops_per_s": {"bf16": 989e12}}

DEEP = "[" * 100_000 + "]" * 100_000
"""Nested far past Python's recursion limit."""


def bad_files(tmp_path: Path) -> dict[str, Path]:
    """Files no reader can use, by the failure class they exercise."""
    files = {
        "binary": b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)),
        "utf16": json.dumps(TINY_CONFIG).encode("utf-16"),
        "latin1": '{"model_type": "caf\xe9"}'.encode("latin-1"),
        "deep": DEEP.encode(),
        "deep object": ('{"a":' * 50_000 + "1" + "}" * 50_000).encode(),
        "huge integer": ('{"model_type": "llama", "hidden_size": ' + "9" * 5001 + "}").encode(),
        "empty": b"",
        "not an object": b"[1, 2, 3]",
    }
    paths = {}
    for name, content in files.items():
        path = tmp_path / f"{name.replace(' ', '-')}.json"
        path.write_bytes(content)
        paths[name] = path
    return paths


def assert_one_line_error(code: int, err: str, *texts: str) -> None:
    """Exit 2, and stderr is one ``llmroof: error: ... (hint: ...)`` line naming ``texts``."""
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("llmroof: error: ") and "(hint: " in lines[0], err
    for text in texts:
        assert text in lines[0], err
