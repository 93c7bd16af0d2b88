"""Prompts of a given token length.

With a tokenizer (transformers' AutoTokenizer on a local model folder, the ``tokenizer`` extra): random
token ids decoded to text, re-encoded, and trimmed or extended until the text encodes to exactly the
length asked (decoding and re-encoding can merge tokens, so a few rounds may be needed; bounded).
Without one: words of a fixed list, their count scaled by the prompt tokens the server reports in
``usage`` for a probe (:func:`scale_words`), so the length is right on average, not exactly.
Every prompt starts with its own random words, so no two share a prefix the engine could cache.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WORDS = (
    "time",
    "memory",
    "bandwidth",
    "token",
    "model",
    "layer",
    "cache",
    "batch",
    "river",
    "stone",
    "light",
    "window",
    "garden",
    "number",
    "signal",
    "music",
    "paper",
    "orange",
    "silver",
    "market",
)
MAX_ROUNDS = 20


@dataclass(frozen=True, slots=True)
class Tokenizer:
    """The few calls of a transformers tokenizer llmroof uses."""

    encode: Callable[[str], list[int]]
    decode: Callable[[list[int]], str]
    vocab_size: int
    special_ids: frozenset[int]
    source: str

    def count(self, text: str) -> int:
        return len(self.encode(text))


def load_tokenizer(name_or_path: str | None) -> Tokenizer | None:
    """A local folder's tokenizer through transformers, or None (no folder, no tokenizer files, or no
    transformers installed). Never downloads: ``local_files_only``."""
    if not name_or_path or not Path(name_or_path).is_dir():
        return None
    folder = Path(name_or_path)
    if not any(
        (folder / name).exists() for name in ("tokenizer.json", "tokenizer.model", "vocab.json")
    ):
        return None
    try:
        from transformers import AutoTokenizer
    except ImportError:
        return None
    try:
        tok: Any = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except Exception:
        return None
    return Tokenizer(
        encode=lambda text: tok.encode(text, add_special_tokens=False),
        decode=lambda ids: tok.decode(ids, skip_special_tokens=True),
        vocab_size=len(tok),
        special_ids=frozenset(tok.all_special_ids),
        source=str(folder),
    )


def exact_prompt(tokenizer: Tokenizer, length: int, rng: random.Random) -> tuple[str, int]:
    """Text that encodes to ``length`` tokens (or the closest reached in :data:`MAX_ROUNDS` rounds);
    returns (text, its token count)."""
    usable = [i for i in range(tokenizer.vocab_size) if i not in tokenizer.special_ids]
    clean: dict[int, bool] = {}

    def pick() -> int:
        """A random token that decodes to text encoding back to itself (a partial UTF-8 byte does not)."""
        for _ in range(1000):
            i = rng.choice(usable)
            if i not in clean:
                clean[i] = tokenizer.encode(tokenizer.decode([i])) == [i]
            if clean[i]:
                return i
        return rng.choice(usable)

    ids = [pick() for _ in range(length)]
    best: tuple[str, int] | None = None
    for _ in range(MAX_ROUNDS):
        text = tokenizer.decode(ids)
        n = tokenizer.count(text)
        if best is None or abs(n - length) < abs(best[1] - length):
            best = (text, n)
        if n == length:
            return text, n
        if n > length:
            ids = tokenizer.encode(text)[:length]
        else:
            ids = tokenizer.encode(text) + [pick() for _ in range(length - n)]
    assert best is not None
    return best


def word_prompt(words: int, rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(max(1, words)))


def scale_words(words: int, reported_tokens: int, length: int) -> int:
    """Words for ``length`` tokens, from a probe of ``words`` words the server counted as ``reported_tokens``."""
    return max(1, round(words * length / max(1, reported_tokens)))
