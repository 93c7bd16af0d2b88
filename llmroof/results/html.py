"""The jinja2 environment of every HTML output (reports, compare, plan): the templates of
``reports/templates/``, installed as ``llmroof/templates``, autoescaping on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmroof.errors import LlmroofError


def template_dirs() -> list[Path]:
    """Installed as ``llmroof/templates`` (pyproject maps ``reports/templates`` there); else the source
    tree's ``reports/templates`` (an editable install, or a checkout)."""
    package = Path(__file__).resolve().parents[1]  # the llmroof package folder
    return [package / "templates", package.parent / "reports" / "templates"]


def template_environment(template: str) -> Any:
    """A jinja2 environment over the first folder that holds ``template``; a clear error when none does."""
    import jinja2

    folders = [d for d in template_dirs() if (d / template).is_file()]
    if not folders:
        raise LlmroofError(
            f"the HTML template {template} is missing (looked in "
            f"{', '.join(str(d) for d in template_dirs())})",
            "reinstall llmroof",
        )
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folders[0]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def svg_element(figure: Any, salt: str = "llmroof") -> str:
    """A matplotlib figure as an ``<svg>`` element to inline in HTML: text kept as ``<text>``, element ids
    stable (salted: the same input gives the same page), no date, and no XML prolog, doctype or metadata."""
    import io
    import re

    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return re.sub(
        r"<metadata>.*?</metadata>\s*", "", text[text.index("<svg") :], count=1, flags=re.S
    )
