"""``llmroof comm``: all-reduce, all-gather and send/recv across message sizes, in the nccl-tests
convention (algbw = size / time; all-reduce busbw = algbw x 2(n-1)/n; all-gather busbw = algbw x (n-1)/n;
send/recv busbw = algbw), beside the analytic comm model's prediction."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from typing import Any

from llmroof.analytic import comm as analytic_comm
from llmroof.errors import LlmroofError
from llmroof.measure import nvtx
from llmroof.measure.distributed import Layout, check_local_ranks, init_group
from llmroof.ranges import parse_range_list
from llmroof.results.records.comm import CommRecord, RankTime
from llmroof.units import seconds, si

OPS = ("all_reduce", "all_gather", "send_recv")


def parse_size(text: str) -> int:
    """``4K`` -> 4096, ``256M`` -> 268435456, ``1G``, or plain bytes."""
    text = text.strip().upper().removesuffix("B")
    scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
    try:
        value = int(float(text[:-1] if scale > 1 else text) * scale)
    except ValueError:
        raise LlmroofError(
            f"--sizes: {text!r} is not a size", "use bytes or K/M/G suffixes, e.g. 4K..256M"
        ) from None
    if value < 4:
        raise LlmroofError(f"--sizes: {text!r} is too small (at least 4 bytes)")
    return value


def parse_sizes(text: str) -> list[int]:
    """``4K..256M`` (doubling from the lower end to the upper), ``1M..8M:1M`` (arithmetic) or a list such as
    ``4K,1M,64M``: :func:`llmroof.ranges.parse_range_list` with sizes for values."""
    try:
        return parse_range_list(text, parse_size)
    except ValueError as exc:
        raise LlmroofError(
            f"--sizes {text!r}: {exc}", "use bytes or K/M/G suffixes, e.g. 4K..256M"
        ) from None


CONVENTION = (
    "nccl-tests: algbw = size / time; all_reduce busbw = algbw x 2(n-1)/n; "
    "all_gather busbw = algbw x (n-1)/n; send_recv busbw = algbw"
)


def device_kind(device: str, ranks: int, torch: Any, under_torchrun: bool = False) -> str:
    """``cuda`` or ``cpu`` for ``--device`` (``auto``: CUDA when there is one). Started here, the ranks must fit
    this machine (a GPU each, or the CPU's limit): more would never finish starting. Under torchrun the
    launcher placed them."""
    if device not in ("auto", "cpu", "cuda"):
        raise LlmroofError(f"--device {device!r}: expected auto, cpu or cuda")
    kind = (
        "cuda" if (device == "cuda" or (device == "auto" and torch.cuda.is_available())) else "cpu"
    )
    if not under_torchrun:
        check_local_ranks(ranks, kind, torch.cuda.device_count() if kind == "cuda" else 0)
    return kind


def bus_bandwidth(op: str, algbw: float, ranks: int) -> float:
    """nccl-tests' bus bandwidth: the per-link rate that the algorithm needs."""
    if op == "all_reduce":
        return algbw * 2 * (ranks - 1) / ranks
    if op == "all_gather":
        return algbw * (ranks - 1) / ranks
    return algbw


def predict_time_s(op: str, size: int, ranks: int, link: analytic_comm.Link) -> float:
    """The analytic model's time for one operation (ring algorithms; send/recv: one hop)."""
    if op == "all_reduce":
        return analytic_comm.allreduce_time_s(size, ranks, link)
    if op == "all_gather":
        return analytic_comm.allgather_time_s(size, ranks, link)
    return analytic_comm.p2p_time_s(size, link)


def rank_main(
    rank: int,
    world_size: int,
    sizes: list[int],
    device_kind: str,
    iterations: int,
    timeout_s: float,
    save: Callable[[dict[str, Any]], object] | None,
) -> None:
    """Every rank runs every op at every size; rank 0 collects the timings and hands them to ``save`` (a
    picklable callable: the launcher sends it to the rank) as a :class:`CommRecord` with every rank's
    timings and no summary rows yet (``llmroof.runs.comm.comm_record`` adds them)."""
    import os

    import torch

    layout = Layout(rank, world_size, world_size, 1, int(os.environ.get("LOCAL_RANK", rank)))
    if device_kind == "cuda":
        torch.cuda.set_device(layout.local_rank)
        device, backend = f"cuda:{layout.local_rank}", "nccl"
    else:
        device, backend = "cpu", "gloo"
    dist, _ = init_group(layout, backend, timeout_s)
    sync = (lambda: torch.cuda.synchronize()) if device_kind == "cuda" else (lambda: None)
    timings: list[RankTime] = []
    try:
        for size in sizes:
            elements = max(1, size // 4)
            buffer = torch.ones(elements, dtype=torch.float32, device=device)
            parts = [
                torch.empty(max(1, elements // world_size), dtype=torch.float32, device=device)
                for _ in range(world_size)
            ]
            shard = torch.ones(max(1, elements // world_size), dtype=torch.float32, device=device)
            peer_next, peer_prev = (rank + 1) % world_size, (rank - 1) % world_size

            recv_buffer = torch.empty_like(buffer)

            def send_recv(
                buffer: Any = buffer,
                recv_buffer: Any = recv_buffer,
                peer_next: int = peer_next,
                peer_prev: int = peer_prev,
            ) -> None:
                # Each rank sends to the next and receives from the previous, as nccl-tests' sendrecv.
                work = dist.isend(buffer, dst=peer_next)
                dist.recv(recv_buffer, src=peer_prev)
                work.wait()

            ops: dict[str, Callable[[], object]] = {
                "all_reduce": functools.partial(dist.all_reduce, buffer),
                "all_gather": functools.partial(dist.all_gather, parts, shard),
                "send_recv": send_recv,
            }
            for op, fn in ops.items():
                with nvtx.annotate(f"comm {op} {size}B"):
                    fn()
                    sync()
                    dist.barrier()
                    start = time.perf_counter()
                    for _ in range(iterations):
                        fn()
                    sync()
                    elapsed = (time.perf_counter() - start) / iterations
                timings.append(RankTime(rank=rank, op=op, size_bytes=elements * 4, time_s=elapsed))
        gathered: list[Any] | None = [None] * world_size if rank == 0 else None
        dist.gather_object(timings, gathered, dst=0)
        if gathered is not None and save is not None:  # rank 0
            measured = CommRecord(
                ranks=world_size,
                backend=backend,
                iterations=iterations,
                convention=CONVENTION,
                prediction=None,
                rows=(),
                per_rank=tuple(row for chunk in gathered for row in chunk),
            )
            save(measured.to_dict())
    finally:
        dist.destroy_process_group()


def fitted_link(all_reduce_times_s: Mapping[int, float], ranks: int) -> analytic_comm.Link | None:
    """The ring model's bandwidth and latency, least-squares fitted to the measured all-reduces (the slowest
    rank's time per message size, bytes -> s): t = 2(n-1) * L + 2(n-1)/n * S / B is a line in S."""
    times = dict(all_reduce_times_s)
    fit = analytic_comm.fit_ring_allreduce(list(times), list(times.values()), ranks)
    return None if fit is None else analytic_comm.Link("fitted to the measured all-reduces", *fit)


def prediction(
    all_reduce_times_s: Mapping[int, float], ranks: int, hardware: Any | None = None
) -> tuple[analytic_comm.Link | None, str]:
    """The link the ring model predicts with, and its label: the catalog device's link for ``ranks``, or
    (without a device) the link least-squares fitted to this run's all-reduces at every size."""
    if hardware is None:
        return fitted_link(
            all_reduce_times_s, ranks
        ), "ring model least-squares fitted to this run's all-reduces at every size"
    link = analytic_comm.link_for(hardware, ranks)
    return (
        link,
        f"{hardware.name}: {link.name}, {si(link.bandwidth_bytes_per_s, 'B/s')}, {seconds(link.latency_s)}",
    )
