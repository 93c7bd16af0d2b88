"""Process groups for tensor and pipeline parallelism over ``torch.distributed``.

Launched plainly on one machine, llmroof starts its own ranks (one process each, gloo on CPUs, NCCL on
GPUs) and joins them; under ``torchrun`` (one or several nodes) each process joins the group torchrun
describes in its environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT).

Ranks are laid out stage-major: rank = stage * tp + tp_rank. A rank that dies or hangs makes the others
fail within ``timeout_s`` (the process group's timeout); the launcher then stops every rank.
"""

from __future__ import annotations

import datetime
import os
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llmroof.errors import LlmroofError


@dataclass
class Layout:
    """Where this process sits in a tp x pp grid."""

    rank: int
    world_size: int
    tp: int
    pp: int
    local_rank: int

    @property
    def stage(self) -> int:
        return self.rank // self.tp

    @property
    def tp_rank(self) -> int:
        return self.rank % self.tp

    def stage_ranks(self, stage: int) -> list[int]:
        return [stage * self.tp + r for r in range(self.tp)]

    def peer_in_stage(self, stage: int) -> int:
        """The rank of the same tensor-parallel position in another stage (pipeline sends go there)."""
        return stage * self.tp + self.tp_rank


def under_torchrun() -> bool:
    return all(key in os.environ for key in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def init_group(layout: Layout, backend: str, timeout_s: float, init_method: str | None = None) -> tuple[Any, Any]:
    """Join the world group; create one tensor-parallel group per stage (every rank creates every group).

    Returns (dist, this rank's tensor-parallel group)."""
    import torch.distributed as dist

    dist.init_process_group(backend=backend, init_method=init_method or "env://", rank=layout.rank,
                            world_size=layout.world_size, timeout=datetime.timedelta(seconds=timeout_s))
    groups = [dist.new_group(layout.stage_ranks(stage)) for stage in range(layout.pp)]
    return dist, groups[layout.stage]


def _child(rank: int, world_size: int, port: int, target: Callable[..., Any], args: tuple, error_file: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size),
                      LOCAL_RANK=str(rank))
    try:
        target(rank, world_size, *args)
    except BaseException:  # noqa: BLE001 - every failure is reported to the launcher through the file
        with open(f"{error_file}.{rank}", "w", encoding="utf-8") as handle:
            handle.write(traceback.format_exc())
        raise SystemExit(1) from None


def launch(world_size: int, target: Callable[..., Any], args: tuple, *, timeout_s: float,
           error_file: str) -> None:
    """Run ``target(rank, world_size, *args)`` in ``world_size`` processes on this machine.

    When a rank fails, the others get ``timeout_s`` to notice (their collectives time out) and are then
    terminated; raises :class:`LlmroofError` naming the first failure.
    """
    import torch.multiprocessing as mp

    context = mp.get_context("spawn")
    port = free_port()
    processes = [context.Process(target=_child, args=(rank, world_size, port, target, args, error_file),
                                 daemon=False) for rank in range(world_size)]
    for process in processes:
        process.start()
    failed_at: float | None = None
    order: list[int] = []  # ranks in the order they were seen failing: the first is the cause
    try:
        while any(p.is_alive() for p in processes):
            for rank, p in enumerate(processes):
                if p.exitcode not in (None, 0) and rank not in order:
                    order.append(rank)
            if failed_at is None and order:
                failed_at = time.monotonic()
            if failed_at is not None and time.monotonic() - failed_at > timeout_s + 5:
                break
            time.sleep(0.05)
    except KeyboardInterrupt:
        # The ranks got the same SIGINT: give them a moment to record "interrupted" before stopping them.
        deadline = time.monotonic() + 10
        while any(p.is_alive() for p in processes) and time.monotonic() < deadline:
            time.sleep(0.05)
        raise
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
    for rank, p in enumerate(processes):
        if p.exitcode != 0 and rank not in order:
            order.append(rank)
    if order:
        rank, code = order[0], processes[order[0]].exitcode
        detail = _last_line(f"{error_file}.{rank}") or f"exit code {code}"
        raise LlmroofError(f"rank {rank} of {world_size} failed: {detail}",
                           "what rank 0 gathered before the failure is in the results file")


def _last_line(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            lines = [line.strip() for line in handle if line.strip()]
        return lines[-1] if lines else None
    except OSError:
        return None
