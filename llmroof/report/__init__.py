"""HTML reports: one self-contained page per results file (``llmroof report``, ``llmroof profile``,
``llmroof analyze --html``).

Views turn a record (``llmroof.analysis/1`` or ``llmroof.profile/1``) into section contexts
(``analysis_view``, ``profile_view``, shared pieces in ``sections``); ``figures`` draws them with matplotlib
as inline SVG; ``render`` fills the jinja2 templates of ``reports/templates`` and writes the page.
No torch; matplotlib is imported only when a figure is drawn.
"""

from llmroof.report.render import default_report_path, render_report, report_file, write_report

__all__ = ["default_report_path", "render_report", "report_file", "write_report"]
