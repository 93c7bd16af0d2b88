"""A comparison as the text of each output format: a plain table, markdown, JSON, HTML or Bencher's BMF."""

from __future__ import annotations

import io

from llmroof.compare.comparison import Comparison


def render(comparison: Comparison, fmt: str) -> str:
    """The whole output in ``fmt`` (``table``, ``markdown``, ``json``, ``html``, ``bmf``) as text; a table
    without colour."""
    if fmt in ("json", "bmf"):
        from llmroof.compare.bmf import to_bmf
        from llmroof.results.io import dumps

        return dumps(comparison.record().to_dict() if fmt == "json" else to_bmf(comparison)) + "\n"
    if fmt == "markdown":
        from llmroof.compare.markdown import render_markdown

        return render_markdown(comparison)
    if fmt == "html":
        from llmroof.compare.html import render_html

        return render_html(comparison)
    from llmroof.compare.table import print_tables
    from llmroof.report.console.render import console

    buffer = io.StringIO()
    print_tables(comparison, console(file=buffer, width=200, elastic=True, color_system=None))
    return buffer.getvalue()
