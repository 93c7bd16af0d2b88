"""Process groups for tensor and pipeline parallelism over ``torch.distributed``.

Launched plainly on one machine, llmroof starts its own ranks (one process each, gloo on CPUs, NCCL on
GPUs) and joins them; under ``torchrun`` (one or several nodes) each process joins the group torchrun
describes in its environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT).

Ranks are laid out stage-major: rank = stage * tp + tp_rank. A rank that dies or hangs makes the others
fail within ``timeout_s`` (the process group's timeout); the launcher then stops every rank.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import signal
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llmroof.errors import Interrupted, LlmroofError


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


READY_ENV = "LLMROOF_RANK_READY_FILE"
"""Set by :func:`launch` for each rank: the file :func:`init_group` creates once the rank has joined."""


def max_local_ranks(kind: str, device_count: int = 0) -> int:
    """The most ranks one machine runs: one per GPU; on a CPU two per core (at least 4), beyond which gloo
    ranks only wait on each other (and a thousand torch processes exhaust the machine)."""
    if kind == "cuda":
        return device_count
    return max(4, 2 * (os.cpu_count() or 1))


def check_local_ranks(
    ranks: int, kind: str, device_count: int = 0, label: str | None = None
) -> None:
    """Refuse more ranks than :func:`max_local_ranks`; ``label`` names the option in the error."""
    limit = max_local_ranks(kind, device_count)
    if ranks > limit:
        where = (
            f"{device_count} GPUs"
            if kind == "cuda"
            else f"{os.cpu_count()} CPU cores (at most {limit} ranks)"
        )
        raise LlmroofError(
            f"{label or f'--ranks {ranks}'} needs {ranks} ranks: this machine has {where}",
            "use fewer ranks, or torchrun to spread them over several machines",
        )


def under_torchrun() -> bool:
    return all(key in os.environ for key in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def init_group(
    layout: Layout, backend: str, timeout_s: float, init_method: str | None = None
) -> tuple[Any, Any]:
    """Join the world group; create one tensor-parallel group per stage (every rank creates every group).

    Returns (dist, this rank's tensor-parallel group)."""
    import torch.distributed as dist

    dist.init_process_group(
        backend=backend,
        init_method=init_method or "env://",
        rank=layout.rank,
        world_size=layout.world_size,
        timeout=datetime.timedelta(seconds=timeout_s),
    )
    groups = [dist.new_group(layout.stage_ranks(stage)) for stage in range(layout.pp)]
    ready = os.environ.get(READY_ENV)
    if ready:  # tell launch() this rank has joined (its start-up deadline ends here)
        with open(ready, "w", encoding="utf-8"):
            pass
    return dist, groups[layout.stage]


def _child(
    rank: int, world_size: int, port: int, target: Callable[..., Any], args: tuple, error_file: str
) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world_size),
        LOCAL_RANK=str(rank),
        **{READY_ENV: f"{error_file}.ready.{rank}"},
    )
    try:
        target(rank, world_size, *args)
    except BaseException:
        failed_ns = (
            time.monotonic_ns()
        )  # first line: when (file times tick too coarsely to order ranks)
        with open(f"{error_file}.{rank}", "w", encoding="utf-8") as handle:
            handle.write(f"{failed_ns}\n{traceback.format_exc()}")
        raise SystemExit(1) from None


