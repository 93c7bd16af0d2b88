"""HTML reports from real results: a CPU profile at tiny shapes and analytic runs. Sections appear exactly
when their data does; names from a results file render as text; the page is self-contained; the CLI; and
(where Debian's chromium is installed) the page in a real headless browser with the network off."""

from __future__ import annotations


import base64
import copy
import dataclasses
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from llmroof.analytic import Workload, analyze
from llmroof.errors import LlmroofError
from llmroof.report import analysis_view, render
from llmroof.report.render import render_report, report_file
from llmroof.specs import get_hardware, get_model
from llmroof.results.save import saver
from llmroof.results.records.analysis import AnalysisRecord

TINY = dataclasses.replace(get_model("llama-3-8b"), name="tiny", hidden_size=64, num_layers=3, num_heads=8,
                           num_kv_heads=2, head_dim=16, intermediate_size=128, vocab_size=256)
EVIL_MODEL = "<script>console.error('xss-model')</script>"
EVIL_LABEL = "<img src=x onerror=console.error('xss-label')>"
EVIL_FILE = "</pre><script>console.error('xss-raw')</script>"
SECTION_IDS = ("headline", "roofline", "bytes", "sweeps", "attention", "parallel", "nvml", "ops", "environment")


# --- real results ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cpu_results(tmp_path_factory) -> Path:
    """A real ``llmroof profile`` on the CPU at tiny shapes: 2 batches x 2 contexts, per-op timings."""
    from llmroof.measure.device import open_device
    from llmroof.measure.profile import ProfileConfig, profile

    path = tmp_path_factory.mktemp("cpu") / "results.json"
    config = ProfileConfig(model=TINY, batches=(1, 2), prompt_len=8, contexts=(16, 32), layers=1, dtype="fp32",
                           warmup_ms=1.0, rep_ms=3.0)
    device = open_device("cpu")
    # This run feeds the report; its timings need not be good, only quick: small cache flushes, and one
    # thread, which on a busy 2-core machine is several times faster than two contending ones.
    device.cache_bytes = 2**20
    threads = device.torch.get_num_threads()
    device.torch.set_num_threads(1)
    try:
        profile(config, device, saver(path))
    finally:
        device.torch.set_num_threads(threads)
    return path


def gpu_like(record: dict, *, name: str = EVIL_MODEL, label: str = EVIL_LABEL) -> dict:
    """The CPU record dressed as a GPU run, to reach what only a GPU records: a datasheet entry and NVML
    samples with a replay region per configuration. The figures are made up (shaped like the real ones:
    docs/nvml.md); the names carry markup that must render as text."""
    rec = copy.deepcopy(record)
    sheet = get_hardware("h100").to_dict()
    sheet["display_name"] = label
    rec["hardware"] = sheet
    rec["device"].update(kind="cuda", name=label)
    rec["model"]["name"] = rec["model"]["spec"]["name"] = name
    bandwidth = sheet["memory_bandwidth_bytes_per_s"]
    rec["roofline"]["datasheet"] = {"peak_flops_per_s": sheet["peak_flops_per_s"]["fp32"],
                                    "bandwidth_bytes_per_s": bandwidth, "label": f"{label} datasheet"}
    start = 1000.0
    for index, c in enumerate(rec["configs"]):
        c["datasheet_roofline_time_s"] = c["roofline_time_s"] / 20
        c["datasheet_roofline_fraction"] = c["datasheet_roofline_time_s"] / c["time_s"]
        tokens = c["batch"] * (c.get("prompt_len") or 1)
        layers = rec["workload"]["layers_instantiated"]
        analytic = sum(op["bytes"] * (layers if op["name"].startswith(("attn.", "mlp.")) else 1)
                       for op in c["ops"]) / tokens  # the instantiated stack, as llmroof profile computes it
        c["nvml"] = {"start_s": start + 0.5 * index, "end_s": start + 0.5 * index + 0.4, "samples": 3,
                     "source": "gpm", "measured_dram_bandwidth_bytes_per_s": 0.6 * bandwidth,
                     "measured_bytes_per_token": 1.2 * analytic, "analytic_bytes_per_token": analytic,
                     "measured_to_analytic_bytes_ratio": 1.2}
    samples = [{"start_s": start + 0.1 * i, "end_s": start + 0.1 * (i + 1), "source": "gpm",
                "dram_bw_util_percent": 60.0 if i % 5 < 4 else 5.0,
                "dram_bandwidth_bytes_per_s": (0.6 if i % 5 < 4 else 0.05) * bandwidth, "mem_busy_percent": None,
                "sm_clock_mhz": 1980.0, "mem_clock_mhz": 2619.0, "power_w": 400.0, "temperature_c": 50.0,
                "clock_event_reasons": []} for i in range(5 * len(rec["configs"]))]
    rec["nvml"] = {"status": "sampling: gpm", "source": "gpm", "reason": None, "interval_s": 0.1,
                   "peak_dram_bandwidth_bytes_per_s": bandwidth, "samples": samples}
    return rec


