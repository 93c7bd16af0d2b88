"""``llmroof profile``: time real prefill and decode kernels on this machine and place them on the roofline."""

from __future__ import annotations

import datetime
import sys
from enum import Enum
from pathlib import Path
from typing import Any

import typer

from llmroof.errors import LlmroofError, interrupt_exit_code, shorten
from llmroof.labels import config_label
from llmroof.units import percent, seconds, si


class ProfileFormat(str, Enum):
    table = "table"
    json = "json"


def _ints(option: str, text: str) -> tuple[int, ...]:
    from llmroof.ranges import number_list

    return number_list(option, text, int)


def profile(
    model: str | None = typer.Option(None, "--model", "-m", help="Preset or config.json (default: llama-3.2-1b on a CPU, llama-3-8b on a GPU)."),
    device: str = typer.Option("auto", "--device", "-d", help="auto, cpu, cuda or cuda:N."),
    batch: str | None = typer.Option(None, "--batch", "-b", help="Batch sizes, e.g. 1,8,32 (default: 1,4 on a CPU; 1,8,32 on a GPU)."),
    prompt: int | None = typer.Option(None, "--prompt", "-s", min=1, help="Prefill prompt tokens (default: 128 on a CPU; 512 on a GPU)."),
    context: str | None = typer.Option(None, "--context", "-c", help="Decode KV-cache lengths, e.g. 512,2048."),
    dtype: str = typer.Option("bf16", "--dtype", help="Compute, weight and KV dtype: fp32, bf16 or fp16."),
    kv_dtype: str | None = typer.Option(None, "--kv-dtype", help="KV-cache dtype (the torch kernels need it equal to --dtype)."),
    layers: int | None = typer.Option(None, "--layers", help="Decoder layers to instantiate; the rest is extrapolated (default: 2 on a CPU; all on a GPU)."),
    threads: int | None = typer.Option(None, "--threads", min=1, help="CPU threads for torch."),
    cuda_graphs: bool = typer.Option(False, "--cuda-graphs", help="Capture decode steps in CUDA graphs (GPU)."),
    per_op: bool = typer.Option(True, "--per-op/--no-per-op", help="Also time every op of one layer."),
    nvml: bool = typer.Option(True, "--nvml/--no-nvml", help="On a GPU, sample DRAM bandwidth through NVML."),
    nvml_window_ms: float = typer.Option(300.0, "--nvml-window-ms", min=100.0,
                                         help="Steady replay of each configuration while NVML samples."),
    warmup_ms: float = typer.Option(25.0, "--warmup-ms", min=0.0, help="Warm-up budget per timed kernel."),
    rep_ms: float = typer.Option(100.0, "--rep-ms", min=1.0, help="Timing budget per timed kernel."),
    hardware: str | None = typer.Option(None, "--hardware", "-H", help="Datasheet entry for the GPU (default: matched by name)."),
    tp: int = typer.Option(1, "--tp", min=1, help="Tensor-parallel ranks (one process each; gloo on CPUs, NCCL on GPUs)."),
    pp: int = typer.Option(1, "--pp", min=1, help="Pipeline stages."),
    micro_batches: int = typer.Option(1, "--micro-batches", min=1, help="Prefill micro-batches in the pipeline."),
    timeout: float = typer.Option(120.0, "--timeout", min=1.0, help="Seconds a rank waits for the others before failing."),
    tp_simulate: int = typer.Option(1, "--tp-simulate", min=1,
                                    help="Time one rank's shard of this TP degree here, plus the analytic comm cost."),
    repeat: int = typer.Option(1, "--repeat", min=1,
                               help="Run the configurations in N fresh processes, one after another, and keep "
                                    "every process's samples in one results file (the run-to-run spread)."),
    refresh_ceilings: bool = typer.Option(False, "--refresh-ceilings",
                                          help="Calibrate the machine's ceilings again (see `llmroof ceilings`)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Results folder (default: a new folder under ./llmroof-runs/).", file_okay=False),
    force: bool = typer.Option(False, "--force", help="Replace an earlier run in the --out folder (kept by default)."),
    fmt: ProfileFormat = typer.Option(ProfileFormat.table, "--format", "-f", help="table: progress and a summary; json: the results on stdout."),
) -> None:
    """Time real prefill and decode kernels with PyTorch on this machine and place them on the roofline."""
    from llmroof.runs.profile import prepare_profile

    job = prepare_profile(
        model=model, device=device, batches=_ints("--batch", batch) if batch else None, prompt_len=prompt,
        contexts=_ints("--context", context) if context else None, dtype=dtype, kv_dtype=kv_dtype, layers=layers,
        threads=threads, cuda_graphs=cuda_graphs, per_op=per_op, nvml=nvml, nvml_window_ms=nvml_window_ms,
        warmup_ms=warmup_ms, rep_ms=rep_ms, hardware=hardware, tp=tp, pp=pp, micro_batches=micro_batches,
        timeout_s=timeout, tp_simulate=tp_simulate, repeat=repeat, refresh_ceilings=refresh_ceilings)
    path = results_folder(out, force) / "results.json"
    record = _run(job, path, quiet=fmt is ProfileFormat.json)
    if record is None:  # a torchrun rank other than 0
        raise typer.Exit(0)
    for warning in calibration_warnings(record):
        print(f"llmroof: warning: {warning}", file=sys.stderr)
    report = write_run_report(path)
    if fmt is ProfileFormat.json:
        from llmroof.cli.render import print_json

        print_json(record)
    else:
        print_summary(record, path)
        if report is not None:
            print(f"Report: {report}")


