"""The one way a configuration of a run is named (in progress lines, NVTX ranges, tables, reports and
comparisons), and the one way text from outside llmroof (model and device names, file names, server
messages) is made safe to print: :func:`plain_text`."""

from __future__ import annotations

import re

_ESCAPES = re.compile(
    r"\x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC (title, hyperlink): ESC ] ... BEL or ST
    r"|\x1b[P^_X][^\x1b\x9c]*(?:\x1b\\|\x9c)?"  # DCS, PM, APC, SOS strings
    r"|\x1b\[[0-?]*[ -/]*[@-~]?"  # CSI (colours, cursor moves, clearing the screen)
    r"|\x9b[0-?]*[ -/]*[@-~]?"  # the 8-bit CSI
    r"|\x9d[^\x07\x1b\x9c]*(?:\x07|\x9c)?"  # the 8-bit OSC
    r"|\x1b[ -~]?"  # any other escape
)
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""C0 and C1 controls, and the bidirectional overrides that make a name read other than it is."""


def config_label(phase: str, batch: int, length: int | None) -> str:
    """``prefill b=1 s=128`` (s: prompt tokens) or ``decode b=4 c=2048`` (c: KV-cache tokens)."""
    return f"{phase} b={batch} {'s' if phase == 'prefill' else 'c'}={length}"


def plain_text(text: object, *, one_line: bool = True) -> str:
    """``text`` without terminal escapes (OSC, CSI...) and control characters, on one line (a tab or a line
    break becomes a space; with ``one_line`` False, line breaks stay): what a name from a config.json, a
    hardware file or a server may show on a terminal. Rich markup is :func:`llmroof.cli.render.user`'s
    concern, on top of this."""
    cleaned = _ESCAPES.sub("", str(text))

    def replace(match: re.Match[str]) -> str:
        char = match.group()
        if char == "\n" and not one_line:
            return char
        return " " if char in "\t\n\r\x0b\x0c" else ""

    return _CONTROLS.sub(replace, cleaned)
