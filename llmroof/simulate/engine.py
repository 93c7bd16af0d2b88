"""A discrete-event simulator of one serving replica, stepped as vLLM V1 schedules (and of a fleet
of them behind a router).

Each step the scheduler (:class:`SchedulerConfig`) builds one batch, decodes first: every running
sequence that has its first token decodes one token (k + 1 positions with speculative decoding),
then prefills that are under way continue, then waiting requests are admitted first come first
served, while the token budget (``max_num_batched_tokens``), ``max_num_seqs`` and the free KV blocks
allow. With chunked prefill a prompt is cut to what the budget leaves; without it a prompt is
admitted only whole. The step takes the time the step-time function gives for its shape
(:class:`~llmroof.simulate.steps.StepShape`); a request that arrives during a step waits for its
end.

KV cache: paged blocks of ``block_tokens``; a sequence of n tokens holds n / block + 1/2 blocks (its
last block half filled on average). When a step's decodes would need more blocks than the pool has,
the most recently admitted sequence is preempted and recomputed (vLLM's default): it goes back to
the head of the queue and, readmitted, prefills its prompt and the tokens it had generated again.

Cost per step is O(1) in the running sequences: contexts are kept as a sum that grows by the decode
batch every step, and decodes finish from a heap keyed by the step on which they end.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from llmroof.bench.traffic import TraceRequest
from llmroof.simulate.features import (
    PrefixCache,
    hit_rate_tokens,
    speculative_tokens_per_step,
)
from llmroof.simulate.steps import StepShape, chunk_pairs

StepTime = Callable[[StepShape, int], float]
"""Seconds one step takes: its shape, and how many of its tokens are prefill."""


@dataclass(frozen=True, kw_only=True, slots=True)
class SchedulerConfig:
    """The knobs of a replica's scheduler, named as vLLM names them."""

    max_num_seqs: int = 256
    """Sequences running at once (prefilling or decoding)."""
    max_num_batched_tokens: int = 8192
    """Tokens one step may process (decode tokens and prefill chunks together)."""
    chunked_prefill: bool = True
    """Cut prompts to the budget a step leaves; False: a prompt is prefilled whole in one step."""
    block_tokens: int = 16
    """Tokens per paged KV block."""
    kv_blocks: int = 1_000_000
    """Blocks in the KV pool."""
    speculative_k: int = 0
    """Draft tokens per step (0: no speculative decoding)."""
    acceptance_rate: float = 0.0
    """Probability that each draft token is accepted."""
    prefix_hit_rate: float | None = None
    """Share of every prompt found in the prefix cache; None: hits from the requests' hash_ids (none
    without)."""
    prefix_block_tokens: int = 16
    """Tokens per hash_ids entry (512 for Mooncake traces)."""

    def __post_init__(self) -> None:
        for name in (
            "max_num_seqs",
            "max_num_batched_tokens",
            "block_tokens",
            "kv_blocks",
            "prefix_block_tokens",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.max_num_batched_tokens < self.max_num_seqs * (1 + self.speculative_k):
            raise ValueError(
                f"max_num_batched_tokens ({self.max_num_batched_tokens}) must hold a decode token "
                f"of every one of max_num_seqs ({self.max_num_seqs}) sequences"
                + (
                    f" times {1 + self.speculative_k} speculative positions"
                    if self.speculative_k
                    else ""
                )
            )
        speculative_tokens_per_step(self.speculative_k, self.acceptance_rate)  # validates both
        if self.prefix_hit_rate is not None and not 0 <= self.prefix_hit_rate < 1:
            raise ValueError(f"prefix_hit_rate must be in [0, 1), got {self.prefix_hit_rate!r}")

    @classmethod
    def one_at_a_time(cls, kv_blocks: int = 1_000_000) -> SchedulerConfig:
        """An engine without batching (``transformers serve`` by default): one request, prefill then
        decode."""
        return cls(
            max_num_seqs=1, max_num_batched_tokens=2**40, chunked_prefill=False, kv_blocks=kv_blocks
        )


class Seq:
    """One request inside a replica."""

    __slots__ = (
        "arrival_s",
        "cached",
        "context0",
        "done",
        "end_s",
        "finish_iter",
        "first_s",
        "generated",
        "hash_ids",
        "index",
        "last_s",
        "output",
        "pace",
        "preemptions",
        "prompt",
        "ready_s",
        "start_iter",
        "state",
        "target",
        "transferred",
        "wake",
    )

    def __init__(self, index: int, request: TraceRequest) -> None:
        self.index = index
        self.arrival_s, self.prompt, self.output, self.hash_ids = request
        self.ready_s = (
            self.arrival_s
        )  # when it reaches this replica (later than its arrival after a KV transfer)
        self.transferred = False  # prefilled elsewhere (disaggregated): its KV arrives with it
        self.cached = 0  # prompt tokens hit in the prefix cache
        self.target = (
            self.prompt
        )  # tokens to prefill (the prompt, plus generated tokens after a preemption)
        self.done = 0  # tokens of target in the KV cache
        self.generated = 0.0
        self.start_iter = self.finish_iter = 0
        self.context0 = 0.0
        self.first_s = self.last_s = self.end_s = math.nan
        self.preemptions = 0
        self.state = "new"
        self.pace: tuple[float, float] = (1.0, 1.0)  # its (prefill, decode) step times x these
        self.wake = (0.0, 0.0)  # seconds added to its (prefill, each decode) step: it found us idle


class Replica:
    """One engine: its queue, its running sequences and its clock (:attr:`now`, the end of its last
    step)."""

    def __init__(
        self,
        config: SchedulerConfig,
        step_time: StepTime,
        sample_every_s: float = math.inf,
        queued_factor: float = 1.0,
        spread: Sequence[tuple[float, float]] = (),
        seed: int = 0,
        wake_s: tuple[float, float] = (0.0, 0.0),
    ) -> None:
        self.config, self.step_time = config, step_time
        self.queued_factor = queued_factor  # step time x this while requests wait (see Efficiency)
        if (spread or any(wake_s)) and config.max_num_seqs != 1:
            raise ValueError(
                "a per-request service spread or wake cost needs one sequence at a time"
            )
        self.wake_s = wake_s  # a request that finds us idle: (to its first token, after it) longer
        # an engine without batching: each request's (prefill, decode) pace drawn from these
        self.spread = tuple(spread)
        self.paced = bool(self.spread) or any(
            wake_s
        )  # steps take their sequence's pace and wake cost
        self.rng = random.Random(seed)
        self.per_step = speculative_tokens_per_step(config.speculative_k, config.acceptance_rate)
        self.positions = 1 + config.speculative_k  # tokens a decode verifies per step
        self.prefix = PrefixCache(
            config.kv_blocks * config.block_tokens // config.prefix_block_tokens,
            config.prefix_block_tokens,
        )
        self.now = 0.0
        self.waiting: deque[Seq] = deque()
        self.prefilling: list[Seq] = []
        self.running: dict[int, Seq] = {}  # admission order: the last is preempted first
        self.finishing: list[tuple[int, int]] = []  # heap of (finish_iter, index)
        self.iteration = 0
        self.decoding = 0
        self.decode_context = 0.0  # sum of the decoding sequences' contexts
        self.kv_tokens = 0.0  # tokens held in KV by running sequences
        self.finished: list[Seq] = []
        self.itl_s: list[float] = []
        self.itl_weight: list[int] = []
        self.steps = 0
        self.preemptions = 0
        self.max_step_tokens = 0
        self.max_step_seqs = 0
        self.prefix_hit_tokens = 0
        # sum over time of requests in the system, and when it was last brought up to date
        self.in_system = 0
        self.area = 0.0
        self.last_s = 0.0
        self.sample_every_s = sample_every_s
        self.next_sample_s = 0.0
        self.timeline: list[tuple[float, int, int, float]] = []

    @property
    def busy(self) -> bool:
        return bool(self.waiting or self.running)

    @property
    def outstanding(self) -> int:
        return self.in_system

    def kv_blocks_used(self, extra_tokens: float = 0.0, extra_seqs: int = 0) -> float:
        return (self.kv_tokens + extra_tokens) / self.config.block_tokens + 0.5 * (
            len(self.running) + extra_seqs
        )

    def _account(self, t: float) -> None:
        self.area += self.in_system * (t - self.last_s)
        self.last_s = t

    def submit(self, seq: Seq) -> None:
        """``seq`` arrives (at its arrival time, not before :attr:`now`'s step started)."""
        self._account(seq.ready_s)
        self.in_system += 1
        if self.paced and not self.busy and self.now <= seq.ready_s:
            first, rest = self.wake_s
            seq.wake = (first, rest / max(1, seq.output - 1))
        if not self.busy:
            self.now = max(self.now, seq.ready_s)
        self.waiting.append(seq)

    def run_until(self, t: float) -> None:
        """Run every step that starts before ``t``."""
        while self.busy and self.now < t:
            if self.decoding and not self.waiting and not self.prefilling:
                self._decode_run(t)
                if not (self.busy and self.now < t):
                    break
            self.step()

    def drain(self) -> None:
        self.run_until(math.inf)

    def _decode_run(self, t: float) -> None:
        """The decode-only steps before ``t`` and before the next sequence finishes, in one loop:
        the batch is fixed and its contexts grow by the same amount every step, so the step time is
        evaluated at the first, middle and last step and, where those lie on a line (the usual case:
        no op turns from memory- to compute-bound on the way), every step's time follows from it
        without the scheduler."""
        n, per_step, config = self.decoding, self.per_step, self.config
        grow = n * per_step
        room = (config.kv_blocks - self.kv_blocks_used()) * config.block_tokens / grow
        steps = (
            min(self.finishing[0][0] - self.iteration - 1, int(room) - 1) if self.finishing else 0
        )
        if steps < 1:
            return
        tokens, positions, context = n * self.positions, self.positions, self.decode_context
        step_time = self.step_time

        def time_at(j: float) -> float:
            keys = context + j * grow
            return step_time(StepShape(tokens, keys * positions, keys, n), 0)

        if self.paced:  # one sequence: its own pace and wake cost
            alone, plain = next(iter(self.running.values())), time_at

            def time_at(j: float) -> float:
                return plain(j) * alone.pace[1] + alone.wake[1]

        first, last = time_at(0), time_at(steps - 1)
        slope = (last - first) / (steps - 1) if steps > 1 else 0.0
        linear = steps < 3 or abs(time_at((steps - 1) / 2) - (first + last) / 2) <= 1e-9 * first
        now, done = self.now, 0
        itl, weights, timeline = self.itl_s, self.itl_weight, self.timeline
        in_system = self.in_system
        while done < steps and now < t:
            dt = first + slope * done if linear else time_at(done)
            now += dt
            self.area += in_system * dt
            itl.append(dt)
            weights.append(n)
            done += 1
            if now >= self.next_sample_s:
                timeline.append(
                    (now, 0, len(self.running), self.kv_blocks_used(done * grow) / config.kv_blocks)
                )
                self.next_sample_s = now + self.sample_every_s
        self.now = self.last_s = now
        self.decode_context += done * grow
        self.kv_tokens += done * grow
        self.iteration += done
        self.steps += done

    def _preempt(self) -> None:
        """Recompute the most recently admitted sequence: back to the head of the queue."""
        _, seq = self.running.popitem()
        if seq.state == "decoding":
            steps = self.iteration - seq.start_iter
            context = seq.context0 + steps * self.per_step
            seq.generated += steps * self.per_step
            self.decoding -= 1
            self.decode_context -= context
            self.kv_tokens -= context
            seq.target = seq.prompt + int(seq.generated)
        else:
            self.prefilling.remove(seq)
            self.kv_tokens -= seq.done
        seq.done, seq.cached = 0, 0
        seq.state = "preempted"
        seq.preemptions += 1
        self.preemptions += 1
        self.waiting.appendleft(seq)

    def step(self) -> None:
        """Schedule one batch, advance the clock by its time, and retire what it finished."""
        config = self.config
        # decodes first: make room for one step of growth, preempting the newest sequences
        while (
            self.decoding and self.kv_blocks_used(self.decoding * self.per_step) > config.kv_blocks
        ):
            self._preempt()
        budget = config.max_num_batched_tokens - self.decoding * self.positions
        tokens = self.decoding * self.positions
        pairs = self.decode_context * self.positions
        keys = self.decode_context
        seqs = self.decoding
        chunks: list[tuple[Seq, int]] = []
        for seq in self.prefilling:
            if budget <= 0:
                break
            chunk = min(seq.target - seq.done, budget)
            chunks.append((seq, chunk))
            budget -= chunk
        while self.waiting and budget > 0 and len(self.running) < config.max_num_seqs:
            seq = self.waiting[0]
            if seq.transferred and seq.state == "new":
                if self.kv_blocks_used(seq.prompt, 1) > config.kv_blocks and self.running:
                    break
                self.waiting.popleft()
                self._join_decode(seq)
                continue
            if seq.state == "new":
                seq.cached = self._prefix_hit(seq)
                seq.done = seq.cached
                if self.spread:
                    seq.pace = self.rng.choice(self.spread)
            remaining = seq.target - seq.done
            chunk = min(remaining, budget) if config.chunked_prefill else remaining
            if chunk > budget and (tokens or chunks):
                break  # without chunking, a whole prompt waits for a step with room for it
            if self.kv_blocks_used(seq.done + chunk, 1) > config.kv_blocks:
                if not self.running:
                    raise ValueError(
                        f"request {seq.index}: {seq.target} tokens do not fit in the KV cache "
                        f"({config.kv_blocks} blocks of {config.block_tokens})"
                    )
                break
            self.waiting.popleft()
            self.prefix_hit_tokens += seq.cached if seq.state == "new" else 0
            seq.state = "prefilling"
            self.prefilling.append(seq)
            self.running[seq.index] = seq
            self.kv_tokens += seq.done
            chunks.append((seq, chunk))
            budget -= chunk
        prefill_tokens = 0
        for seq, chunk in chunks:
            tokens += chunk
            prefill_tokens += chunk
            pairs += chunk_pairs(seq.done, chunk)
            keys += seq.done + chunk
            seqs += 1
        if not tokens:
            return
        self.max_step_tokens = max(self.max_step_tokens, tokens)
        self.max_step_seqs = max(self.max_step_seqs, seqs)
        dt = self.step_time(StepShape(tokens, pairs, keys, seqs), prefill_tokens)
        if self.paced:  # one sequence: its own pace and wake cost
            alone = next(iter(self.running.values()))
            dt = (
                dt * alone.pace[0] + alone.wake[0]
                if prefill_tokens
                else dt * alone.pace[1] + alone.wake[1]
            )
        if self.waiting:
            dt *= self.queued_factor
        self.steps += 1
        now = self.now = self.now + dt
        self._account(now)
        # decodes: every one gains per_step tokens
        if self.decoding:
            self.itl_s.append(dt)
            self.itl_weight.append(self.decoding)
            grown = self.decoding * self.per_step
            self.decode_context += grown
            self.kv_tokens += grown
        self.iteration += 1
        finishing = self.finishing
        while finishing and finishing[0][0] <= self.iteration:
            _, index = heapq.heappop(finishing)
            ending = self.running.get(index)  # None or not decoding: preempted since, a stale entry
            if ending is None or ending.state != "decoding" or ending.finish_iter != self.iteration:
                continue
            context = ending.context0 + (self.iteration - ending.start_iter) * self.per_step
            self.decoding -= 1
            self.decode_context -= context
            self.kv_tokens -= context
            self._finish(ending, now)
        for seq, chunk in chunks:
            seq.done += chunk
            self.kv_tokens += chunk
            if seq.done < seq.target:
                continue
            self.prefilling.remove(seq)
            if seq.preemptions and not math.isnan(
                seq.first_s
            ):  # recomputed: this pass makes its next token
                self.itl_s.append(now - seq.last_s)
                self.itl_weight.append(1)
            else:
                seq.first_s = now
            seq.generated += 1
            seq.last_s = now
            left = seq.output - seq.generated
            if left <= 0:
                self.kv_tokens -= seq.done
                self._finish(seq, now)
                continue
            self._start_decoding(seq, left)
        if now >= self.next_sample_s:
            self.timeline.append(
                (
                    now,
                    len(self.waiting),
                    len(self.running),
                    self.kv_blocks_used() / config.kv_blocks,
                )
            )
            self.next_sample_s = now + self.sample_every_s

    def _start_decoding(self, seq: Seq, left: float) -> None:
        seq.state = "decoding"
        seq.start_iter = self.iteration
        seq.finish_iter = self.iteration + math.ceil(left / self.per_step - 1e-9)
        seq.context0 = float(seq.done)
        self.decoding += 1
        self.decode_context += seq.done
        heapq.heappush(self.finishing, (seq.finish_iter, seq.index))

    def _join_decode(self, seq: Seq) -> None:
        """A sequence prefilled on another replica, its KV cache transferred: it decodes from the
        next step (its first token came from the prefill replica)."""
        self.running[seq.index] = seq
        seq.done = seq.target = seq.prompt
        self.kv_tokens += seq.done
        seq.generated = 1
        self._start_decoding(seq, seq.output - 1)

    def _prefix_hit(self, seq: Seq) -> int:
        config = self.config
        if config.prefix_hit_rate is not None:
            return hit_rate_tokens(seq.prompt, config.prefix_hit_rate, config.block_tokens)
        if seq.hash_ids:
            return self.prefix.lookup(seq.hash_ids, seq.prompt)
        return 0

    def _finish(self, seq: Seq, now: float) -> None:
        del self.running[seq.index]
        seq.state = "finished"
        seq.end_s = now
        self.in_system -= 1
        self.finished.append(seq)


ROUTERS = ("round-robin", "least-loaded")


def run_fleet(
    requests: Sequence[TraceRequest], replicas: Sequence[Replica], router: str = "round-robin"
) -> None:
    """Replay ``requests`` (in arrival order) on ``replicas``: each arrival goes to the next replica
    in turn (``round-robin``) or to the one with the fewest requests in it at that moment
    (``least-loaded``)."""
    run_seqs([Seq(index, request) for index, request in enumerate(requests)], replicas, router)


def run_seqs(seqs: Sequence[Seq], replicas: Sequence[Replica], router: str = "round-robin") -> None:
    """:func:`run_fleet` of sequences, each sent when it is ready (in order of ``ready_s``)."""
    if router not in ROUTERS:
        raise ValueError(f"router must be one of {', '.join(ROUTERS)}, got {router!r}")
    count = len(replicas)
    for number, seq in enumerate(seqs):
        t = seq.ready_s
        if router == "round-robin":
            target = replicas[number % count]
            target.run_until(t)
        else:
            for replica in replicas:
                replica.run_until(t)
            target = min(replicas, key=lambda r: r.outstanding)
        target.submit(seq)
    for replica in replicas:
        replica.drain()
        replica._account(replica.now)