def results_folder(out: Path | None, force: bool) -> Path:
    """The folder this run writes to, checked before anything is measured: writable, and not holding an earlier
    run unless ``force`` (an earlier run is kept: ``--out`` over it is refused). The default is a new
    time-stamped folder under ./llmroof-runs/ (numbered when two runs start in the same second)."""
    from llmroof.results.io import check_writable

    if out is None:
        stamp = Path("llmroof-runs") / datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        folder, n = stamp, 1
        while folder.exists():
            n += 1
            folder = stamp.with_name(f"{stamp.name}-{n}")
    else:
        folder = out
        if folder.exists() and not folder.is_dir():
            raise LlmroofError(f"--out {shorten(str(folder))}: not a folder (profile writes results.json and "
                               "report.html into a folder)", "name a new or existing folder")
        earlier = folder / "results.json"
        if earlier.exists() and not force:
            raise LlmroofError(f"--out {shorten(str(folder))} holds an earlier run ({_describe_run(earlier)})",
                               "choose another --out, or pass --force to replace it")
    check_writable(folder, folder=True)
    return folder


def _describe_run(path: Path) -> str:
    try:
        from llmroof.results.io import read_json

        data = read_json(path)
        return f"status {data.get('status', '?')}, {(data.get('environment') or {}).get('time_utc', 'time unknown')}"
    except (LlmroofError, AttributeError):
        return "a results.json llmroof cannot read"


def calibration_warnings(record: dict[str, Any]) -> list[str]:
    """A re-measured (corrupt or foreign) calibration cache, and drift beyond the calibration's spread."""
    from llmroof.measure.profile import drift_notes

    calibration = record.get("calibration") or {}
    return ([calibration["note"]] if calibration.get("note") else []) + drift_notes(calibration)


def write_run_report(path: Path) -> Path | None:
    """report.html beside the results; a report that cannot be drawn never costs the measurements."""
    from llmroof.report import report_file

    try:
        return report_file(path)
    except (LlmroofError, OSError) as exc:
        print(f"llmroof: warning: no report.html: {exc}", file=sys.stderr)
        return None


