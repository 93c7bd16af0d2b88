"""A comparison as GitHub-flavoured markdown: for pull-request comments and ``$GITHUB_STEP_SUMMARY``.

Per-op rows that are unchanged fold into a ``<details>`` block, so the summary shows what moved."""

from __future__ import annotations

import html
import re

from llmroof.compare import text as fmt
from llmroof.compare.comparison import Comparison, Row

MARK = {"regression": "❌ regression", "improvement": "✅ improvement", "unchanged": "unchanged",
        "inconclusive": "⚠️ inconclusive"}


_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+!|~])")


def _escape(text: str) -> str:
    """Text from the records (model and op names, paths, environment values) as inert markdown: HTML escaped as
    the HTML outputs do (no ``<script>``, ``<img onerror>`` or ``</details>`` gets through), markdown
    punctuation backslash-escaped (no links, emphasis or broken table cells), one line."""
    text = " ".join(str(text).split())
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", html.escape(text, quote=True))


def _code(text: str) -> str:
    """Text in a code span: shown verbatim by markdown, so only backticks and line breaks need removing."""
    return "`" + " ".join(str(text).replace("`", "'").split()) + "`"


def _table(rows: list[Row]) -> list[str]:
    lines = ["| " + " | ".join(fmt.COLUMNS) + " |", "|" + "---|" * len(fmt.COLUMNS)]
    for row in rows:
        cells = {column: _escape(text) for column, text in fmt.cells(row).items()}
        cells["verdict"] = MARK[row.verdict] + ("" if row.gates else " (reported)")
        if row.verdict in ("regression", "improvement"):
            cells["verdict"] = f"**{cells['verdict']}**"
        lines.append("| " + " | ".join(cells[c] for c in fmt.COLUMNS) + " |")
    return lines


def render_markdown(comparison: Comparison) -> str:
    lines = [f"### llmroof compare: {MARK[comparison.verdict()]}", "", _escape(fmt.summary_line(comparison)), ""]
    lines += [f"- {_escape(fmt.side_line(comparison.base))}", f"- {_escape(fmt.side_line(comparison.new))}", ""]
    if comparison.caveat:
        lines += [f"> **Caveat:** {_escape(comparison.caveat)}.", ""]
    lines += [_escape(fmt.noise_line(comparison)), ""]
    if comparison.differences:
        lines += ["**Differences between the runs** (environment changes can explain a shift):", ""]
        lines += [f"- {_code(f'{d.scope}.{d.key}')}: {_escape(d.base)} → {_escape(d.new)}"
                  + (" **(mismatch: compared anyway)**" if d.blocking else "") for d in comparison.differences]
        lines.append("")
    lines += [*_table(fmt.config_rows(comparison)), ""]
    ops = fmt.op_rows(comparison)
    if ops:
        moved = [r for r in ops if r.verdict != "unchanged"]
        still = len(ops) - len(moved)
        gating = "" if any(r.gates for r in ops) else ", reported, not gating"
        lines.append(f"**Per-op times** (one layer{gating}): {len(moved)} of {len(ops)} changed or inconclusive")
        lines.append("")
        if moved:
            lines += [*_table(moved), ""]
        if still:
            lines += ["<details><summary>All per-op rows</summary>", "", *_table(ops), "", "</details>", ""]
    if comparison.unmatched:
        lines += ["Not compared (on one side only): " + _escape(", ".join(comparison.unmatched)), ""]
    lines += [f"<sub>{_escape(fmt.intervals_note(comparison))}</sub>", ""]
    return "\n".join(lines)
