"""``llmroof.grid/1``: the frontier of a grid sweep (``llmroof analyze --sweep A=... --sweep B=...``), key by
key in ``docs/json-schema.md``. The rows of the grid itself go to ``--out`` as CSV or JSON lines."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmroof import schemas
from llmroof.results.records.base import Record, many, seq


@dataclass(frozen=True, kw_only=True)
class FrontierRow(Record):
    """One layout at one (prompt, context): where decode turns compute-bound and where memory runs out along
    the swept batches."""

    model: str
    """Model name."""
    hardware: str
    """Catalog key of the device."""
    tp: int
    """Tensor-parallel degree."""
    pp: int
    """Pipeline stages."""
    weight_dtype: str
    """Dtype of the decoder's linear weights."""
    kv_dtype: str
    """KV-cache dtype."""
    prompt_len: int
    """s, tokens."""
    context_len: int
    """c, tokens."""
    compute_bound_batch: int | None
    """Smallest swept batch whose decode step is compute-bound; None if none is."""
    max_fitting_batch: int | None
    """Largest swept batch that fits in memory; None if none does."""
    tpot_s: float | None
    """Decode TPOT at ``max_fitting_batch``."""
    tokens_per_s: float | None
    """Decode throughput at ``max_fitting_batch``."""
    max_batch: int
    """The memory model's largest batch at max(prompt, context) tokens, swept or not."""


@dataclass(frozen=True, kw_only=True)
class GridRecord(Record):
    """A whole ``llmroof.grid/1`` file."""

    SCHEMA = schemas.GRID

    axes: Mapping[str, list[Any]]
    """Every swept axis and its values, as parsed, in the order given."""
    points: int
    """Configurations evaluated (rows written)."""
    out: str | None
    """The file the rows went to; None if they were not kept."""
    skipped: tuple[str, ...] = seq()
    """Layouts left out (a tp or pp the model does not allow), and why."""
    frontier: tuple[FrontierRow, ...] = many(FrontierRow)
    """One per layout, prompt and context, in row order."""

    def to_pandas(self, *, ops: bool = False) -> Any:
        """One row per layout, prompt and context of the frontier (a grid keeps no ops)."""
        import pandas as pd

        return pd.DataFrame([row.to_dict() for row in self.frontier])
