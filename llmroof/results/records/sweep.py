"""``llmroof.sweep/1``: one analysis per value of an axis (``llmroof analyze --sweep``), key by key in
``docs/json-schema.md``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llmroof import schemas
from llmroof.analytic.sweep import SweepRow as EngineRow
from llmroof.results.records.base import Record, many


@dataclass(frozen=True, kw_only=True)
class SweepRow(Record, EngineRow):
    """The analysis at one value of the swept axis: the engine's
    :class:`~llmroof.analytic.sweep.SweepRow` (whose fields say what each figure is), after the axis
    and its value."""

    FIRST = ("axis", "value")

    axis: str
    """The swept axis (repeated on every row for CSV)."""
    value: int
    """The axis value, sequences or tokens."""


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
