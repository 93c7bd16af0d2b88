"""``llmroof.comm/1``: collective bandwidth in the nccl-tests convention (``llmroof comm --format json``),
key by key in ``docs/parallelism.md``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llmroof import schemas
from llmroof.results.records.base import Record, many, opt


@dataclass(frozen=True, kw_only=True)
class CommRow(Record):
    """One collective at one message size: the slowest rank's median."""

    op: str
    """``all_reduce``, ``all_gather`` or ``send_recv``."""
    size_bytes: int
    """Message size."""
    ranks: int
    """Ranks taking part."""
    time_s: float
    """Median time of one call on the slowest rank."""
    algbw_bytes_per_s: float
    """size / time."""
    busbw_bytes_per_s: float
    """algbw × the op's bus factor (nccl-tests)."""
    predicted_time_s: float | None = opt()
    """The ring model's time."""
    predicted_busbw_bytes_per_s: float | None = opt()
    """The ring model's bus bandwidth."""
    measured_to_predicted: float | None = opt()
    """busbw / predicted busbw."""
    prediction_link: str | None = opt()
    """The link the prediction used."""


@dataclass(frozen=True, kw_only=True)
class RankTime(Record):
    """One rank's median time of one op and size."""

    rank: int
    """Rank."""
    op: str
    """The collective."""
    size_bytes: int
    """Message size."""
    time_s: float
    """Median time of one call."""


@dataclass(frozen=True, kw_only=True)
class CommRecord(Record):
    """A whole ``llmroof.comm/1`` file."""

    SCHEMA = schemas.COMM

    ranks: int
    """Processes."""
    backend: str
    """``gloo`` or ``nccl``."""
    iterations: int
    """Timed calls per op and size."""
    convention: str
    """The bandwidth convention, in words."""
    prediction: str | None
    """The link model, in words."""
    rows: tuple[CommRow, ...] = many(CommRow)
    """One per op and size."""
    per_rank: tuple[RankTime, ...] = many(RankTime, default=())
    """Every rank's median time."""

    def to_pandas(self, *, ops: bool = False) -> Any:
        """One row per op and message size (``ops=True``: per rank too)."""
        import pandas as pd

        return pd.DataFrame([r.to_dict() for r in (self.per_rank if ops else self.rows)])