def analysis_record(**changes) -> dict:
    workload = Workload(**{"batch": 1, "context_len": 2048, **changes.pop("workload", {})})
    model = changes.pop("model", get_model("llama-3-8b"))
    hardware = changes.pop("hardware", get_hardware("h100"))
    return AnalysisRecord.of(analyze(model, hardware, workload)).to_dict()


@pytest.fixture(scope="module")
def pages(cpu_results, tmp_path_factory) -> dict[str, Path]:
    """Each kind of report, rendered once and shared by the tests below. The analysis and the GPU-like run
    carry markup in their model and hardware names, and the GPU-like file a "</pre>" of its own."""
    folder = tmp_path_factory.mktemp("pages")
    cpu = json.loads(cpu_results.read_text())
    evil_model = dataclasses.replace(get_model("llama-3-8b"), name=EVIL_MODEL)
    evil_hardware = dataclasses.replace(get_hardware("h100"), display_name=EVIL_LABEL)
    inputs = {"analysis": json.dumps(analysis_record(model=evil_model, hardware=evil_hardware)),
              "gpu": json.dumps(gpu_like(cpu))[:-1] + f', "note": "{EVIL_FILE}"}}'}
    paths = {"cpu": report_file(cpu_results, folder / "cpu.html")}
    for key, data in inputs.items():
        results = folder / f"{key}.json"
        results.write_text(data)
        paths[key] = report_file(results, folder / f"{key}.html")
    return paths


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def sections_in(page: str) -> set[str]:
    return {s for s in SECTION_IDS if f'<section id="{s}"' in page}


# --- sections -------------------------------------------------------------------------------------

def test_cpu_profile_report_has_the_sections_its_data_allows(pages) -> None:
    page = text(pages["cpu"])
    # A CPU run has no datasheet, no NVML and no parallelism: those are left out, not rendered empty.
    assert sections_in(page) == {"headline", "roofline", "bytes", "sweeps", "attention", "ops", "environment"}
    assert "Left out because" not in page
    assert "Decode TPOT (b=1 c=16)" in page and "of roofline" in page and "Prefill TTFT (b=1 s=8)" in page
    assert "minimum-traffic bound" in page and "bound of the eager ops timed" in page  # the fused bound, eager beside
    assert re.search(r"Decode at b=1 c=16 is (memory|compute)-bound as measured", page)
    assert "datasheet" not in page.split('id="environment"')[0].lower()
    for config in ("decode b=2 c=32", "prefill b=2 s=8"):
        assert config in page  # every configuration in the table and the per-op tables


def test_analysis_report_has_no_measured_sections(pages) -> None:
    page = text(pages["analysis"])  # llama-3-8b on an H100 at the defaults, renamed
    assert sections_in(page) == {"headline", "roofline", "bytes", "sweeps", "attention", "ops", "environment"}
    # The documented llama-3-8b/H100 figures: the fused bound, and the eager ops beside it (issue 11).
    assert "Decode TPOT (roofline bound)" in page and "4.56 ms" in page and "(eager, eager attention) 4.57 ms" in page
    assert "280x below the ridge point (295 FLOP/byte)" in page
    assert "decode ops (eager: one kernel per op)" in page and "bound of the eager ops" not in page
    assert "Not measured here" in page


