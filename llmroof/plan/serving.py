"""Continuous batching in steady state, and the paged KV cache: the formulas of ``docs/planning.md``.

Steady state: a replica keeps B sequences in flight, split into pp micro-batches of b = B/pp, one per
pipeline stage. Every sequence has a prompt of S tokens and generates O. Each round, every stage runs one
decode step of each of the pp micro-batches (every sequence gains one token), and B/O finished sequences
are replaced by new ones, whose prefills (one request at a time, not chunked) run between the steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

SECONDS_PER_HOUR = 3600.0


def max_concurrent_sequences(
    free_bytes: Sequence[float],
    kv_bytes_per_token: Sequence[float],
    blocks_per_sequence: int,
    block_tokens: int,
) -> int:
    """Sequences whose KV blocks fit beside the weights on every stage's GPU.

    Stage j's GPU holds, for every sequence in flight, blocks_per_sequence blocks of block_tokens tokens
    of its own layers' KV (kv_bytes_per_token[j] per token): floor(free_j / (kv_j * blocks * block_tokens)).
    """
    per_sequence = [kv * blocks_per_sequence * block_tokens for kv in kv_bytes_per_token]
    if any(free <= 0 for free in free_bytes):
        return 0
    return min(int(free // need) for free, need in zip(free_bytes, per_sequence))


def round_time_s(
    decode_stage_s: Sequence[float],
    prefill_stage_s: Sequence[float],
    concurrent: int,
    output_len: int,
) -> float:
    """Time per round, which is the time between a user's tokens (the effective TPOT).

    The busiest stage's work in one round: pp decode steps (one per micro-batch) plus its share of the
    B/O prefills that replace finished sequences: max_j (pp * T_j(b) + (B/O) * P_j).
    """
    pp = len(decode_stage_s)
    admitted = concurrent / output_len
    return max(pp * d + admitted * p for d, p in zip(decode_stage_s, prefill_stage_s))


def ttft_s(
    decode_stage_s: Sequence[float],
    prefill_stage_s: Sequence[float],
    concurrent: int,
    output_len: int,
) -> float:
    """A new request waits for the decode step in flight on each stage, then for the prefills admitted in
    the same round, its own the last of them: sum_j T_j(b) + max(1, B/O) * sum_j P_j.

    B/O requests are admitted per round on average; when that is one or fewer, a request's prefill is the
    only one. Prefills run back to back (one batched prefill takes as long on the compute roof)."""
    return sum(decode_stage_s) + max(1.0, concurrent / output_len) * sum(prefill_stage_s)


def replicas_for(rate_qps: float | None, requests_per_s_per_replica: float) -> int:
    """Replicas that serve ``rate_qps`` (one when no rate is asked)."""
    if rate_qps is None:
        return 1
    return max(1, math.ceil(rate_qps / requests_per_s_per_replica * (1 - 1e-12)))


def gpu_hours_per_million_tokens(gpus: int, output_tokens_per_s: float) -> float:
    """GPU-hours a fleet of ``gpus`` spends per million output tokens at ``output_tokens_per_s``."""
    return gpus * 1e6 / (output_tokens_per_s * SECONDS_PER_HOUR)
