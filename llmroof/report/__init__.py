"""HTML reports: one self-contained page per results file (``llmroof report``, ``llmroof profile``,
``llmroof analyze --html``).

Views turn a record (``llmroof.analysis/1`` or ``llmroof.profile/1``) into section contexts
(``analysis_view``, ``profile_view``, shared pieces in ``sections``); ``figures`` draws them with matplotlib
as inline SVG; ``render`` fills the jinja2 templates of ``reports/templates`` and writes the page.
No torch; matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

from typing import Any

__all__ = ["default_report_path", "render_report", "report_file", "write_report"]


def __getattr__(name: str) -> Any:
    """The page writers, imported on first use: the terminal renderers of ``llmroof.report.console`` load
    without jinja2, the views or the records they read (the CLI's start-up, docs/performance.md)."""
    if name in __all__:
        from llmroof.report import render

        return getattr(render, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