def test_parallel_analysis_adds_the_parallelism_section() -> None:
    single = analysis_record()
    assert analysis_view.parallel(single) is None  # one GPU: no section
    section = analysis_view.parallel(analysis_record(model=get_model("llama-3-70b"),
                                                     workload={"tp": 4, "pp": 2, "micro_batches": 4, "batch": 8}))
    svg = section["figures"][0]["svg"]
    assert "pipeline bubble" in svg and "stage 1 (40 layers)" in svg
    names = {row[1]["text"] for row in section["tables"][1]["table"]["rows"]}
    assert {"comm.attn_allreduce", "comm.mlp_allreduce", "comm.pp_send"} <= names
    assert any("bubble 20.0%" in note or "GPipe's formula: 20.0%" in note for note in section["notes"])


def test_a_device_without_a_compute_peak_has_no_ridge_point() -> None:
    data = analysis_record(hardware=dataclasses.replace(get_hardware("h100"), peak_flops_per_s={}))
    assert "no compute peak is known" in analysis_view.headline(data)["verdict"]
    assert "(no compute peak)" in analysis_view.roofline(data)["figure"]["svg"]  # the bandwidth slope alone


def test_gpu_record_adds_datasheet_and_nvml(pages) -> None:
    page = text(pages["gpu"])
    assert sections_in(page) == {"headline", "roofline", "bytes", "sweeps", "attention", "nvml", "ops",
                                 "environment"}
    assert "of the datasheet bound" in page and "NVML measured" in page
    # One band per configuration (2 prefill, 4 decode), named as its NVTX range: a row each in the data table.
    assert page.count("nvml replay</td>") == 6
    assert "measured / analytic" in page


def test_sections_are_left_out_when_the_data_is_absent(cpu_results) -> None:
    record = json.loads(cpu_results.read_text())
    decode = next(c for c in record["configs"] if c["phase"] == "decode")
    record.update(status="failed", error="RuntimeError: boom", configs=[], notes=["a ceiling was measured low"])
    page = render_report(record)
    assert sections_in(page) == {"attention", "environment"}
    assert "This run is failed: RuntimeError: boom" in page and "Note: a ceiling was measured low" in page
    del decode["analytic"]  # an unreadable part drops its sections, named, not the whole report
    record["configs"] = [decode]
    sections, omitted = render.build_sections(record)
    assert sections["headline"] is None and omitted[0].startswith("headline (KeyError")


# --- safety and self-containment ------------------------------------------------------------------

@pytest.mark.parametrize("key", ["gpu", "analysis"])
def test_markup_in_names_renders_as_text(pages, key) -> None:
    page = text(pages[key])
    assert page.count("<script") == 1  # the report's own sorting script, nothing injected
    assert not re.search(r"<img\b", page)
    assert "&lt;script&gt;console.error(" in page and "&lt;img src=x onerror=" in page  # shown, as text


def test_the_page_makes_no_network_request(pages) -> None:
    for path in pages.values():
        page = text(path)
        assert "Left out because" not in page  # every section of these real files was readable
        links = re.findall(r'\s(?:src|href|xlink:href|action|poster|data)\s*=\s*"([^"]*)"', page)
        assert all(link.startswith(("#", "data:")) for link in links), [ln[:60] for ln in links if
                                                                          not ln.startswith(("#", "data:"))]
        assert "<link" not in page and "@import" not in page and not re.search(r"url\((?!#)", page)
        assert "default-src 'none'" in page  # the browser refuses any fetch the page might still try


