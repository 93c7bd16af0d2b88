"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory) -> Iterator[Path]:
    """Every test runs with a temporary user cache directory (the calibration cache never touches the real
    one; session-wide, so module-scoped fixtures see it too and a calibration is measured once, not per
    test), and calibrations take the quick plan (about a second, not a real calibration's tens); ranks
    started by a test inherit both through the environment. The session's working directory is a temporary
    folder too, so that no subprocess a test starts runs in the repository root (there ``python -c`` and
    ``-m`` would put the checkout first on sys.path) and no relative path lands in the checkout."""
    cache = tmp_path_factory.mktemp("xdg-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path_factory.mktemp("cwd"))
        patch.setenv("XDG_CACHE_HOME", str(cache))
        patch.setenv("LLMROOF_CALIBRATION", "quick")
        yield cache


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture
def tiny_config_json(tmp_path) -> Path:
    """A 2-layer Llama-shaped config.json with tiny widths (hidden 64, 8 heads, 2 KV heads, vocab 256)."""
    import json

    config = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 8,
              "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 256, "rms_norm_eps": 1e-5}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


def pytest_collection_modifyitems(config, items) -> None:
    """Tests marked ``cuda`` skip cleanly where torch sees no CUDA device."""
    if not any("cuda" in item.keywords for item in items):
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU; torch.cuda.is_available() is False here")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
