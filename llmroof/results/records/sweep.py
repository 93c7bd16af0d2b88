"""``llmroof.sweep/1``: one analysis per value of an axis (``llmroof analyze --sweep``), key by key in
``docs/json-schema.md``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llmroof import schemas
from llmroof.results.records.base import Record, many


@dataclass(frozen=True, kw_only=True)
class SweepRow(Record):
    """The analysis at one value of the swept axis."""

    axis: str
    """The swept axis (repeated on every row for CSV)."""
    value: int
    """The axis value, sequences or tokens."""
    model: str
    """Model name."""
    hardware: str
    """Catalog key of the device."""
    batch: int
    """b, sequences."""
    prompt_len: int
    """s, tokens."""
    context_len: int
    """c, tokens."""
    tp: int
    """Tensor-parallel degree."""
    pp: int
    """Pipeline stages."""
    weight_dtype: str
    """Dtype of the decoder's linear weights."""
    kv_dtype: str
    """KV-cache dtype."""
    ttft_s: float
    """Time to first token (analytic lower bound)."""
    tpot_s: float
    """Time per output token (analytic lower bound)."""
    tokens_per_s: float | None
    """Decode throughput."""
    bytes_per_token: float
    """Decode bytes per generated token."""
    decode_intensity: float | None
    """Decode FLOP/byte."""
    decode_bound: str
    """``compute`` or ``memory``."""
    prefill_bound: str
    """``compute`` or ``memory``."""
    fits: bool
    """Weights and KV cache fit."""


@dataclass(frozen=True, kw_only=True)
class SweepRecord(Record):
    """A whole ``llmroof.sweep/1`` file."""

    SCHEMA = schemas.SWEEP

    model: str
    """Model name."""
    hardware: str
    """Catalog key of the device."""
    axis: str
    """``batch``, ``context`` or ``prompt``."""
    rows: tuple[SweepRow, ...] = many(SweepRow)
    """One per value, in the order given."""
    crossover_value: int | None
    """First value whose decode step turns compute-bound; None if it never does."""

    def to_pandas(self, *, ops: bool = False) -> Any:
        """One row per swept value (a sweep keeps no ops)."""
        import pandas as pd

        return pd.DataFrame([row.to_dict() for row in self.rows])