def test_figures_have_titles_axis_units_and_alt_text(pages) -> None:
    page = text(pages["gpu"])
    figures = re.findall(r"<svg[^>]*>\s*<title id=\"([^\"]+)\">([^<]+)</title>", page)
    names = {name for name, _ in figures}
    assert {"fig-roofline-title", "fig-bytes-title", "fig-sweep-batch-title", "fig-sweep-context-title",
            "fig-attention-title", "fig-nvml-title"} <= names
    assert all(len(alt) > 40 for _, alt in figures)
    assert page.count('role="img"') == len(figures)
    for label in ("arithmetic intensity (FLOP/byte)", "performance (FLOP/s)", "batch (sequences)",
                  "bandwidth (B/s)", "DRAM bandwidth (B/s)", "time since the first sample (s)"):
        assert label in page


def test_raw_results_are_embedded_for_download(pages) -> None:
    source = pages["gpu"].with_suffix(".json").read_text()
    page = text(pages["gpu"])
    uri = re.search(r'id="llmroof-download" download="gpu.json" href="data:application/json;base64,([^"]+)"', page)
    assert uri and base64.b64decode(uri.group(1)).decode() == source
    shown = re.search(r'<pre class="raw" id="llmroof-results">(.*?)</pre>', page, re.S)
    assert shown and html.unescape(shown.group(1)) == source  # the file's "</pre>" stayed inside the tag


def test_large_results_get_a_script_made_download(monkeypatch) -> None:
    monkeypatch.setattr(render, "DATA_URI_LIMIT_BYTES", 10)
    raw = render.raw_block('{"schema": "llmroof.profile/1", "configs": []}', "results.json")
    page = render.environment().get_template("report_raw.html.j2").render(raw=raw)
    assert raw["data_uri"] is None and 'href="data:' not in page
    assert 'id="llmroof-download" download="results.json" hidden' in page
    assert "too large for a download link without JavaScript" in page


def test_unknown_files_are_refused_clearly(tmp_path) -> None:
    sweep = tmp_path / "sweep.json"
    sweep.write_text(json.dumps({"schema": "llmroof.sweep/1", "rows": []}))
    with pytest.raises(LlmroofError, match="sweep file"):
        report_file(sweep)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"schema": "llmroof.compare/1"}))
    with pytest.raises(LlmroofError, match="cannot report on schema"):
        report_file(other)
    with pytest.raises(LlmroofError, match="no such file"):
        report_file(tmp_path / "missing.json")


# --- the command line -----------------------------------------------------------------------------

@pytest.fixture
def cli(monkeypatch):
    """``llmroof`` with the report command, run through ``main`` (one-line errors, exit code 2)."""
    from llmroof.cli import main as main_module
    from llmroof.cli.options import register

    if not any(c.name == "report" for c in main_module.app.registered_commands):
        monkeypatch.setattr(main_module.app, "registered_commands", list(main_module.app.registered_commands))
        register(main_module.app, "report")

    def run(*args: str) -> int:
        try:
            main_module.main(list(args))
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else 0
        return 0

    return run


def test_cli_report(cli, capsys, cpu_results, tmp_path) -> None:
    copy_path = tmp_path / "results.json"
    shutil.copy(cpu_results, copy_path)
    assert cli("report", str(copy_path)) == 0
    assert (tmp_path / "report.html").is_file()  # beside a results.json, as llmroof profile writes it
    assert f"Report: {tmp_path / 'report.html'}" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert cli("report", str(bad)) == 2
    err = capsys.readouterr().err
    assert err.startswith("llmroof: error: ") and err.count("\n") == 1 and "not valid JSON" in err


def test_analyze_html_writes_an_analytic_report(cli, capsys, tmp_path) -> None:
    assert cli("analyze", "--model", "llama-3-8b", "--format", "json", "--html", str(tmp_path / "a.html")) == 0
    assert json.loads(capsys.readouterr().out)["schema"] == "llmroof.analysis/1"  # stdout is still the JSON
    assert 'id="headline"' in (tmp_path / "a.html").read_text()


def test_profile_writes_report_html_beside_its_results(cpu_results, tmp_path) -> None:
    from llmroof.report.console import profile

    results = tmp_path / "results.json"
    shutil.copy(cpu_results, results)
    assert profile.write_run_report(results) == tmp_path / "report.html"
    assert profile.write_run_report(tmp_path / "missing" / "results.json") is None  # a warning, not a failure


