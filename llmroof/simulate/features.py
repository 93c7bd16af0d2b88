"""Prefix caching and speculative decoding, as the simulator models them.

- :class:`PrefixCache`: block-level prefix hits, an LRU of block hashes (vLLM's automatic prefix
  caching: a request reuses the longest run of its leading full blocks already cached; a partial
  last block is never cached, so a prompt shorter than one block never hits; at least one prompt
  token is always computed).
- :func:`speculative_tokens_per_step`: k draft tokens, each accepted with probability a
  independently, the target verifying all k + 1 positions in one pass: (1 - a^(k+1)) / (1 - a)
  tokens per step on average (Leviathan et al. 2023, eq. 1). :func:`speculative_monte_carlo` draws
  the same process.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Sequence


class PrefixCache:
    """An LRU of full prompt blocks keyed by their hash, ``capacity_blocks`` at most."""

    def __init__(self, capacity_blocks: int, block_tokens: int) -> None:
        if capacity_blocks < 0 or block_tokens < 1:
            raise ValueError("capacity_blocks must be >= 0 and block_tokens >= 1")
        self.capacity_blocks, self.block_tokens = capacity_blocks, block_tokens
        self.blocks: OrderedDict[int, None] = OrderedDict()

    def lookup(self, hash_ids: Sequence[int], prompt_tokens: int) -> int:
        """Prompt tokens served from the cache; then the prompt's full blocks become the most
        recently used."""
        full = hash_ids[: prompt_tokens // self.block_tokens]
        hits = 0
        for block in full:
            if block not in self.blocks:
                break
            hits += 1
        for block in full:
            self.blocks[block] = None
            self.blocks.move_to_end(block)
        while len(self.blocks) > self.capacity_blocks:
            self.blocks.popitem(last=False)
        return min(hits * self.block_tokens, prompt_tokens - 1)


def hit_rate_tokens(prompt_tokens: int, hit_rate: float, block_tokens: int) -> int:
    """Prompt tokens served from the cache at a given hit rate: whole blocks, at least one token
    computed."""
    blocks = int(prompt_tokens * hit_rate) // block_tokens
    return max(0, min(blocks * block_tokens, prompt_tokens - 1))


def speculative_tokens_per_step(k: int, acceptance: float) -> float:
    """Expected tokens a sequence gains per verification step: (1 - a^(k+1)) / (1 - a); k + 1 when a
    = 1."""
    if k < 0 or not 0 <= acceptance <= 1:
        raise ValueError("k must be >= 0 and the acceptance rate in [0, 1]")
    if acceptance == 1:
        return k + 1.0
    return (1 - acceptance ** (k + 1)) / (1 - acceptance)


def speculative_monte_carlo(k: int, acceptance: float, draws: int, seed: int = 0) -> float:
    """Mean tokens per step over ``draws`` steps: drafts accepted until the first rejection (at most
    k), plus the one token the target always adds (the correction, or the bonus token after k
    acceptances)."""
    rng = random.Random(seed)
    total = 0
    for _ in range(draws):
        accepted = 0
        while accepted < k and rng.random() < acceptance:
            accepted += 1
        total += accepted + 1
    return total / draws
