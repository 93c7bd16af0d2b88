"""Narrow terminals: tables stay readable at any width. A table that does not fit the terminal is printed as
`column: value` lines; every name and figure is in the output (no blank or cut cells); COLUMNS=0 is ignored."""

from __future__ import annotations

import json

import pytest

from cli_runner import run_cli
from test_compare import pair, synthetic

COMMANDS = {
    "analyze": ["analyze"],
    "analyze sweep": ["analyze", "--sweep", "batch=1,8,64"],
    "hardware": ["hardware"],
    "models": ["models"],
    "plan": ["plan", "-m", "llama-3-8b", "-H", "h100"],
}


def _expected(command: str) -> list[str]:
    """Text the output must hold, whatever the width."""
    from llmroof.specs.hardware import builtin_hardware
    from llmroof.specs.model import MODEL_PRESETS

    return {
        "analyze": ["attn.norm", "mlp.down", "lm_head", "memory", "Phase totals"],
        "analyze sweep": ["decode bound", "64"],
        "hardware": [spec.name for spec in builtin_hardware()] + [spec.display_name for spec in builtin_hardware()],
        "models": list(MODEL_PRESETS),
        "plan": ["h100-sxm tp1", "TPOT"],
    }[command]


@pytest.mark.parametrize("columns", ["20", "1", "45", "0", "-3", "abc", ""])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_tables_readable_at_any_width(capsys, monkeypatch, command, columns) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    code, out, err = run_cli(capsys, *COMMANDS[command])
    assert code == 0, err
    assert out.strip(), f"no output at COLUMNS={columns!r}"
    for text in _expected(command):
        assert text in out, f"{text!r} missing at COLUMNS={columns!r}"
    assert "…" not in out, "a cell was cut"


def test_narrow_layout_is_one_value_per_line(capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "20")
    code, out, _ = run_cli(capsys, "hardware")
    assert code == 0
    assert "name: h100-sxm" in out and "device: NVIDIA H100 SXM5 80GB" in out


def test_wide_enough_terminal_keeps_the_table(capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    code, out, _ = run_cli(capsys, "hardware")
    assert code == 0 and "┃ name" in out


@pytest.mark.parametrize("columns", ["20", "0", "120"])
def test_compare_table_never_blank(capsys, tmp_path, monkeypatch, columns) -> None:
    base, new = pair(tmp_path, synthetic(seed=1), synthetic(seed=2, scale=1.3))
    monkeypatch.setenv("COLUMNS", columns)
    code, out, err = run_cli(capsys, "compare", str(base), str(new), "--fail-on", "never")
    assert code == 0, err
    for text in ("regression", "TPOT", "decode b="):
        assert text in out
    assert "…" not in out


def test_table_to_a_file_is_never_cut(capsys, tmp_path) -> None:
    base, new = pair(tmp_path, synthetic(seed=1), synthetic(seed=2, scale=1.3))
    out_file = tmp_path / "table.txt"
    code, _, err = run_cli(capsys, "compare", str(base), str(new), "--out", str(out_file), "--fail-on", "never")
    assert code == 0, err
    text = out_file.read_text()
    assert "…" not in text and "beyond 5%" in text
