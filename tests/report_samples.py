"""Sample results of every report kind (profile, analysis, bench, plan, compare), built from the files in
tests/data and the record types, for the figure-layout and browser tests. No model is run: the profile is
the 0.1.0 file, dressed as tests/test_report.py's GPU-like run where a test needs the GPU-only sections."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

DATA = Path(__file__).parent / "data"


def profile_record(*, cache_roofs: dict[str, float] | None = None) -> dict:
    """The 0.1.0 CPU profile; ``cache_roofs`` adds calibrated cache roofs (the 0.2 ceilings field)."""
    record = json.loads((DATA / "v0.1.0" / "profile.json").read_text())
    if cache_roofs is not None:
        record["ceilings"]["cache_bandwidth_bytes_per_s"] = dict(cache_roofs)
    return record


# As measured on the 2-core VM (issue 25): L1 slower than L2, a non-monotone set; and a monotone one.
NON_MONOTONE = {"L1": 49.7e9, "L2": 187e9, "L3": 105e9}
MONOTONE = {"L1": 620e9, "L2": 310e9, "L3": 120e9}


def gpu_profile_record() -> dict:
    """The CPU profile as a GPU run (datasheet, NVML), via tests/test_report.py's ``gpu_like``."""
    from test_report import gpu_like

    return gpu_like(profile_record(cache_roofs=NON_MONOTONE), name="tiny-llama", label="H100 SXM")


def repeated_profile_record() -> dict:
    """The profile with a ``--repeat 3`` block: the spread the answer quotes (every key
    ``llmroof.results.repeat.merge`` writes, so that it reads as a ``ProfileRecord``)."""
    record = profile_record(cache_roofs=MONOTONE)
    record["repeat"] = {
        "processes_requested": 3,
        "processes_finished": 3,
        "method": "3 fresh processes",
        "ceilings": {},
    }
    for c in record["configs"]:
        metric = "tpot_s" if c["phase"] == "decode" else "ttft_s"
        value = c["time_s"]
        c["repeat"] = {
            "processes": 3,
            "metrics": {
                metric: {
                    "median": value,
                    "min": value * 0.97,
                    "max": value * 1.05,
                    "cv": 0.031,
                    "n": 3,
                    "by_process": [{"process": i, "value": value} for i in range(3)],
                }
            }
        }
    return record


def analysis_record(model: str = "llama-3.2-1b", **workload: int) -> dict:
    from llmroof.analytic import Workload, analyze
    from llmroof.results.records.analysis import AnalysisRecord
    from llmroof.specs import get_hardware, get_model

    return AnalysisRecord.of(
        analyze(
            get_model(model),
            get_hardware("h100"),
            Workload(**{"batch": 4, "prompt_len": 128, "context_len": 1024, **workload}),
        )
    ).to_dict()


def parallel_analysis_record() -> dict:
    return json.loads((DATA / "golden" / "analysis-llama-3.2-1b-h100-tp2-pp2.json").read_text())


def bench_record() -> dict:
    """Two closed-loop levels of a made-up server, each placed on the H100 roofline."""
    from llmroof.bench.metrics import summarize_level
    from llmroof.bench.roofline import Deployment, placement
    from llmroof.results.records.bench import BenchResult, BenchSettings, RequestRecord
    from llmroof.specs.hardware import get_hardware
    from llmroof.specs.model import get_model

    def request(
        index: int, start: float, gap: float, ttft: float, tokens: int = 32
    ) -> RequestRecord:
        chunks = tuple(start + ttft + i * gap for i in range(tokens))
        return RequestRecord(
            index=index,
            start_s=start,
            first_token_s=chunks[0],
            end_s=chunks[-1],
            chunk_times_s=chunks,
            input_tokens=128,
            output_tokens=tokens,
            token_source="usage",
        )

    deployment = Deployment(model=get_model("llama-3.2-1b"), hardware=get_hardware("h100-sxm"))
    levels = []
    for level, (concurrency, gap) in enumerate(((1, 0.004), (4, 0.005), (16, 0.008))):
        records = [
            request(i, 0.05 * i + 0.5 * level, gap * (1 + 0.1 * (i % 3)), 0.02 + 0.002 * i)
            for i in range(3 * concurrency)
        ]
        summary = summarize_level(records, concurrency=concurrency)
        levels.append(dataclasses.replace(summary, roofline=placement(summary, deployment)))
    settings = BenchSettings(
        url="http://127.0.0.1:8000",
        endpoint="completions",
        model="llama-3.2-1b",
        input_len=128,
        output_len=32,
        requests=12,
        duration_s=None,
        timeout_s=5,
        warmup=0,
        seed=0,
    )
    result = BenchResult(
        settings=settings,
        levels=tuple(levels),
        prompt_method="exact",
        extras_sent=("ignore_eos",),
        model_spec={"name": "llama-3.2-1b"},
        hardware=deployment.hardware.to_dict(),
        hardware_method="catalog",
    )
    return result.to_dict()


