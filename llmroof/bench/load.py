"""Load generation: a closed loop (``concurrency`` requests always in flight, the next sent when one ends)
or an open loop (requests sent at Poisson arrivals of ``rate`` per second, seeded, whatever the server's
state). Either stops after ``requests`` requests or ``duration_s`` seconds of sending, whichever comes first.

Every loop is bounded: by the request count or the duration, each request by its timeout, and a level
stops early when the server looks gone (``stop_after_failures`` consecutive connection failures).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from llmroof.bench.traffic import arrival_offsets
from llmroof.results.records.bench import RequestRecord

Sender = Callable[[int], Awaitable[RequestRecord]]
GONE_KINDS = ("connect", "disconnected")


@dataclass
class LevelRun:
    """A level in progress: its finished requests (appended as each ends), and why it stopped."""

    records: list[RequestRecord] = field(default_factory=list)
    stop_reason: str = ""
    consecutive_failures: int = 0

    def add(self, record: RequestRecord, stop_after_failures: int) -> None:
        self.records.append(record)
        if record.error_kind in GONE_KINDS:
            self.consecutive_failures += 1
            if self.consecutive_failures >= stop_after_failures and not self.stop_reason:
                self.stop_reason = (
                    f"stopped: {self.consecutive_failures} requests in a row could not reach the "
                    f"server (last: {record.error})"
                )
        else:
            self.consecutive_failures = 0


def _budget(
    requests: int | None, duration_s: float | None, clock: Callable[[], float]
) -> Callable[[int], bool]:
    """Whether request number ``n`` (0-based) may still be sent."""
    if requests is None and duration_s is None:
        raise ValueError("give requests or duration_s")
    deadline = None if duration_s is None else clock() + duration_s
    return lambda n: (requests is None or n < requests) and (deadline is None or clock() < deadline)


async def closed_loop(
    send: Sender,
    run: LevelRun,
    *,
    concurrency: int,
    requests: int | None,
    duration_s: float | None,
    stop_after_failures: int,
    on_record: Callable[[RequestRecord], None] = lambda _: None,
    clock: Callable[[], float] = time.perf_counter,
) -> None:
    """``concurrency`` workers, each sending its next request as soon as its last one ends."""
    allowed = _budget(requests, duration_s, clock)
    counter = iter(range(10**12))

    async def worker() -> None:
        while not run.stop_reason:
            index = next(counter)
            if not allowed(index):
                return
            record = await send(index)
            run.add(record, stop_after_failures)
            on_record(record)

    await _gather_cancelling([asyncio.create_task(worker()) for _ in range(concurrency)])


async def open_loop(
    send: Sender,
    run: LevelRun,
    *,
    rate: float,
    requests: int | None,
    duration_s: float | None,
    seed: int,
    stop_after_failures: int,
    on_record: Callable[[RequestRecord], None] = lambda _: None,
    clock: Callable[[], float] = time.perf_counter,
    times: Iterable[float] | None = None,
) -> None:
    """Requests at Poisson arrivals (exponential gaps of mean 1/rate, from a seeded generator): the times of
    :func:`~llmroof.bench.traffic.arrival_offsets`, which ``llmroof simulate`` replays too; or at ``times``
    (seconds after the first: a trace's timestamps)."""
    offsets = iter(times) if times is not None else arrival_offsets(rate, seed)
    allowed = _budget(requests, duration_s, clock)
    tasks: list[asyncio.Task[None]] = []

    async def one(index: int) -> None:
        record = await send(index)
        run.add(record, stop_after_failures)
        on_record(record)

    try:
        origin = clock()
        next_s = origin + next(offsets, math.inf)
        index = 0
        while allowed(index) and not run.stop_reason:
            if next_s == math.inf:
                break
            delay = next_s - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(index)))
            index += 1
            next_s = origin + next(offsets, math.inf)
    except asyncio.CancelledError:
        await _cancel(tasks)
        raise
    await _gather_cancelling(tasks)


async def _gather_cancelling(tasks: list[asyncio.Task[None]]) -> None:
    """Wait for every task; when this is cancelled (Ctrl-C), cancel them and wait for them to unwind."""
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        await _cancel(tasks)
        raise


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
