"""A comparison as GitHub-flavoured markdown: for pull-request comments and ``$GITHUB_STEP_SUMMARY``.

Per-op rows that are unchanged fold into a ``<details>`` block, so the summary shows what moved."""

from __future__ import annotations

import re

from llmroof.compare import text as fmt
from llmroof.compare.comparison import Comparison, Row

MARK = {
    "regression": "❌ regression",
    "improvement": "✅ improvement",
    "unchanged": "unchanged",
    "inconclusive": "⚠️ inconclusive",
}


_ALWAYS = re.compile(r"[`*|~]")
"""Markdown that acts anywhere in a line: code spans, emphasis, table cell breaks, strikethrough."""
_BACKSLASH = re.compile(r"\\(?=[!-/:-@\[-`{-~])")
"""A backslash that would escape the punctuation after it."""
_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
"""An underscore that can open or close emphasis (within a word, as in snake_case, it cannot)."""
_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
"""An ampersand that would start an HTML entity."""
_LINE_START = re.compile(r"^(?=[#>+=-]|\d+[.)])")
"""Text that would open a heading, quote, list or rule at the start of a line."""


def _escape(text: str) -> str:
    """Text from the records (model and op names, paths, environment values) as inert markdown that still
    reads as plain text: only what markdown would act on is escaped. ``<`` and entity-like ``&`` as HTML
    (no ``<script>``, ``<img onerror>`` or ``</details>`` gets through, as in the HTML outputs); code spans,
    emphasis, strikethrough and table cell breaks backslash-escaped; ``[`` only where the text could form a
    link (``](`` or ``][`` in it), so intervals like ``[1 ms, 2 ms]`` and parentheses stay as they are; one line.
    """
    text = " ".join(str(text).split())
    text = _ENTITY.sub("&amp;", text).replace("<", "&lt;")
    text = _BACKSLASH.sub(r"\\\\", text)
    text = _UNDERSCORE.sub(r"\\_", _ALWAYS.sub(r"\\\g<0>", text))
    if "](" in text or "][" in text:
        text = text.replace("[", "\\[")
    return text


def _line(text: str) -> str:
    """:func:`_escape` for text that starts a line, where ``#``, ``>``, ``-`` or ``1.`` would open a block."""
    return _LINE_START.sub("\\\\", _escape(text))


def _code(text: str) -> str:
    """Text in a code span: shown verbatim by markdown, so only backticks and line breaks need removing."""
    return "`" + " ".join(str(text).replace("`", "'").split()) + "`"


def _table(rows: list[Row]) -> list[str]:
    lines = ["| " + " | ".join(fmt.COLUMNS) + " |", "|" + "---|" * len(fmt.COLUMNS)]
    for row in rows:
        cells = {column: _escape(text) for column, text in fmt.cells(row).items()}
        verdict = MARK[row.verdict] + ("" if row.gates else " (reported)")
        bold = row.verdict in ("regression", "improvement")
        cells["verdict"] = f"**{verdict}**" if bold else verdict
        lines.append("| " + " | ".join(cells[c] for c in fmt.COLUMNS) + " |")
    return lines


def render_markdown(comparison: Comparison) -> str:
    lines = [
        f"### llmroof compare: {MARK[comparison.verdict()]}",
        "",
        _line(fmt.summary_line(comparison)),
        "",
    ]
    lines += [
        f"- {_escape(fmt.side_line(comparison.base))}",
        f"- {_escape(fmt.side_line(comparison.new))}",
        "",
    ]
    if comparison.caveat:
        lines += [f"> **Caveat:** {_escape(comparison.caveat)}.", ""]
    lines += [_line(fmt.noise_line(comparison)), ""]
    if comparison.differences:
        lines += ["**Differences between the runs** (environment changes can explain a shift):", ""]
        lines += [
            f"- {_code(f'{d.scope}.{d.key}')}: {_escape(d.base)} → {_escape(d.new)}"
            + (" **(mismatch: compared anyway)**" if d.blocking else "")
            for d in comparison.differences
        ]
        lines.append("")
    lines += [*_table(fmt.config_rows(comparison)), ""]
    ops = fmt.op_rows(comparison)
    if ops:
        moved = [r for r in ops if r.verdict != "unchanged"]
        still = len(ops) - len(moved)
        gating = "" if any(r.gates for r in ops) else ", reported, not gating"
        lines.append(
            f"**Per-op times** (one layer{gating}): {len(moved)} of {len(ops)} changed or inconclusive"
        )
        lines.append("")
        if moved:
            lines += [*_table(moved), ""]
        if still:
            lines += [
                "<details><summary>All per-op rows</summary>",
                "",
                *_table(ops),
                "",
                "</details>",
                "",
            ]
    if comparison.unmatched:
        lines += [
            "Not compared (on one side only): " + _escape(", ".join(comparison.unmatched)),
            "",
        ]
    lines += [f"<sub>{_escape(fmt.intervals_note(comparison))}</sub>", ""]
    return "\n".join(lines)