def plan() -> object:
    from llmroof.plan.planner import plan as make_plan
    from llmroof.plan.records import PlanRequest
    from llmroof.specs import get_hardware, get_model

    return make_plan(
        PlanRequest(
            model=get_model("llama-3.2-1b"),
            hardware=(get_hardware("h100"),),
            prompt_len=512,
            output_len=128,
            max_gpus_per_replica=2,
            tpot_slo_s=0.02,
        )
    )


def comparison() -> object:
    """tests/data/golden/compare.md's comparison, its files named relative to tests/data (as there)."""
    import os

    from llmroof.compare.comparison import CompareSettings, compare_paths

    here = os.getcwd()
    os.chdir(DATA)
    try:
        return compare_paths("v0.1.0/profile.json", "golden/compare-new.json", CompareSettings())
    finally:
        os.chdir(here)


def pages() -> dict[str, Callable[[], str]]:
    """Every report kind's page, by name, as functions (each renders when called)."""
    from llmroof.compare.html import render_html
    from llmroof.plan.html import render_plan_page
    from llmroof.report.render import render_report, render_trace

    return {
        "profile": lambda: render_report(
            profile_record(cache_roofs=NON_MONOTONE), source="profile.json"
        ),
        "profile-gpu": lambda: render_report(gpu_profile_record(), source="gpu.json"),
        "profile-repeat": lambda: render_report(repeated_profile_record(), source="repeat.json"),
        "profile-parallel": lambda: render_report(
            json.loads((DATA / "v0.1.0" / "profile-tp2.json").read_text()), source="tp2.json"
        ),
        "analysis": lambda: render_report(analysis_record(), source="analysis.json"),
        "analysis-moe": lambda: render_report(analysis_record("mixtral-8x7b"), source="moe.json"),
        "analysis-parallel": lambda: render_report(
            parallel_analysis_record(), source="parallel.json"
        ),
        "bench": lambda: render_report(bench_record(), source="bench.json"),
        "plan": lambda: render_plan_page(plan()),  # type: ignore[arg-type]
        "compare": lambda: render_html(comparison()),  # type: ignore[arg-type]
        "trace": lambda: render_trace(trace_record(), source="trace.json"),
    }


def trace_record():
    """A generated vLLM-like GPU trace's record (tests/trace_gen.py): a prefill, two decodes."""
    import tempfile

    from trace_gen import write_kineto

    from llmroof.specs.model import get_model
    from llmroof.trace import TraceOptions, run_trace

    model = get_model("llama-3.2-1b")
    prefill = {"phase": "prefill", "batch": 1, "tokens": 512}
    decode = {"phase": "decode", "batch": 8, "tokens": 8}
    steps = [
        {**prefill, "name": "execute_context_1(512)_generation_0(0)"},
        *[{**decode, "name": "execute_context_0(0)_generation_8(8)"}] * 2,
    ]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "trace.json"
        write_kineto(path, model, steps)
        return run_trace([path], TraceOptions(model=model, context=1024))


def copy_of(record: dict) -> dict:
    return copy.deepcopy(record)


def screenshots(folder: Path, width: int = 1400, height: int = 1000) -> list[Path]:
    """Chromium screenshots of the profile, analysis, bench, plan and compare pages, the top ``height`` px at
    ``width``, in 256 colours (docs/images/; docs/reports.md shows them)."""
    import shutil
    import subprocess
    import tempfile

    from PIL import Image

    exe = next(
        p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p
    )
    made = pages()
    # The profile's roofline and batch sweep: the page with everything above its roofline hidden.
    hide = "<style>header, #headline { display: none; }</style></head>"
    shots = {
        "report-profile": made["profile-gpu"],
        "report-analysis": made["analysis"],
        "report-bench": made["bench"],
        "report-plan": made["plan"],
        "report-compare": made["compare"],
        "report-profile-roofline": lambda: made["profile"]().replace("</head>", hide, 1),
    }
    out = []
    for name, render in shots.items():
        with tempfile.TemporaryDirectory() as scratch:
            page, shot = Path(scratch) / "page.html", Path(scratch) / "shot.png"
            page.write_text(render(), encoding="utf-8")
            subprocess.run(
                [
                    exe,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    f"--user-data-dir={scratch}/p",
                    "--hide-scrollbars",
                    f"--window-size={width},{height}",
                    f"--screenshot={shot}",
                    page.as_uri(),
                ],
                capture_output=True,
                timeout=90,
                check=True,
                cwd=scratch,
            )
            target = folder / f"{name}.png"
            Image.open(shot).convert("RGB").quantize(256).save(target, optimize=True)
            out.append(target)
    return out


if __name__ == "__main__":  # python tests/report_samples.py docs/images
    import sys

    for made_path in screenshots(Path(sys.argv[1])):
        print(made_path, made_path.stat().st_size)
