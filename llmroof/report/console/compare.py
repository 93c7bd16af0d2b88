"""What ``llmroof compare`` prints: a comparison as tables, markdown, JSON, HTML or BMF (on stdout,
or into a file with a summary line), the markdown it appends to a GitHub job summary, and a
comparison of two traces."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmroof.compare.comparison import Comparison
    from llmroof.compare.trace_ops import TraceComparison


def print_comparison(comparison: Comparison, fmt: str = "table", out: Path | None = None) -> None:
    """``comparison`` as ``fmt`` on stdout (table: rich tables); with ``out``, into that file and a
    summary line on stdout."""
    if out is not None:
        from llmroof.compare.render import render
        from llmroof.compare.text import summary_line
        from llmroof.results.io import write_text_atomic

        write_text_atomic(out, render(comparison, fmt))
        print(f"{summary_line(comparison)}; wrote {out}")
    elif fmt == "table":
        from llmroof.compare.table import print_tables
        from llmroof.report.console.render import console

        print_tables(comparison, console())
    else:
        from llmroof.compare.render import render

        sys.stdout.write(render(comparison, fmt))


def append_step_summary(comparison: Comparison) -> None:
    """GitHub Actions shows the markdown appended to the file named by $GITHUB_STEP_SUMMARY on the
    run's page; a summary that cannot be written is a warning."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    from llmroof.compare.markdown import render_markdown

    try:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(render_markdown(comparison) + "\n")
    except OSError as exc:
        print(
            f"llmroof: warning: cannot append to $GITHUB_STEP_SUMMARY ({target}): {exc}",
            file=sys.stderr,
        )


def print_trace_comparison(
    comparison: TraceComparison, fmt: str = "table", out: Path | None = None
) -> None:
    """Two traces phase by phase and op by op, as ``fmt``, on stdout or into ``out``."""
    from llmroof.compare.trace_ops import render_trace_comparison, summary_line

    text = render_trace_comparison(comparison, fmt)
    if out is None:
        sys.stdout.write(text)
        return
    from llmroof.results.io import write_text_atomic

    write_text_atomic(out, text)
    print(f"{summary_line(comparison)}; wrote {out}")
