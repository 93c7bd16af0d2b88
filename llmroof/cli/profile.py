"""``llmroof profile``: time real prefill and decode kernels on this machine and place them on the roofline."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from llmroof.errors import LlmroofError, interrupt_exit_code

if TYPE_CHECKING:
    from llmroof.results.records import ProfileRecord


class ProfileFormat(str, Enum):
    table = "table"
    json = "json"


def _ints(option: str, text: str) -> tuple[int, ...]:
    from llmroof.ranges import number_list

    return number_list(option, text, int)


def profile(
    model: str | None = typer.Option(
        None,
        "--model",
        "-m",
        help="Preset or config.json (default: llama-3.2-1b on a CPU, llama-3-8b on a GPU).",
    ),
    device: str = typer.Option("auto", "--device", "-d", help="auto, cpu, cuda or cuda:N."),
    batch: str | None = typer.Option(
        None,
        "--batch",
        "-b",
        help="Batch sizes, e.g. 1,8,32 (default: 1,4 on a CPU; 1,8,32 on a GPU).",
    ),
    prompt: int | None = typer.Option(
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
    nvml: bool = typer.Option(
        True, "--nvml/--no-nvml", help="On a GPU, sample DRAM bandwidth through NVML."
    ),
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
    pp: int = typer.Option(1, "--pp", min=1, help="Pipeline stages."),
    micro_batches: int = typer.Option(
        1, "--micro-batches", min=1, help="Prefill micro-batches in the pipeline."
    ),
    timeout: float = typer.Option(
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
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="Results folder (default: a new folder under ./llmroof-runs/).",
        file_okay=False,
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace an earlier run in the --out folder (kept by default)."
    ),
    fmt: ProfileFormat = typer.Option(
        ProfileFormat.table,
        "--format",
        "-f",
        help="table: progress and a summary; json: the results on stdout.",
    ),
) -> None:
    """Time real prefill and decode kernels with PyTorch on this machine and place them on the roofline."""
    from llmroof.runs.profile import prepare_profile, results_folder

    job = prepare_profile(
        model=model,
        device=device,
        batches=_ints("--batch", batch) if batch else None,
        prompt_len=prompt,
        contexts=_ints("--context", context) if context else None,
        dtype=dtype,
        kv_dtype=kv_dtype,
        layers=layers,
        threads=threads,
        cuda_graphs=cuda_graphs,
        per_op=per_op,
        nvml=nvml,
        nvml_window_ms=nvml_window_ms,
        warmup_ms=warmup_ms,
        rep_ms=rep_ms,
        hardware=hardware,
        tp=tp,
        pp=pp,
        micro_batches=micro_batches,
        timeout_s=timeout,
        tp_simulate=tp_simulate,
        repeat=repeat,
        refresh_ceilings=refresh_ceilings,
    )
    path = results_folder(out, force) / "results.json"  # checked before anything is measured
    record = _run(job, path, quiet=fmt is ProfileFormat.json)
    if record is None:  # a torchrun rank other than 0
        raise typer.Exit(0)
    for warning in calibration_warnings(record):
        print(f"llmroof: warning: {warning}", file=sys.stderr)
    report = write_run_report(path)
    if fmt is ProfileFormat.json:
        from llmroof.cli.render import print_json
        from llmroof.results.io import read_json

        print_json(
            read_json(path)
        )  # the file as written (a record's own writer orders keys by field)
    else:
        from llmroof.cli.render import console
        from llmroof.report.console.profile import print_summary

        print_summary(record, path, console())
        if report is not None:
            print(f"Report: {report}")


def calibration_warnings(record: ProfileRecord) -> list[str]:
    """A re-measured (corrupt or foreign) calibration cache, and drift beyond the calibration's spread."""
    from llmroof.measure.profile import drift_notes

    calibration = dict(record.calibration or {})
    return ([calibration["note"]] if calibration.get("note") else []) + drift_notes(calibration)


def write_run_report(path: Path) -> Path | None:
    """report.html beside the results; a report that cannot be drawn never costs the measurements."""
    from llmroof.report import report_file

    try:
        return report_file(path)
    except (LlmroofError, OSError) as exc:
        print(f"llmroof: warning: no report.html: {exc}", file=sys.stderr)
        return None


INTERRUPTED = {
    "single": "what was measured is in",
    "repeat": "the processes that finished are in",
    "parallel": "what rank 0 gathered is in",
}
"""What an interrupted run of each mode kept."""


def _run(job: Any, path: Path, quiet: bool) -> ProfileRecord | None:
    """Run the job with a progress bar (single device) or progress lines (repeated), on stderr; Ctrl-C (or
    SIGTERM, SIGHUP) says what was kept and exits 128 + the signal."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from llmroof.cli.render import user
    from llmroof.labels import plain_text
    from llmroof.runs.profile import run_profile

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(
        *columns, disable=quiet or job.mode != "single", transient=True, console=_stderr_console()
    ) as bar:
        task = bar.add_task("starting", total=job.steps)

        def progress(message: str) -> None:
            if job.mode == "repeat":
                if not quiet:
                    print(f"llmroof: {plain_text(message)}", file=sys.stderr, flush=True)
                return
            if not message.startswith("ceiling:"):
                bar.advance(task)
            bar.update(task, description=user(message))  # a model name may hold markup

        try:
            return run_profile(
                job,
                path,
                argv=["llmroof", *sys.argv[1:]],
                progress=progress,
                announce=lambda line: print(f"llmroof: {plain_text(line)}", file=sys.stderr),
            )
        except KeyboardInterrupt as exc:  # the record says "interrupted"
            if job.mode == "single" or (job.mode == "repeat" and path.exists()):
                write_run_report(path)
            print(f"llmroof: interrupted; {INTERRUPTED[job.mode]} {path}", file=sys.stderr)
            raise typer.Exit(130 if job.mode == "repeat" else interrupt_exit_code(exc)) from None


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.command("profile")(profile)
