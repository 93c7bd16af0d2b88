"""``llmroof bench``: a serving engine under load, each level placed on the roofline (docs/bench.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from llmroof.cli.options import HARDWARE_FILE, Format


def _numbers(option: str, text: str | None, kind: type) -> tuple[Any, ...]:
    from llmroof.ranges import number_list

    return (
        () if text is None else number_list(option, text, kind, minimum=0 if kind is float else 1)
    )


def bench(
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
    duration: float | None = typer.Option(None, "--duration", help="Seconds of sending per level."),
    input_len: int = typer.Option(128, "--input-len", min=1, help="Prompt tokens per request."),
    output_len: int = typer.Option(128, "--output-len", min=1, help="Output tokens per request."),
    ttft_slo: float | None = typer.Option(None, "--ttft-slo", help="TTFT SLO in ms, for goodput."),
    tpot_slo: float | None = typer.Option(None, "--tpot-slo", help="TPOT SLO in ms, for goodput."),
    hardware: str | None = typer.Option(
        None,
        "--hardware",
        "-H",
        help="Serving device (see `llmroof hardware`), or cpu (measured ceilings); "
        "default: the GPU NVML names, else this CPU for a local server.",
    ),
    tp: int = typer.Option(1, "--tp", min=1, help="Tensor-parallel ranks of the deployment."),
    pp: int = typer.Option(1, "--pp", min=1, help="Pipeline stages of the deployment."),
    dtype: str = typer.Option(
        "bf16",
        "--dtype",
        help="Served activation dtype (and weights and KV unless given), for the roofline.",
    ),
    weight_dtype: str | None = typer.Option(
        None, "--weight-dtype", help="Served decoder weights' dtype (int8, int4...)."
    ),
    kv_dtype: str | None = typer.Option(None, "--kv-dtype", help="Served KV-cache dtype."),
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
    timeout: float = typer.Option(
        300.0, "--timeout", help="Seconds one request may take, start to end."
    ),
    warmup: int = typer.Option(2, "--warmup", min=0, help="Requests sent first and not counted."),
    seed: int = typer.Option(0, "--seed", help="Seed of prompts and arrival times."),
    trace_file: Path | None = typer.Option(
        None,
        "--trace-file",
        dir_okay=False,
        help="Replay a trace (Azure or BurstGPT CSV, Mooncake JSONL): its arrival "
        "times and lengths, as `llmroof simulate --trace-file` does.",
    ),
    nvml: bool = typer.Option(
        True, "--nvml/--no-nvml", help="Sample GPU DRAM traffic through NVML during the run."
    ),
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
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        file_okay=False,
        help="Results folder (default: a new folder under ./llmroof-runs/).",
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace an earlier run in the --out folder (kept by default)."
    ),
    fmt: Format = typer.Option(
        Format.table, "--format", "-f", help="table, json (levels, no per-request records) or csv."
    ),
    hardware_file: Path | None = HARDWARE_FILE,
) -> None:
    """Load a serving engine at several concurrencies or rates; TTFT, TPOT, ITL, throughput and goodput,
    and each level's decode against the analytic roofline."""
    from llmroof.bench import BenchConfig, run_bench
    from llmroof.bench.traffic import read_trace
    from llmroof.report.console.bench import print_result

    trace = tuple(read_trace(trace_file, limit=requests)) if trace_file is not None else ()

    cfg = BenchConfig(
        url=url,
        model=model,
        endpoint=endpoint,
        concurrency=_numbers("--concurrency", concurrency, int),
        rates=_numbers("--rate", rate, float),
        requests=(len(trace) or 64) if requests is None and duration is None else requests,
        duration_s=duration,
        input_len=input_len,
        output_len=output_len,
        ttft_slo_s=None if ttft_slo is None else ttft_slo / 1e3,
        tpot_slo_s=None if tpot_slo is None else tpot_slo / 1e3,
        timeout_s=timeout,
        warmup=warmup,
        seed=seed,
        tp=tp,
        pp=pp,
        dtype=dtype,
        weight_dtype=weight_dtype,
        kv_dtype=kv_dtype,
        hardware=hardware,
        hardware_file=hardware_file,
        config=config,
        tokenizer=tokenizer,
        nvml=nvml,
        trace=trace,
        profile=profile or profile_dir is not None,
        profile_dir=profile_dir,
    )
    from llmroof.bench.run import preflight
    from llmroof.results.save import results_folder

    preflight(cfg, None)  # the options, before the folder is made and before any request
    path = results_folder(out, force=force, prefix="bench-") / "results.json"
    quiet = fmt is not Format.table
    result = run_bench(
        cfg,
        path,
        progress=(lambda _: None) if quiet else (lambda m: print(m, file=sys.stderr)),
        warn=lambda m: print(f"llmroof: warning: {m}", file=sys.stderr),
    )
    print_result(result, path, fmt.value)


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
