"""Markup in markdown: names and any text from the records are escaped in `compare --format markdown` and in
what goes to $GITHUB_STEP_SUMMARY, as the HTML outputs escape them (no raw <script>, <img onerror>,
</pre></details>, links or broken table cells)."""

from __future__ import annotations

import json
import re

import pytest

from cli_runner import run_cli
from llmroof.compare.markdown import _escape
from test_compare import pair, synthetic

HOSTILE = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "</pre></details><h1>x</h1>",
           "[click](https://example.com/x)", "a | b\nc", "`code` **bold**"]
RAW = ("<script", "<img", "</pre", "</details><h1", "a | b")
LINK = re.compile(r"(?<!\\)\[[^\]]*\]\(")
"""A link that markdown would form: an unescaped ``[`` closed by ``](``."""


def _hostile_pair(tmp_path, name: str):
    base_record, new_record = synthetic(seed=1), synthetic(seed=2, scale=1.3)
    for record in (base_record, new_record):
        record["model"]["name"] = name
        record["environment"]["torch"] = name  # environment values are shown too
        for config in record["configs"]:
            for op in config.get("ops") or []:
                op["name"] = f"{op['name']}{name}"
    new_record["environment"]["torch"] = name + "2"
    return pair(tmp_path, base_record, new_record)


@pytest.mark.parametrize("name", HOSTILE)
def test_markdown_escapes_record_text(capsys, tmp_path, monkeypatch, name) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    base, new = _hostile_pair(tmp_path, name)
    code, out, err = run_cli(capsys, "compare", str(base), str(new), "-f", "markdown", "--fail-on", "never")
    assert code == 0, err
    for text in (out, summary.read_text()):
        for raw in RAW:
            assert raw not in text, (raw, text[:2000])
        assert not LINK.search(text), text[:2000]
        assert "<details><summary>" in text or "Per-op" in text  # the page's own markup is kept


def test_escape() -> None:
    assert _escape("<b>|x") == "&lt;b>\\|x"
    assert _escape("line\nbreak") == "line break"
    assert _escape("[a](b)") == "\\[a](b)" and _escape("![i][r]") == "!\\[i]\\[r]"
    # Readable as raw text: what markdown does not act on stays as it is.
    assert _escape("+4.0% [-26.0%, +46.1%] (1 run) CV 54% > 25% snake_case a&b") == \
        "+4.0% [-26.0%, +46.1%] (1 run) CV 54% > 25% snake_case a&b"
    assert _escape("*x* _y_ `z` ~w~ &amp; \\*") == "\\*x\\* \\_y\\_ \\`z\\` \\~w\\~ &amp;amp; \\\\\\*"


def test_markdown_json_unchanged_by_escaping(capsys, tmp_path) -> None:
    base, new = _hostile_pair(tmp_path, "<script>")
    code, out, _ = run_cli(capsys, "compare", str(base), str(new), "-f", "json", "--fail-on", "never")
    assert code == 0 and json.loads(out)["base"]["model"] == "<script>"  # JSON carries the data as it is
