"""What ``llmroof comm`` prints: its table (or JSON, or CSV), and the JSON record of ``--out``."""

from __future__ import annotations

from typing import Any

from llmroof.report.console.render import console, print_csv, print_json
from llmroof.results.records.comm import CommRecord
from llmroof.units import seconds, si


def print_result(record: CommRecord, fmt: str = "table") -> None:
    """The record as ``fmt``: table, json or csv (one row per collective and size) on stdout."""
    if fmt == "json":
        print_json(record.to_dict())
    elif fmt == "csv":
        print_csv(row.to_dict() for row in record.rows)
    else:
        print_table(record, console())


def print_table(record: CommRecord, out: Any) -> None:
    """Each collective and size on ``out``, a rich console, beside the analytic prediction."""
    from rich.table import Table

    table = Table(
        title=f"{record.ranks} ranks over {record.backend} (nccl-tests convention)",
        title_justify="left",
    )
    for column in ("op", "size", "time", "algbw", "busbw", "predicted", "measured/predicted"):
        table.add_column(column, justify="right")
    for row in record.rows:
        table.add_row(
            row.op,
            si(row.size_bytes, "B"),
            seconds(row.time_s),
            si(row.algbw_bytes_per_s, "B/s"),
            si(row.busbw_bytes_per_s, "B/s"),
            seconds(row.predicted_time_s),
            "-" if row.measured_to_predicted is None else f"{row.measured_to_predicted:.2f}",
        )
    out.print(table)
    if record.prediction:
        out.print(f"Prediction: {record.prediction}")