def test_where_the_report_goes(tmp_path) -> None:
    results = tmp_path / "results.json"
    assert render.report_target(results, None) == tmp_path / "report.html"
    assert render.report_target(tmp_path / "a.json", None) == tmp_path / "a.html"
    assert render.report_target(results, tmp_path / "x.html") == tmp_path / "x.html"
    assert render.report_target(results, tmp_path) == tmp_path / "report.html"  # a folder
    results.write_text("{}")
    with pytest.raises(LlmroofError, match="overwrite the results file"):
        render.report_target(results, results)


def test_the_report_path_imports_no_torch(tmp_path) -> None:
    results = tmp_path / "a.json"
    results.write_text(json.dumps(analysis_record()))
    code = ("import sys; from llmroof.report import report_file; report_file(sys.argv[1]); "
            "bad = [m for m in ('torch', 'matplotlib.pyplot') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code, str(results)], check=True)
    assert (tmp_path / "a.html").is_file()


# --- a real browser -------------------------------------------------------------------------------

def browser() -> str | None:
    return next((path for name in ("chromium", "chromium-browser", "google-chrome")
                 if (path := shutil.which(name))), None)


def open_in_browser(page: Path, shot: Path, width: int, height: int) -> tuple[str, list[str]]:
    """(the DOM after load, the console messages): headless, no network, a fresh profile."""
    exe = browser()
    if exe is None:
        pytest.skip("no headless browser here: install Debian's chromium (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as profile_dir:
        args = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-extensions", f"--user-data-dir={profile_dir}", "--enable-logging=stderr", "--v=0",
                "--host-resolver-rules=MAP * ~NOTFOUND", "--hide-scrollbars", f"--window-size={width},{height}",
                f"--screenshot={shot}", "--dump-dom", page.resolve().as_uri()]
        done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return done.stdout, console


PROBE = """<script>
document.body.setAttribute("data-scroll-width", document.documentElement.scrollWidth);
var heading = document.querySelector("#ops table.sortable thead th:nth-child(2)");
var first = function () { return document.querySelector("#ops table.sortable tbody td").textContent; };
heading.click();
var ascending = first();
heading.click();
document.body.setAttribute("data-sorted", ascending + "|" + first());
</script>"""


# 500 px: the narrowest window headless Chromium lays out (it widens narrower ones); phone CSS applies there.
@pytest.mark.parametrize("key, width", [("gpu", 1280), ("cpu", 500)])
def test_report_in_a_headless_browser(pages, cpu_results, tmp_path, key, width) -> None:
    # A probe script records the page's own width after layout (wider than the window means the page scrolls
    # sideways; tables scroll inside their own boxes instead), and sorts the first per-op table by its
    # "measured" column, both ways, recording the op that comes first.
    probe = tmp_path / f"{key}.html"
    probe.write_text(text(pages[key]).replace("</body>", PROBE + "</body>"), encoding="utf-8")
    shot = tmp_path / f"{key}-{width}.png"
    dom, console = open_in_browser(probe, shot, width, 1800)
    assert console == []  # no script error, no refused request, and the injected names did not run
    assert shot.is_file() and shot.stat().st_size > 20_000
    assert '<h2 id="headline-title">Headline</h2>' in dom
    assert re.search(r'<svg[^>]*aria-labelledby="fig-roofline-title"', dom)
    assert "<title id=\"fig-roofline-title\">Roofline with measured ceilings" in dom
    assert int(re.search(r'data-scroll-width="(\d+)"', dom).group(1)) <= width
    record = json.loads(cpu_results.read_text())  # the GPU-like page holds the same per-op timings
    first = next(c for c in record["configs"] if c["phase"] == "prefill" and c["status"] == "ok")
    ops = sorted((op for op in first["ops"] if "median_s" in op), key=lambda op: op["median_s"])
    assert re.search(r'data-sorted="([^"]*)"', dom).group(1) == f"{ops[0]['name']}|{ops[-1]['name']}"