INTERRUPTED = {"single": "what was measured is in", "repeat": "the processes that finished are in",
               "parallel": "what rank 0 gathered is in"}
"""What an interrupted run of each mode kept."""


def _run(job: Any, path: Path, quiet: bool) -> dict[str, Any] | None:
    """Run the job with a progress bar (single device) or progress lines (repeated), on stderr; Ctrl-C (or
    SIGTERM, SIGHUP) says what was kept and exits 128 + the signal."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from llmroof.cli.render import user
    from llmroof.labels import plain_text
    from llmroof.runs.profile import run_profile

    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TimeElapsedColumn())
    with Progress(*columns, disable=quiet or job.mode != "single", transient=True, console=_stderr_console()) as bar:
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
            return run_profile(job, path, argv=["llmroof", *sys.argv[1:]], progress=progress,
                               announce=lambda line: print(f"llmroof: {plain_text(line)}", file=sys.stderr))
        except KeyboardInterrupt as exc:  # the record says "interrupted"
            if job.mode == "single" or job.mode == "repeat" and path.exists():
                write_run_report(path)
            print(f"llmroof: interrupted; {INTERRUPTED[job.mode]} {path}", file=sys.stderr)
            raise typer.Exit(130 if job.mode == "repeat" else interrupt_exit_code(exc)) from None


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def print_summary(record: dict[str, Any], path: Path) -> None:
    from rich.table import Table

    from llmroof.cli.render import console, user

    out = console()
    if record.get("parallel"):
        print_parallel_summary(record, path, out)
        return
    wl, ceil = record["workload"], record["ceilings"]
    dev = record["device"]
    out.print(f"[bold]{user(record['model']['name'])}[/] on [bold]{user(dev['name'])}[/] ({dev['kind']}), {wl['dtype']}, "
              f"{wl['layers_instantiated']} of {wl['layers_total']} layers instantiated"
              + (" (full depth extrapolated)" if wl["extrapolated"] else ""))
    caches = ", ".join(f"{level} {si(bw, 'B/s')}" for level, bw in (ceil.get("cache_bandwidth_bytes_per_s") or {}).items())
    out.print(f"Calibrated ceilings: memory {si(ceil['measured_bandwidth_bytes_per_s'], 'B/s')}"
              + (f" (best of any pattern, {ceil['memory_bandwidth_pattern']})" if "memory_bandwidth_pattern" in ceil else "")
              + f", copy {si(ceil['measured_copy_bandwidth_bytes_per_s'], 'B/s')} (read+write), compute "
              f"{si(ceil['measured_flops_per_s'], 'FLOP/s')} ({ceil['compute_dtype']})" + (f"; caches {caches}" if caches else ""))
    calibration = record.get("calibration")
    if calibration:
        drift = [f"{when} {d['drift_fraction']:+.0%}" for when, d in (calibration.get("drift") or {}).items()
                 if d and d.get("drift_fraction") is not None]
        out.print(f"Calibration: {calibration['status']} ({calibration['measured_at']}, {user(calibration['cache_path'])})"
                  + (f"; drift {', '.join(drift)}" if drift else ""))
    sheet = record["roofline"]["datasheet"]
    if sheet:
        out.print(f"Datasheet: {si(sheet['bandwidth_bytes_per_s'], 'B/s')}, {si(sheet['peak_flops_per_s'], 'FLOP/s')} "
                  f"({sheet['label']})")
    else:
        out.print("No datasheet figures for this device: the measured ceilings are the roofline.")
    out.print(f"NVML: {record.get('nvml', {}).get('status', 'off')}")
    configs = [c for c in record["configs"] if c.get("status") == "ok"]
    decode = Table(title="Decode (one step: one new token per sequence)", title_justify="left")
    for column in ("batch", "context", "TPOT", "roofline TPOT", "eager ops", "% of roofline", "tokens/s",
                   "achieved BW", "bytes/token", "bound"):
        decode.add_column(column, justify="right")
    if sheet:
        decode.add_column("% of datasheet", justify="right")
    sampled = any(c.get("nvml", {}).get("measured_bytes_per_token") for c in configs)
    if sampled:
        decode.add_column("NVML bytes/token", justify="right")
        decode.add_column("NVML / analytic", justify="right")
    for c in (c for c in configs if c["phase"] == "decode"):
        row = [str(c["batch"]), str(c["context_len"]), seconds(c["tpot_s"]), seconds(c["roofline_time_s"]),
               seconds(c.get("eager_roofline_time_s")), percent(c["roofline_fraction"]), si(c["tokens_per_s"]),
               si(c["achieved_bytes_per_s"], "B/s"),
               si(c["bytes_per_token"], "B"), c["bound_measured"]]
        if sheet:
            row.append(percent(c.get("datasheet_roofline_fraction")))
        if sampled:
            nv = c.get("nvml", {})
            ratio = nv.get("measured_to_analytic_bytes_ratio")
            row += [si(nv.get("measured_bytes_per_token"), "B"), "-" if ratio is None else f"{ratio:.2f}"]
        decode.add_row(*row)
    out.print(decode)
    prefill = Table(title="Prefill", title_justify="left")
    for column in ("batch", "prompt", "TTFT", "roofline TTFT", "eager ops", "% of roofline", "tokens/s",
                   "achieved FLOP/s"):
        prefill.add_column(column, justify="right")
    for c in (c for c in configs if c["phase"] == "prefill"):
        prefill.add_row(str(c["batch"]), str(c["prompt_len"]), seconds(c["ttft_s"]), seconds(c["roofline_time_s"]),
                        seconds(c.get("eager_roofline_time_s")), percent(c["roofline_fraction"]), si(c["tokens_per_s"]),
                        si(c["achieved_flops_per_s"], "FLOP/s"))
    out.print(prefill)
    out.print("Roofline: the minimum-traffic (fused) bound; eager ops: the bound of the one-kernel-per-op set the "
              "kernels timed here run (docs/analytic-model.md)")
    with_ops = [c for c in configs if c.get("ops")]
    if with_ops:
        first = next((c for c in with_ops if c["phase"] == "decode"), with_ops[0])
        label = config_label(first["phase"], first["batch"], first.get("prompt_len", first.get("context_len")))
        ops = Table(title=f"Per-op efficiency ({label}, one layer)", title_justify="left")
        for column in ("op", "measured", "roofline", "% of roofline", "roof", "achieved BW", "FLOP/B", "bound"):
            ops.add_column(column, justify="left" if column == "op" else "right")
        for op in first["ops"]:
            if "median_s" not in op:
                continue
            ops.add_row(op["name"], seconds(op["median_s"]), seconds(op.get("roof_time_s", op["time_s"])),
                        percent(op["roofline_fraction"]), op.get("roof_level", "DRAM"),
                        si(op["achieved_bytes_per_s"], "B/s"), f"{op['intensity']:.1f}", op["bound"])
        out.print(ops)
    for c in record["configs"]:
        if c.get("status") != "ok":
            out.print(f"[yellow]{c['phase']} b={c['batch']}: {c['status']}: {c.get('reason', '')}[/]")
    if record.get("repeat"):
        print_repeat_spread(record, out)
    for row in record.get("crossover", {}).get("decode", []):
        if not row["batches_measured"]:
            continue  # every batch at this context was skipped or failed (listed above)
        measured = row["measured_batch"]
        analytic = row["analytic_batch"]
        reached = f">{max(row['batches_measured'])} (not reached)" if measured is None else str(measured)
        out.print(f"Decode at context {row['context_len']}: compute-bound from batch {reached} measured, "
                  f"{'never' if analytic is None else analytic} on the roofline")
    for note in record.get("notes", []):
        out.print(f"[yellow]note:[/] {user(note)}")
    out.print(f"Results: {user(path)}")


SPREAD_METRICS = (("tpot_s", "TPOT", seconds), ("ttft_s", "TTFT", seconds), ("tokens_per_s", "tokens/s", si),
                  ("achieved_bytes_per_s", "achieved BW", lambda x: si(x, "B/s")),
                  ("roofline_fraction", "% of roofline", percent))


def print_repeat_spread(record: dict[str, Any], out: Any) -> None:
    """Run-to-run spread of a ``--repeat`` run: per configuration and metric, the median over processes, min,
    max and CV; the tables above show the median process of each configuration."""
    from rich.table import Table

    repeat = record["repeat"]
    done, asked = repeat["processes_finished"], repeat["processes_requested"]
    table = Table(title=f"Run-to-run spread over {done} processes" + (f" (of {asked})" if done < asked else "")
                  + ": the tables above show each configuration's median process", title_justify="left")
    for column in ("config", "metric", "median", "min", "max", "CV", "processes"):
        table.add_column(column, justify="left" if column in ("config", "metric") else "right")
    for c in record["configs"]:
        metrics = (c.get("repeat") or {}).get("metrics") or {}
        length = f"s={c['prompt_len']}" if c["phase"] == "prefill" else f"c={c['context_len']}"
        for name, label, show in SPREAD_METRICS:
            if name in metrics:
                m = metrics[name]
                table.add_row(f"{c['phase']} b={c['batch']} {length}", label, show(m["median"]), show(m["min"]),
                              show(m["max"]), percent(m["cv"]), str(m["n"]))
    out.print(table)
    ceilings = repeat.get("ceilings", {}).get("measured_bandwidth_bytes_per_s")
    if ceilings and ceilings["n"] > 1:
        out.print(f"Measured read ceiling over the processes: {si(ceilings['min'], 'B/s')} to "
                  f"{si(ceilings['max'], 'B/s')} (CV {percent(ceilings['cv'])})")


def print_parallel_summary(record: dict[str, Any], path: Path, out: Any) -> None:
    from rich.table import Table

    from llmroof.cli.render import user

    par = record["parallel"]
    link = par.get("link") or {}
    wl = record.get("workload") or {}
    out.print(f"[bold]{user(record['model']['name'])}[/] on {par['world_size']} ranks (tp {par['tp']} x pp {par['pp']}, "
              f"{par['backend']}), stages of {par['stage_layers']} layers"
              + (f" ({par.get('stage_layers_instantiated')} instantiated, full depth extrapolated)"
                 if wl.get("extrapolated") else ""))
    if link:
        out.print(f"Measured link: {si(link['bandwidth_bytes_per_s'], 'B/s')}, {seconds(link['latency_s'])} per step "
                  f"({link['method']})")
    table = Table(title="Measured vs analytic (analytic on the measured ceilings and link)", title_justify="left")
    for column in ("phase", "batch", "len", "time", "analytic", "% of roofline", "comm share", "analytic comm",
                   "bubble", "analytic bubble", "stage times"):
        table.add_column(column, justify="right")
    for c in record["configs"]:
        if c.get("status") != "ok":
            continue
        measured, analytic = c["measured"], c["analytic"]
        length = c.get("prompt_len", c.get("context_len"))
        table.add_row(c["phase"], str(c["batch"]), str(length), seconds(c["time_s"]), seconds(analytic["time_s"]),
                      percent(c["roofline_fraction"]), percent(measured["comm_share"]),
                      percent(analytic["comm_time_s"] / analytic["time_s"] if analytic["time_s"] else None),
                      percent(measured["bubble_fraction"]), percent(analytic["pass_bubble_fraction"]),
                      " / ".join(seconds(t) for t in measured["stage_times_s"]))
    out.print(table)
    out.print(f"Results: {user(path)} (per-rank rows in configs[*].ranks)")


def register(app: typer.Typer) -> None:
    app.command("profile")(profile)
