"""Traffic both ``llmroof bench`` and ``llmroof simulate`` replay: seeded arrival times (Poisson,
Gamma with a burstiness CV, a fixed rate) and request traces read from the files public traces ship
as.

One generator, :func:`arrival_offsets`, gives the send times of ``bench --rate R --seed S`` and the
arrival times of ``simulate --rate R --seed S``: the same seed gives the same traffic to a
measurement and to a simulation. Pure: no asyncio, no torch.

Trace formats (timestamps shifted so that the first request arrives at 0):

- Azure LLM inference trace (2023/2024) CSV: ``TIMESTAMP,ContextTokens,GeneratedTokens``, timestamps
  as
  ``2023-11-16 18:15:46.6805900`` (fractions of up to 7 digits);
- BurstGPT CSV: ``Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type``, seconds;
- Mooncake JSONL: ``{"timestamp": ms, "input_length": n, "output_length": n, "hash_ids": [...]}``,
  one hash per prompt block of :data:`MOONCAKE_BLOCK_TOKENS` tokens (blocks shared between requests
  share ids).
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import math
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

from llmroof.errors import LlmroofError

MOONCAKE_BLOCK_TOKENS = 512
"""Tokens per ``hash_ids`` entry in the Mooncake traces (its paper's block size)."""


class TraceRequest(NamedTuple):
    """One request of a traffic: when it arrives and its lengths."""

    arrival_s: float
    """Seconds after the first request."""
    prompt_tokens: int
    output_tokens: int
    hash_ids: tuple[int, ...] = ()
    """Ids of the prompt's blocks (Mooncake): equal ids are equal prefix blocks."""


def arrival_offsets(rate: float, seed: int, cv: float = 1.0) -> Iterator[float]:
    """Arrival times (seconds after the first, which is 0) of a renewal process of ``rate`` per
    second: gaps Gamma-distributed with coefficient of variation ``cv`` (1: Poisson, exponential
    gaps; 0: a fixed rate; above 1: burstier), from ``random.Random(seed)``. Infinite; take as many
    as needed."""
    if not (rate > 0 and math.isfinite(rate)):
        raise ValueError(f"rate must be a positive number, got {rate!r}")
    if not (cv >= 0 and math.isfinite(cv)):
        raise ValueError(f"cv must be a non-negative number, got {cv!r}")
    rng = random.Random(seed)
    t = 0.0
    while True:
        yield t
        if cv == 0:
            t += 1 / rate
        elif cv == 1:
            t += rng.expovariate(rate)
        else:
            shape = 1 / cv**2
            t += rng.gammavariate(shape, 1 / (shape * rate))


def synthetic(
    rate: float,
    requests: int,
    prompt_tokens: int,
    output_tokens: int,
    seed: int = 0,
    cv: float = 1.0,
) -> list[TraceRequest]:
    """``requests`` requests of fixed lengths at :func:`arrival_offsets`."""
    times = arrival_offsets(rate, seed, cv)
    return [TraceRequest(next(times), prompt_tokens, output_tokens) for _ in range(requests)]


def read_trace(path: str | Path, limit: int | None = None) -> list[TraceRequest]:
    """The requests of a trace file (format from its header or first line), in arrival order."""
    from llmroof.readers import decode_text, read_bytes

    text = decode_text(read_bytes(path), str(path))  # the one bounded reader (docs/io-policy.md)
    return parse_trace(text, str(path), limit)


def parse_trace(text: str, source: str = "trace", limit: int | None = None) -> list[TraceRequest]:
    stripped = text.lstrip()
    rows = _mooncake(stripped, source) if stripped.startswith("{") else _csv(stripped, source)
    if not rows:
        raise LlmroofError(f"{source}: no requests in the trace", "is the file empty?")
    rows.sort(key=lambda r: r.arrival_s)
    start = rows[0].arrival_s
    rows = [r._replace(arrival_s=r.arrival_s - start) for r in rows]
    return rows[:limit] if limit is not None else rows


def _mooncake(text: str, source: str) -> list[TraceRequest]:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            rows.append(
                TraceRequest(
                    float(item["timestamp"]) / 1e3,
                    int(item["input_length"]),
                    int(item["output_length"]),
                    tuple(int(h) for h in item.get("hash_ids", ())),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise LlmroofError(
                f"{source}: line {number}: not a Mooncake request ({exc})",
                'each line: {"timestamp": ms, "input_length": n, "output_length": n, '
                '"hash_ids": []}',
            ) from None
    return rows


AZURE = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")
BURSTGPT = ("Timestamp", "Request tokens", "Response tokens")


def _csv(text: str, source: str) -> list[TraceRequest]:
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in reader.fieldnames or ()]
    reader.fieldnames = header
    clock: Callable[[str], float]
    if all(name in header for name in AZURE):
        columns, clock = AZURE, _azure_time
    elif all(name in header for name in BURSTGPT):
        columns, clock = BURSTGPT, float
    else:
        raise LlmroofError(
            f"{source}: a CSV with columns {', '.join(header)}: not a trace llmroof reads",
            "Azure: TIMESTAMP,ContextTokens,GeneratedTokens; BurstGPT: Timestamp,...,"
            "Request tokens,Response tokens,...",
        )
    rows = []
    for number, row in enumerate(reader, 2):
        try:
            rows.append(
                TraceRequest(
                    clock(row[columns[0]].strip()), int(row[columns[1]]), int(row[columns[2]])
                )
            )
        except (ValueError, TypeError) as exc:
            raise LlmroofError(
                f"{source}: line {number}: {exc}", "a timestamp and two token counts per row"
            ) from None
    return rows


def _azure_time(text: str) -> float:
    """``2023-11-16 18:15:46.6805900`` -> seconds since the epoch (7 fractional digits: Python takes
    6)."""
    whole, _, fraction = text.partition(".")
    stamp = datetime.datetime.strptime(whole, "%Y-%m-%d %H:%M:%S").replace(
        tzinfo=datetime.timezone.utc
    )
    return stamp.timestamp() + (float("0." + fraction) if fraction else 0.0)
