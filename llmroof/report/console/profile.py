"""What ``llmroof profile`` shows: its progress on stderr, the report beside the results, and the terminal
summary of a run (ceilings, the decode and prefill tables, per-op efficiency, the run-to-run spread of a
``--repeat`` run, and the parallel table of a ``--tp``/``--pp`` run), or its JSON."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from llmroof.report.console.render import user
from llmroof.results.records.profile import ConfigResult, ProfileRecord
from llmroof.units import percent, seconds, si

SPREAD_METRICS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("tpot_s", "TPOT", seconds),
    ("ttft_s", "TTFT", seconds),
    ("tokens_per_s", "tokens/s", si),
    ("achieved_bytes_per_s", "achieved BW", lambda x: si(x, "B/s")),
    ("roofline_fraction", "% of roofline", percent),
)


INTERRUPTED = {
    "single": "what was measured is in",
    "repeat": "the processes that finished are in",
    "parallel": "what rank 0 gathered is in",
}
"""What an interrupted run of each mode kept."""


def print_result(record: ProfileRecord, path: Path, fmt: str = "table") -> None:
    """The run written to ``path``: report.html beside it, then its JSON (the file as written) or the
    summary on stdout."""
    report = write_run_report(path)
    if fmt == "json":
        from llmroof.report.console.render import print_json
        from llmroof.results.io import read_json

        print_json(read_json(path))  # a record's own writer orders keys by field
        return
    from llmroof.report.console.render import console

    print_summary(record, path, console())
    if report is not None:
        print(f"Report: {report}")


def write_run_report(path: Path) -> Path | None:
    """report.html beside the results; a report that cannot be drawn never costs the measurements."""
    from llmroof.errors import LlmroofError
    from llmroof.report import report_file

    try:
        return report_file(path)
    except (LlmroofError, OSError) as exc:
        print(f"llmroof: warning: no report.html: {exc}", file=sys.stderr)
        return None


def print_interrupted(mode: str, path: Path) -> None:
    """After Ctrl-C (or SIGTERM, SIGHUP): the report of what was kept, and where it is."""
    if mode == "single" or (mode == "repeat" and path.exists()):
        write_run_report(path)
    print(f"llmroof: interrupted; {INTERRUPTED[mode]} {path}", file=sys.stderr)


@contextlib.contextmanager
def progress_view(mode: str, steps: int, *, quiet: bool) -> Iterator[Callable[[str], None]]:
    """The progress of a run on stderr: a bar of ``steps`` on one device, a line per message of a
    repeated run (nothing when ``quiet``); yields what hears each message."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from llmroof.labels import plain_text

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    disable = quiet or mode != "single"
    with Progress(*columns, disable=disable, transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task("starting", total=steps)

        def progress(message: str) -> None:
            if mode == "repeat":
                if not quiet:
                    print(f"llmroof: {plain_text(message)}", file=sys.stderr, flush=True)
                return
            if not message.startswith("ceiling:"):
                bar.advance(task)
            bar.update(task, description=user(message))  # a model name may hold markup

        yield progress


def print_summary(record: ProfileRecord, path: Path, out: Any) -> None:
    """The summary of a finished (or interrupted) run on ``out``, a rich console."""
    if record.parallel:
        print_parallel_summary(record, path, out)
        return
    _print_header(record, out)
    configs = [c for c in record.configs if c.ok]
    sheet = record.roofline.datasheet if record.roofline is not None else None
    out.print(_decode_table(configs, with_datasheet=sheet is not None))
    out.print(_prefill_table(configs))
    out.print(
        "Roofline: the minimum-traffic (fused) bound; eager ops: the bound of the one-kernel-per-op set the "
        "kernels timed here run (docs/analytic-model.md)"
    )
    with_ops = [c for c in configs if c.ops]
    if with_ops:
        out.print(_op_table(next((c for c in with_ops if c.phase == "decode"), with_ops[0])))
    for c in record.configs:
        if not c.ok:
            out.print(f"[yellow]{c.phase} b={c.batch}: {c.status}: {c.reason or ''}[/]")
    if record.repeat:
        print_repeat_spread(record, out)
    for row in (record.crossover.decode or ()) if record.crossover else ():
        if not row.batches_measured:
            continue  # every batch at this context was skipped or failed (listed above)
        measured, analytic = row.measured_batch, row.analytic_batch
        reached = (
            f">{max(row.batches_measured)} (not reached)" if measured is None else str(measured)
        )
        out.print(
            f"Decode at context {row.context_len}: compute-bound from batch {reached} measured, "
            f"{'never' if analytic is None else analytic} on the roofline"
        )
    for note in record.notes or ():
        out.print(f"[yellow]note:[/] {user(note)}")
    out.print(f"Results: {user(path)}")


def _print_header(record: ProfileRecord, out: Any) -> None:
    """Model, device, ceilings, calibration, datasheet and NVML lines."""
    wl, ceil, dev = record.workload, record.ceilings, record.device
    out.print(
        f"[bold]{user(record.model.name)}[/] on [bold]{user(dev.name)}[/] ({dev.kind}), {wl.dtype}, "
        f"{wl.layers_instantiated} of {wl.layers_total} layers instantiated"
        + (" (full depth extrapolated)" if wl.extrapolated else "")
    )
    if ceil is not None:
        caches = ", ".join(
            f"{level} {si(bw, 'B/s')}"
            for level, bw in (ceil.cache_bandwidth_bytes_per_s or {}).items()
        )
        pattern = ceil.memory_bandwidth_pattern
        out.print(
            f"Calibrated ceilings: memory {si(ceil.measured_bandwidth_bytes_per_s, 'B/s')}"
            + (f" (best of any pattern, {pattern})" if pattern is not None else "")
            + f", copy {si(ceil.measured_copy_bandwidth_bytes_per_s, 'B/s')} (read+write), compute "
            f"{si(ceil.measured_flops_per_s, 'FLOP/s')} ({ceil.compute_dtype})"
            + (f"; caches {caches}" if caches else "")
        )
    calibration = record.calibration
    if calibration:
        drift = [
            f"{when} {d.drift_fraction:+.0%}"
            for when, d in calibration.drift_checks()
            if d.drift_fraction is not None
        ]
        out.print(
            f"Calibration: {calibration.status} ({calibration.measured_at}, "
            f"{user(calibration.cache_path or '')})"
            + (f"; drift {', '.join(drift)}" if drift else "")
        )
    sheet = record.roofline.datasheet if record.roofline is not None else None
    if sheet:
        out.print(
            f"Datasheet: {si(sheet.bandwidth_bytes_per_s, 'B/s')}, {si(sheet.peak_flops_per_s, 'FLOP/s')} "
            f"({sheet.label})"
        )
    else:
        out.print("No datasheet figures for this device: the measured ceilings are the roofline.")
    out.print(f"NVML: {record.nvml.status}")


def _decode_table(configs: list[ConfigResult], *, with_datasheet: bool) -> Any:
    from rich.table import Table

    table = Table(title="Decode (one step: one new token per sequence)", title_justify="left")
    for column in (
        "batch",
        "context",
        "TPOT",
        "roofline TPOT",
        "eager ops",
        "% of roofline",
        "tokens/s",
        "achieved BW",
        "bytes/token",
        "bound",
    ):
        table.add_column(column, justify="right")
    if with_datasheet:
        table.add_column("% of datasheet", justify="right")
    sampled = any(c.nvml and c.nvml.measured_bytes_per_token for c in configs)
    if sampled:
        table.add_column("NVML bytes/token", justify="right")
        table.add_column("NVML / analytic", justify="right")
    for c in (c for c in configs if c.phase == "decode"):
        row = [
            str(c.batch),
            str(c.context_len),
            seconds(c.tpot_s),
            seconds(c.roofline_time_s),
            seconds(c.eager_roofline_time_s),
            percent(c.roofline_fraction),
            si(c.tokens_per_s),
            si(c.achieved_bytes_per_s, "B/s"),
            si(c.bytes_per_token, "B"),
            c.bound_measured,
        ]
        if with_datasheet:
            row.append(percent(c.datasheet_roofline_fraction))
        if sampled:
            ratio = c.nvml.measured_to_analytic_bytes_ratio if c.nvml else None
            row += [
                si(c.nvml.measured_bytes_per_token if c.nvml else None, "B"),
                "-" if ratio is None else f"{ratio:.2f}",
            ]
        table.add_row(*row)
    return table


def _prefill_table(configs: list[ConfigResult]) -> Any:
    from rich.table import Table

    table = Table(title="Prefill", title_justify="left")
    for column in (
        "batch",
        "prompt",
        "TTFT",
        "roofline TTFT",
        "eager ops",
        "% of roofline",
        "tokens/s",
        "achieved FLOP/s",
    ):
        table.add_column(column, justify="right")
    for c in (c for c in configs if c.phase == "prefill"):
        table.add_row(
            str(c.batch),
            str(c.prompt_len),
            seconds(c.ttft_s),
            seconds(c.roofline_time_s),
            seconds(c.eager_roofline_time_s),
            percent(c.roofline_fraction),
            si(c.tokens_per_s),
            si(c.achieved_flops_per_s, "FLOP/s"),
        )
    return table


def _op_table(config: ConfigResult) -> Any:
    """Per-op efficiency of one configuration's layer (the ops that were timed)."""
    from rich.table import Table

    table = Table(title=f"Per-op efficiency ({config.label}, one layer)", title_justify="left")
    for column in (
        "op",
        "measured",
        "roofline",
        "% of roofline",
        "roof",
        "achieved BW",
        "FLOP/B",
        "bound",
    ):
        table.add_column(column, justify="left" if column == "op" else "right")
    for op in config.ops or ():
        if op.median_s is None:
            continue
        table.add_row(
            op.name,
            seconds(op.median_s),
            seconds(op.time_s if op.roof_time_s is None else op.roof_time_s),
            percent(op.roofline_fraction),
            op.roof_level or "DRAM",
            si(op.achieved_bytes_per_s, "B/s"),
            f"{op.intensity:.1f}",
            op.bound,
        )
    return table


def print_repeat_spread(record: ProfileRecord, out: Any) -> None:
    """Run-to-run spread of a ``--repeat`` run: per configuration and metric, the median over processes, min,
    max and CV; the tables above show the median process of each configuration."""
    from rich.table import Table

    repeat = record.repeat
    if repeat is None:
        return
    done, asked = repeat.processes_finished, repeat.processes_requested
    table = Table(
        title=f"Run-to-run spread over {done} processes"
        + (f" (of {asked})" if done < asked else "")
        + ": the tables above show each configuration's median process",
        title_justify="left",
    )
    for column in ("config", "metric", "median", "min", "max", "CV", "processes"):
        table.add_column(column, justify="left" if column in ("config", "metric") else "right")
    for c in record.configs:
        metrics = (c.repeat.metrics if c.repeat is not None else None) or {}
        length = f"s={c.prompt_len}" if c.phase == "prefill" else f"c={c.context_len}"
        for name, label, show in SPREAD_METRICS:
            if name in metrics:
                m = metrics[name]
                table.add_row(
                    f"{c.phase} b={c.batch} {length}",
                    label,
                    show(m.median),
                    show(m.min),
                    show(m.max),
                    percent(m.cv),
                    str(m.n),
                )
    out.print(table)
    ceilings = repeat.ceilings.get("measured_bandwidth_bytes_per_s")
    if ceilings is not None and ceilings.n > 1:
        out.print(
            f"Measured read ceiling over the processes: {si(ceilings.min, 'B/s')} to "
            f"{si(ceilings.max, 'B/s')} (CV {percent(ceilings.cv)})"
        )


def print_parallel_summary(record: ProfileRecord, path: Path, out: Any) -> None:
    """A ``--tp``/``--pp`` run: the measured link and each configuration measured against the analytic one."""
    from rich.table import Table

    par = record.parallel
    if par is None:
        return
    built = None if par.stage_layers_instantiated is None else list(par.stage_layers_instantiated)
    out.print(
        f"[bold]{user(record.model.name)}[/] on {par.world_size} ranks (tp {par.tp} x pp {par.pp}, "
        f"{par.backend}), stages of {list(par.stage_layers)} layers"
        + (
            f" ({built} instantiated, full depth extrapolated)"
            if record.workload.extrapolated
            else ""
        )
    )
    link = par.link
    if link:
        out.print(
            f"Measured link: {si(link.bandwidth_bytes_per_s, 'B/s')}, {seconds(link.latency_s)} per step "
            f"({link.method})"
        )
    table = Table(
        title="Measured vs analytic (analytic on the measured ceilings and link)",
        title_justify="left",
    )
    for column in (
        "phase",
        "batch",
        "len",
        "time",
        "analytic",
        "% of roofline",
        "comm share",
        "analytic comm",
        "bubble",
        "analytic bubble",
        "stage times",
    ):
        table.add_column(column, justify="right")
    for c in record.configs:
        if not c.ok or c.measured is None or c.analytic is None:
            continue
        measured, analytic = c.measured, c.analytic
        length = c.prompt_len if c.prompt_len is not None else c.context_len
        table.add_row(
            c.phase,
            str(c.batch),
            str(length),
            seconds(c.time_s),
            seconds(analytic.time_s),
            percent(c.roofline_fraction),
            percent(measured.comm_share),
            percent(analytic.comm_time_s / analytic.time_s if analytic.time_s else None),
            percent(measured.bubble_fraction),
            percent(analytic.pass_bubble_fraction),
            " / ".join(seconds(t) for t in measured.stage_times_s),
        )
    out.print(table)
    out.print(f"Results: {user(path)} (per-rank rows in configs[*].ranks)")
