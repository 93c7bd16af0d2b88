"""``llmroof comm``: start the ranks (or join torchrun's), time the collectives, return the
``llmroof.comm/1`` record."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from llmroof.analytic import comm as analytic_comm
from llmroof.measure import comm as measure
from llmroof.results.records import CommRecord
from llmroof.results.records.comm import CommRow, RankTime


def run_comm(
    *,
    ranks: int = 2,
    sizes: str = "4K..64M",
    device: str = "auto",
    iterations: int = 20,
    hardware: str | None = None,
    timeout_s: float = 120.0,
    out: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> CommRecord | None:
    """Time all-reduce, all-gather and send/recv at every size of ``sizes`` (``4K..64M`` doubles; ``4K,1M`` is a
    list) on ``ranks`` processes, beside the ring model (``hardware``'s link, or one fitted to the run).

    Under torchrun each process is one rank (``ranks`` is the world size); ranks other than 0 return None.
    ``progress`` gets a line before the ranks start. With ``out``, the record is written there (its folder
    checked before anything is measured)."""
    import torch

    from llmroof.measure import distributed
    from llmroof.results.io import check_writable, read_json, write_json_atomic
    from llmroof.results.save import saver

    if out is not None:  # a folder that cannot be written would lose the run
        check_writable(out)
    size_list = measure.parse_sizes(sizes)
    kind = measure.device_kind(device, ranks, torch, distributed.under_torchrun())
    spec = None
    if hardware:
        from llmroof.specs.hardware import get_hardware

        spec = get_hardware(hardware)
    with tempfile.TemporaryDirectory() as tmp:
        raw_path = Path(tmp) / "comm.json"
        if distributed.under_torchrun():
            rank = int(os.environ["RANK"])
            measure.rank_main(
                rank,
                int(os.environ["WORLD_SIZE"]),
                size_list,
                kind,
                iterations,
                timeout_s,
                saver(raw_path),
            )
            if rank != 0:
                return None
        else:
            progress(f"starting {ranks} ranks ({'NCCL' if kind == 'cuda' else 'gloo'})...")
            distributed.launch(
                ranks,
                measure.rank_main,
                (size_list, kind, iterations, timeout_s, saver(raw_path)),
                timeout_s=timeout_s,
                error_file=str(Path(tmp) / "rank-error"),
            )
        measured = CommRecord.from_dict(read_json(raw_path, CommRecord.SCHEMA))
    record = comm_record(measured, spec)
    if out is not None:
        write_json_atomic(out, record.to_dict())
    return record


def comm_record(measured: CommRecord, hardware: Any | None = None) -> CommRecord:
    """The ``llmroof.comm/1`` record of rank 0's timings (what ``rank_main`` saved): a row per op and
    size, each beside the ring model's prediction."""
    link, label = measure.prediction(
        all_reduce_times_s(measured.per_rank), measured.ranks, hardware
    )
    return dataclasses.replace(
        measured,
        prediction=label if link else None,
        rows=summarize_rows(measured.per_rank, measured.ranks, link, label),
    )


def all_reduce_times_s(per_rank: Sequence[RankTime]) -> dict[int, float]:
    """The slowest rank's all-reduce time per message size (bytes -> s)."""
    times: dict[int, float] = {}
    for r in per_rank:
        if r.op == "all_reduce":
            times[r.size_bytes] = max(times.get(r.size_bytes, 0.0), r.time_s)
    return times


def summarize_rows(
    per_rank: Sequence[RankTime], ranks: int, link: analytic_comm.Link | None, link_label: str
) -> tuple[CommRow, ...]:
    """One row per (op, size): the slowest rank's time (a collective ends when its last rank does),
    algbw, busbw, and the analytic prediction."""
    keys = sorted(
        {(r.op, r.size_bytes) for r in per_rank}, key=lambda k: (measure.OPS.index(k[0]), k[1])
    )
    return tuple(_row(per_rank, op, size, ranks, link, link_label) for op, size in keys)


def _row(
    per_rank: Sequence[RankTime],
    op: str,
    size: int,
    ranks: int,
    link: analytic_comm.Link | None,
    link_label: str,
) -> CommRow:
    time_s = max(r.time_s for r in per_rank if r.op == op and r.size_bytes == size)
    algbw = size / time_s
    measured = CommRow(
        op=op,
        size_bytes=size,
        ranks=ranks,
        time_s=time_s,
        algbw_bytes_per_s=algbw,
        busbw_bytes_per_s=measure.bus_bandwidth(op, algbw, ranks),
    )
    if link is None:
        return measured
    predicted = measure.predict_time_s(op, size, ranks, link)
    return dataclasses.replace(
        measured,
        predicted_time_s=predicted,
        predicted_busbw_bytes_per_s=measure.bus_bandwidth(op, size / predicted, ranks),
        measured_to_predicted=time_s / predicted,
        prediction_link=link_label,
    )