def launch(
    world_size: int, target: Callable[..., Any], args: tuple, *, timeout_s: float, error_file: str
) -> None:
    """Run ``target(rank, world_size, *args)`` in ``world_size`` processes on this machine.

    When a rank fails, the others get ``timeout_s`` to notice (their collectives time out) and are then
    terminated; raises :class:`LlmroofError` naming the first failure.
    """
    import torch.multiprocessing as mp

    context = mp.get_context("spawn")
    port = free_port()
    started_at = time.monotonic()
    processes: list[Any] = []
    failed_at: float | None = None
    order: list[int] = []  # ranks in the order they were seen failing: the first is the cause
    started = False  # every rank has joined the group
    try:
        for rank in range(world_size):
            _check_startup(processes, world_size, started_at, timeout_s, error_file)
            process = context.Process(
                target=_child, args=(rank, world_size, port, target, args, error_file), daemon=False
            )
            process.start()
            processes.append(process)
        while any(p.is_alive() for p in processes):
            order += _newly_failed(processes, order, error_file)
            if failed_at is None and order:
                failed_at = time.monotonic()
            if failed_at is not None and time.monotonic() - failed_at > timeout_s + 5:
                break
            if failed_at is None and not started:
                started = _check_startup(processes, world_size, started_at, timeout_s, error_file)
            time.sleep(0.05)
    except KeyboardInterrupt as exc:
        if isinstance(
            exc, Interrupted
        ):  # SIGTERM/SIGHUP reached this process only: pass it on as Ctrl-C
            for process in processes:
                if process.is_alive() and process.pid is not None:
                    with contextlib.suppress(OSError):
                        os.kill(process.pid, signal.SIGINT)
        # The ranks got the same SIGINT: give them a moment to record "interrupted" before stopping them.
        deadline = time.monotonic() + 10
        while any(p.is_alive() for p in processes) and time.monotonic() < deadline:
            time.sleep(0.05)
        raise
    finally:
        _stop(processes)
        for rank in range(world_size):
            with contextlib.suppress(OSError):
                os.unlink(f"{error_file}.ready.{rank}")
    order += _newly_failed(processes, order, error_file, finished=True)
    if order:
        rank, code = order[0], processes[order[0]].exitcode
        detail = _last_line(f"{error_file}.{rank}") or f"exit code {code}"
        raise LlmroofError(
            f"rank {rank} of {world_size} failed: {detail}",
            "what rank 0 gathered before the failure is in the results file",
        )


def _newly_failed(
    processes: list[Any], order: list[int], error_file: str, *, finished: bool = False
) -> list[int]:
    """Ranks that failed since the last look, in the order they recorded their failure (the monotonic clock
    on their error file's first line): when a rank dies, its peers fail in their collectives moments later, often within one poll, and
    the cause is the one that failed first, not the lowest rank. ``finished``: every process has ended, and a
    non-zero exit code (a rank killed by a signal has no error file) counts too."""
    failed = [
        rank
        for rank, p in enumerate(processes)
        if rank not in order and (p.exitcode != 0 if finished else p.exitcode not in (None, 0))
    ]

    def recorded_at(rank: int) -> float:
        try:
            with open(f"{error_file}.{rank}", encoding="utf-8") as handle:
                return int(handle.readline())
        except (OSError, ValueError):
            return float(
                "inf"
            )  # no error file: killed, or stopped by the launcher after the others

    return sorted(failed, key=lambda rank: (recorded_at(rank), rank))


def _check_startup(
    processes: list[Any], world_size: int, started_at: float, timeout_s: float, error_file: str
) -> bool:
    """Whether every rank has joined the group; past ``timeout_s`` from the launch without that, the launch
    fails (a thousand ranks on two cores never finish starting)."""
    ready = sum(os.path.exists(f"{error_file}.ready.{rank}") for rank in range(world_size))
    if ready == world_size:
        return True
    if time.monotonic() - started_at > timeout_s:
        raise LlmroofError(
            f"{ready} of {world_size} ranks started within --timeout {timeout_s:g} s "
            f"({len(processes)} processes launched)",
            "use fewer ranks, or a longer --timeout on a loaded machine",
        )
    return False


def _stop(processes: list[Any]) -> None:
    """Terminate every rank still running, then wait for all together (5 s in all, not 5 s each), then kill."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + 5
    for process in processes:
        process.join(timeout=max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join(timeout=1)


def _last_line(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            lines = [line.strip() for line in handle if line.strip()]
        return lines[-1] if lines else None
    except OSError:
        return None
