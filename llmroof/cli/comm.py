"""``llmroof comm``: measure all-reduce, all-gather and send/recv across message sizes."""

from __future__ import annotations

import sys
import tempfile
from enum import Enum
from pathlib import Path
from typing import Any

import typer

from llmroof.errors import LlmroofError
from llmroof.units import seconds, si


class CommFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


def comm(
    ranks: int = typer.Option(2, "--ranks", "-n", min=2, help="Processes (one per GPU, or CPU processes over gloo)."),
    sizes: str = typer.Option("4K..64M", "--sizes", help="Message sizes: a doubling range (4K..256M) or a list."),
    device: str = typer.Option("auto", "--device", "-d", help="auto, cpu or cuda."),
    iterations: int = typer.Option(20, "--iterations", min=1, help="Timed calls per op and size."),
    hardware: str | None = typer.Option(None, "--hardware", "-H",
                                        help="Predict with this catalog device's link (default: fitted to the run)."),
    timeout: float = typer.Option(120.0, "--timeout", min=1.0, help="Seconds before a stuck rank fails the run."),
    fmt: CommFormat = typer.Option(CommFormat.table, "--format", "-f", help="Output format."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Also write the JSON record here.", dir_okay=False),
) -> None:
    """Bandwidth of the collectives tensor and pipeline parallelism use, in the nccl-tests convention."""
    import os

    from llmroof.analytic import comm as analytic_comm
    from llmroof.measure import comm as measure, distributed
    from llmroof.results.io import read_json, write_json_atomic
    from llmroof.results.save import saver

    size_list = measure.parse_sizes(sizes)
    import torch

    if device not in ("auto", "cpu", "cuda"):
        raise LlmroofError(f"--device {device!r}: expected auto, cpu or cuda")
    kind = "cuda" if (device == "cuda" or (device == "auto" and torch.cuda.is_available())) else "cpu"
    if not distributed.under_torchrun():  # more ranks than the machine runs would never finish starting
        distributed.check_local_ranks(ranks, kind, torch.cuda.device_count() if kind == "cuda" else 0)
    if out is not None:  # before measuring: a folder that cannot be written would lose the run
        from llmroof.results.io import check_writable

        check_writable(out)
    with tempfile.TemporaryDirectory() as tmp:
        raw_path = Path(tmp) / "comm.json"
        if distributed.under_torchrun():
            ranks = int(os.environ["WORLD_SIZE"])
            measure.rank_main(int(os.environ["RANK"]), ranks, size_list, kind, iterations, timeout,
                              saver(raw_path))
            if int(os.environ["RANK"]) != 0:
                return
        else:
            print(f"llmroof: starting {ranks} ranks ({'NCCL' if kind == 'cuda' else 'gloo'})...", file=sys.stderr)
            save = saver(raw_path)
            distributed.launch(ranks, measure.rank_main, (size_list, kind, iterations, timeout, save),
                               timeout_s=timeout, error_file=str(Path(tmp) / "rank-error"))
        raw = read_json(raw_path, measure.SCHEMA)
    if hardware:
        from llmroof.specs.hardware import get_hardware

        spec = get_hardware(hardware)
        link = analytic_comm.link_for(spec, ranks)
        label = f"{spec.name}: {link.name}, {si(link.bandwidth_bytes_per_s, 'B/s')}, {seconds(link.latency_s)}"
    else:
        link = measure.fitted_link(raw["per_rank"], ranks)
        label = "ring model least-squares fitted to this run's all-reduces at every size"
    rows = measure.summarize_rows(raw["per_rank"], ranks, link, label)
    record = {"schema": measure.SCHEMA, "ranks": ranks, "backend": raw["backend"], "iterations": iterations,
              "convention": "nccl-tests: algbw = size / time; all_reduce busbw = algbw x 2(n-1)/n; "
                            "all_gather busbw = algbw x (n-1)/n; send_recv busbw = algbw",
              "prediction": label if link else None, "rows": rows, "per_rank": raw["per_rank"]}
    if out is not None:
        write_json_atomic(out, record)
    if fmt is CommFormat.json:
        from llmroof.cli.render import print_json

        print_json(record)
    elif fmt is CommFormat.csv:
        from llmroof.cli.render import print_csv

        print_csv(rows)
    else:
        _print_table(record)


def _print_table(record: dict[str, Any]) -> None:
    from rich.table import Table

    from llmroof.cli.render import console

    table = Table(title=f"{record['ranks']} ranks over {record['backend']} (nccl-tests convention)", title_justify="left")
    for column in ("op", "size", "time", "algbw", "busbw", "predicted", "measured/predicted"):
        table.add_column(column, justify="right")
    for row in record["rows"]:
        table.add_row(row["op"], si(row["size_bytes"], "B"), seconds(row["time_s"]), si(row["algbw_bytes_per_s"], "B/s"),
                      si(row["busbw_bytes_per_s"], "B/s"), seconds(row.get("predicted_time_s")),
                      "-" if "measured_to_predicted" not in row else f"{row['measured_to_predicted']:.2f}")
    out = console()
    out.print(table)
    if record["prediction"]:
        out.print(f"Prediction: {record['prediction']}")


def register(app: typer.Typer) -> None:
    app.command("comm")(comm)
