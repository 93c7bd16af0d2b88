"""``llmroof bench``: a serving engine under load, each level placed on the roofline (docs/bench.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from llmroof.cli.options import (
    Force,
    Format,
    HardwareFile,
    KvDtype,
    Nvml,
    Pp,
    RunFolder,
    Seed,
    Tp,
    TpotSlo,
    TraceFile,
    TtftSlo,
    WeightDtype,
    options_of,
)


def _numbers(option: str, text: str | None, kind: type) -> tuple[Any, ...]:
    from llmroof.ranges import number_list

    return (
        () if text is None else number_list(option, text, kind, minimum=0 if kind is float else 1)
    )


def bench(
    ctx: typer.Context,
    url: str = typer.Option(
        ..., "--url", "-u", show_default=False, help="The server, e.g. http://127.0.0.1:8000."
    ),
    model: str = typer.Option(
        ...,
        "--model",
        "-m",
        show_default=False,
        help="Model id the server serves (a preset, config.json or folder also sets the roofline).",
    ),
    endpoint: str = typer.Option(
        "completions",
        "--endpoint",
        "-e",
        help="completions (/v1/completions), chat (/v1/chat/completions) or generate "
        "(KServe/Triton /v2/models/MODEL/generate_stream).",
    ),
    concurrency: str | None = typer.Option(
        None,
        "--concurrency",
        "-c",
        help="Closed-loop levels: requests in flight, e.g. 1,8,32 (default 1).",
    ),
    rate: str | None = typer.Option(
        None, "--rate", "-r", help="Open-loop levels: Poisson requests/s, e.g. 2,4."
    ),
    requests: int | None = typer.Option(
        None, "--requests", "-n", help="Requests per level (default 64 without --duration)."
    ),
    duration_s: float | None = typer.Option(
        None, "--duration", help="Seconds of sending per level."
    ),
    input_len: int = typer.Option(128, "--input-len", min=1, help="Prompt tokens per request."),
    output_len: int = typer.Option(128, "--output-len", min=1, help="Output tokens per request."),
    ttft_slo: TtftSlo = None,
    tpot_slo: TpotSlo = None,
    hardware: str | None = typer.Option(
        None,
        "--hardware",
        "-H",
        help="Serving device (see `llmroof hardware`), or cpu (measured ceilings); "
        "default: the GPU NVML names, else this CPU for a local server.",
    ),
    tp: Tp = 1,
    pp: Pp = 1,
    dtype: str = typer.Option(
        "bf16",
        "--dtype",
        help="Served activation dtype (and weights and KV unless given), for the roofline.",
    ),
    weight_dtype: WeightDtype = None,
    kv_dtype: KvDtype = None,
    config: str | None = typer.Option(
        None,
        "--config",
        help="Roofline model (preset, config.json or folder) when the model id is not one.",
    ),
    tokenizer: str | None = typer.Option(
        None,
        "--tokenizer",
        help="Local tokenizer folder for exact prompt lengths (default: the model "
        "id when it is a folder).",
    ),
    timeout_s: float = typer.Option(
        300.0, "--timeout", help="Seconds one request may take, start to end."
    ),
    warmup: int = typer.Option(2, "--warmup", min=0, help="Requests sent first and not counted."),
    seed: Seed = 0,
    trace_file: TraceFile = None,
    nvml: Nvml = True,
    profile: bool = typer.Option(
        False,
        "--profile",
        help="Ask a vLLM/SGLang server for a profiler trace of each level "
        "(POST /start_profile, /stop_profile; the server needs its profiler configured).",
    ),
    profile_dir: Path | None = typer.Option(
        None,
        "--profile-dir",
        file_okay=False,
        help="The folder the server writes its traces to: each level names the files that "
        "appeared there (implies --profile).",
    ),
    out: RunFolder = None,
    force: Force = False,
    fmt: Format = typer.Option(
        Format.table, "--format", "-f", help="table, json (levels, no per-request records) or csv."
    ),
    hardware_file: HardwareFile = None,
) -> None:
    """Load a serving engine at several concurrencies or rates; TTFT, TPOT, ITL, throughput and goodput,
    and each level's decode against the analytic roofline."""
    from llmroof.bench.run import BenchConfig
    from llmroof.report.console.bench import print_result
    from llmroof.results.save import results_folder
    from llmroof.runs.bench import bench_config, run_bench

    options = options_of(
        BenchConfig,
        ctx,
        concurrency=_numbers("--concurrency", concurrency, int),
        rates=_numbers("--rate", rate, float),
        ttft_slo_s=None if ttft_slo is None else ttft_slo / 1e3,
        tpot_slo_s=None if tpot_slo is None else tpot_slo / 1e3,
        profile=profile or profile_dir is not None,
    )
    cfg = bench_config(trace_file=trace_file, **options)
    quiet = fmt is not Format.table
    path = results_folder(out, force=force, prefix="bench-") / "results.json"
    result = run_bench(
        cfg,
        path,
        progress=(lambda _: None) if quiet else (lambda m: print(m, file=sys.stderr)),
        warn=lambda m: print(f"llmroof: warning: {m}", file=sys.stderr),
    )
    print_result(result, path, fmt.value)


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
