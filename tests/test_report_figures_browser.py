"""Every report kind in a real headless browser (Debian's chromium; skipped where it is absent) at 1400 and
1024 px, and with its print rules at A4's printable width: no table is wider than its box or the page (no horizontal scrollbar, with every folded table
opened), and the answer block comes before every other part of the page and names the op, the time lost and
the bound. The pages are tests/report_samples.py's."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

import pytest

import report_samples as samples
from test_report import browser

KINDS = ("profile-gpu", "analysis-parallel", "bench", "plan", "compare")

# Runs after layout: opens every <details>, then lists each table that is wider than its box or the page
# (scrollWidth beyond clientWidth: a horizontal scrollbar), and where the answer block sits.
PROBE = """<script>
(function () {
  document.querySelectorAll("details").forEach(function (d) { d.open = true; });
  var page = document.documentElement.clientWidth, wide = [];
  document.querySelectorAll("table").forEach(function (t, i) {
    var box = t.parentElement;
    var over = Math.max(box.scrollWidth - box.clientWidth, t.scrollWidth - t.clientWidth,
                        t.getBoundingClientRect().right - page);
    if (over > 1) { wide.push(i + ":" + t.textContent.trim().slice(0, 40) + ":" + Math.round(over)); }
  });
  var answer = document.querySelector("section.answer");
  var first = document.querySelector("table, figure, svg, .cards, h3, section:not(.answer):not(.llmroof-plan)");
  var before = answer && first && (answer.compareDocumentPosition(first) & Node.DOCUMENT_POSITION_FOLLOWING);
  document.body.setAttribute("data-wide", wide.join("|"));
  document.body.setAttribute("data-page-width", document.documentElement.scrollWidth);
  document.body.setAttribute("data-answer-first", before ? "yes" : "no");
  document.body.setAttribute("data-answer", answer ? answer.textContent.replace(/\\s+/g, " ") : "");
})();
</script>"""


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    if browser() is None:
        pytest.skip(
            "no headless browser here: install Debian's chromium (apt-get install -y chromium)"
        )
    folder = tmp_path_factory.mktemp("kinds")
    made = samples.pages()
    out = {}
    for kind in KINDS:
        html = made[kind]()
        # compare's page forbids every script (its CSP); the probe needs one, so this copy drops the CSP.
        html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html)
        out[kind] = folder / f"{kind}.html"
        out[kind].write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
        # A4 printed: the print rules applied on screen, at the printable width of A4 less 12 mm margins.
        out[f"{kind}-print"] = folder / f"{kind}-print.html"
        out[f"{kind}-print"].write_text(
            out[kind].read_text(encoding="utf-8").replace("@media print", "@media all"),
            encoding="utf-8",
        )
    return out


def dump(page: Path, width: int) -> str:
    exe = browser()
    assert exe is not None
    with tempfile.TemporaryDirectory() as profile_dir:
        args = [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile_dir}",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--hide-scrollbars",
            f"--window-size={width},900",
            "--dump-dom",
            page.resolve().as_uri(),
        ]
        return subprocess.run(
            args, capture_output=True, text=True, timeout=90, cwd=profile_dir, check=False
        ).stdout


def attribute(dom: str, name: str) -> str:
    found = re.search(rf'{name}="([^"]*)"', dom)
    assert found, f"the probe did not run ({name} missing)"
    return found.group(1)


A4_PRINTABLE_PX = round((210 - 2 * 12) / 25.4 * 96)  # 703 CSS px


@pytest.mark.parametrize("width", [1400, 1024, "A4"])
@pytest.mark.parametrize("kind", KINDS)
def test_tables_fit_and_the_answer_comes_first(pages, kind, width) -> None:
    if width == "A4":
        kind, width = f"{kind}-print", A4_PRINTABLE_PX
    dom = dump(pages[kind], width)
    assert attribute(dom, "data-wide") == ""
    assert int(attribute(dom, "data-page-width")) <= width
    assert attribute(dom, "data-answer-first") == "yes"
    block = attribute(dom, "data-answer")
    assert re.search(r"[0-9.]+ (s|ms|us|ns) lost", block), block
    assert re.search(r"(memory|compute|launch)-bound", block), block
    where = re.search(r'data-where="([^"]+)"', dom).group(1)
    assert where in block and ("." in where or " b=" in where or "c=" in where or "tp" in where)
