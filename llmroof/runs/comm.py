"""``llmroof comm``: start the ranks (or join torchrun's), time the collectives, return the
``llmroof.comm/1`` record."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from llmroof.results.records import CommRecord


def run_comm(
    *,
    ranks: int = 2,
    sizes: str = "4K..64M",
    device: str = "auto",
    iterations: int = 20,
    hardware: str | None = None,
    timeout_s: float = 120.0,
    progress: Callable[[str], None] = lambda _: None,
) -> CommRecord | None:
    """Time all-reduce, all-gather and send/recv at every size of ``sizes`` (``4K..64M`` doubles; ``4K,1M`` is a
    list) on ``ranks`` processes, beside the ring model (``hardware``'s link, or one fitted to the run).

    Under torchrun each process is one rank (``ranks`` is the world size); ranks other than 0 return None.
    ``progress`` gets a line before the ranks start."""
    import torch

    from llmroof.measure import comm as measure
    from llmroof.measure import distributed
    from llmroof.results.io import read_json
    from llmroof.results.save import saver

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
        raw = read_json(raw_path, measure.SCHEMA)
    return CommRecord.from_dict(measure.comm_record(raw, iterations, spec))
