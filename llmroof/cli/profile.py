"""``llmroof profile``: time real prefill and decode kernels on this machine and place them on the roofline."""

from __future__ import annotations

import sys

import typer

from llmroof.cli.options import (
    Device,
    Force,
    MicroBatches,
    Nvml,
    Pp,
    RunFolder,
    TableOrJson,
    options_of,
)
from llmroof.errors import interrupt_exit_code
from llmroof.labels import plain_text


def _ints(option: str, text: str) -> tuple[int, ...]:
    from llmroof.ranges import number_list

    return number_list(option, text, int)


def profile(
    ctx: typer.Context,
    model: str | None = typer.Option(
        None,
        "--model",
        "-m",
        help="Preset or config.json (default: llama-3.2-1b on a CPU, llama-3-8b on a GPU).",
    ),
    device: Device = "auto",
    batch: str | None = typer.Option(
        None,
        "--batch",
        "-b",
        help="Batch sizes, e.g. 1,8,32 (default: 1,4 on a CPU; 1,8,32 on a GPU).",
    ),
    prompt_len: int | None = typer.Option(
        None,
        "--prompt",
        "-s",
        min=1,
        help="Prefill prompt tokens (default: 128 on a CPU; 512 on a GPU).",
    ),
    context: str | None = typer.Option(
        None, "--context", "-c", help="Decode KV-cache lengths, e.g. 512,2048."
    ),
    dtype: str = typer.Option(
        "bf16", "--dtype", help="Compute, weight and KV dtype: fp32, bf16 or fp16."
    ),
    kv_dtype: str | None = typer.Option(
        None, "--kv-dtype", help="KV-cache dtype (the torch kernels need it equal to --dtype)."
    ),
    layers: int | None = typer.Option(
        None,
        "--layers",
        help="Decoder layers to instantiate; the rest is extrapolated (default: 2 on a CPU; all on a GPU).",
    ),
    threads: int | None = typer.Option(None, "--threads", min=1, help="CPU threads for torch."),
    cuda_graphs: bool = typer.Option(
        False, "--cuda-graphs", help="Capture decode steps in CUDA graphs (GPU)."
    ),
    per_op: bool = typer.Option(
        True, "--per-op/--no-per-op", help="Also time every op of one layer."
    ),
    nvml: Nvml = True,
    nvml_window_ms: float = typer.Option(
        300.0,
        "--nvml-window-ms",
        min=100.0,
        help="Steady replay of each configuration while NVML samples.",
    ),
    warmup_ms: float = typer.Option(
        25.0, "--warmup-ms", min=0.0, help="Warm-up budget per timed kernel."
    ),
    rep_ms: float = typer.Option(
        100.0, "--rep-ms", min=1.0, help="Timing budget per timed kernel."
    ),
    hardware: str | None = typer.Option(
        None, "--hardware", "-H", help="Datasheet entry for the GPU (default: matched by name)."
    ),
    tp: int = typer.Option(
        1,
        "--tp",
        min=1,
        help="Tensor-parallel ranks (one process each; gloo on CPUs, NCCL on GPUs).",
    ),
    pp: Pp = 1,
    micro_batches: MicroBatches = 1,
    timeout_s: float = typer.Option(
        120.0, "--timeout", min=1.0, help="Seconds a rank waits for the others before failing."
    ),
    tp_simulate: int = typer.Option(
        1,
        "--tp-simulate",
        min=1,
        help="Time one rank's shard of this TP degree here, plus the analytic comm cost.",
    ),
    repeat: int = typer.Option(
        1,
        "--repeat",
        min=1,
        help="Run the configurations in N fresh processes, one after another, and keep "
        "every process's samples in one results file (the run-to-run spread).",
    ),
    refresh_ceilings: bool = typer.Option(
        False,
        "--refresh-ceilings",
        help="Calibrate the machine's ceilings again (see `llmroof ceilings`).",
    ),
    out: RunFolder = None,
    force: Force = False,
    fmt: TableOrJson = typer.Option(
        TableOrJson.table,
        "--format",
        "-f",
        help="table: progress and a summary; json: the results on stdout.",
    ),
) -> None:
    """Time real prefill and decode kernels with PyTorch on this machine and place them on the roofline."""
    from llmroof.report.console.profile import print_interrupted, print_result, progress_view
    from llmroof.runs.profile import prepare_profile, results_folder, run_profile

    batches = _ints("--batch", batch) if batch else None
    contexts = _ints("--context", context) if context else None
    job = prepare_profile(**options_of(prepare_profile, ctx, batches=batches, contexts=contexts))
    path = results_folder(out, force) / "results.json"  # checked before anything is measured
    try:
        with progress_view(job.mode, job.steps, quiet=fmt is TableOrJson.json) as progress:
            record = run_profile(
                job,
                path,
                argv=["llmroof", *sys.argv[1:]],
                progress=progress,
                announce=lambda line: print(f"llmroof: {plain_text(line)}", file=sys.stderr),
                warn=lambda line: print(f"llmroof: warning: {line}", file=sys.stderr),
            )
    except KeyboardInterrupt as exc:  # the record says "interrupted"
        print_interrupted(job.mode, path)
        raise typer.Exit(130 if job.mode == "repeat" else interrupt_exit_code(exc)) from None
    if record is None:  # a torchrun rank other than 0
        raise typer.Exit(0)
    print_result(record, path, fmt.value)


def register(app: typer.Typer) -> None:
    app.command("profile")(profile)
