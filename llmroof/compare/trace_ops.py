"""``llmroof compare A.json B.json`` of two ``llmroof.trace/1`` results: each phase's mean step time and
each op (per phase) side by side, with their roofline fractions and a verdict.

A trace is one measurement a side, so there is no interval: a change counts when NEW/BASE is beyond the
threshold *and* beyond the run-to-run noise floor (``--noise-floor``, as compare applies it to one process
a side); beyond the threshold only, it is inconclusive. As in compare, the steps' times decide the exit
code and per-op times are reported only, unless ``--gate-ops`` makes them gate.
"""

from __future__ import annotations

import dataclasses
import io
import math
from pathlib import Path

from llmroof import schemas
from llmroof.compare.comparison import (
    EXIT_INCONCLUSIVE,
    EXIT_OK,
    EXIT_REGRESSION,
    CompareSettings,
)
from llmroof.errors import LlmroofError
from llmroof.results.records.compare_trace import (
    TraceCompareRecord,
    TraceCompareRow,
    TraceCompareSettings,
)
from llmroof.results.records.trace import TraceRecord
from llmroof.units import percent, seconds

VERDICTS = ("regression", "improvement", "unchanged", "inconclusive", "only in base", "only in new")


@dataclasses.dataclass(frozen=True, kw_only=True)
class TraceComparison:
    base: str
    new: str
    threshold: float
    noise_floor: float
    rows: tuple[TraceCompareRow, ...]
    differences: tuple[str, ...]
    """What differs between the traces beyond the code: model, hardware, dtype, layout."""

    def counts(self, gating: bool = True) -> dict[str, int]:
        counted = [r for r in self.rows if r.gates or not gating]
        return {v: sum(r.verdict == v for r in counted) for v in VERDICTS}

    def exit_code(self, fail_on: str) -> int:
        """compare's rules: 1 on a gating regression, 3 on a gating inconclusive row with
        ``fail_on="inconclusive"``, else 0."""
        counts = self.counts()
        if fail_on == "never":
            return EXIT_OK
        if counts["regression"]:
            return EXIT_REGRESSION
        if fail_on == "inconclusive" and counts["inconclusive"]:
            return EXIT_INCONCLUSIVE
        return EXIT_OK

    def verdict(self) -> str:
        counts = self.counts()
        for v in ("regression", "inconclusive", "improvement"):
            if counts[v]:
                return v
        return "unchanged"

    def record(self) -> TraceCompareRecord:
        """The ``llmroof.compare.trace/1`` record: what ``--format json`` writes and
        ``llmroof.load()`` reads."""
        return TraceCompareRecord(
            base=self.base,
            new=self.new,
            verdict=self.verdict(),
            counts=self.counts(),
            reported_counts=self.counts(gating=False),
            settings=TraceCompareSettings(threshold=self.threshold, noise_floor=self.noise_floor),
            differences=self.differences,
            rows=self.rows,
        )


def compare_traces(
    base: TraceRecord,
    new: TraceRecord,
    settings: CompareSettings,
    *,
    base_name: str = "BASE",
    new_name: str = "NEW",
) -> TraceComparison:
    """Phase by phase (mean step time) and op by op (time over the trace): NEW against BASE."""
    differences = _differences(base, new)
    if differences and not settings.allow_mismatch:
        raise LlmroofError(
            f"the traces differ in {'; '.join(differences)}",
            "pass --allow-mismatch to compare them anyway",
        )
    floor = max(settings.threshold, settings.noise_floor)
    gate_steps, gate_ops = True, settings.gate_ops
    rows: list[TraceCompareRow] = []
    for phase in _ordered({s.phase for s in base.steps} | {s.phase for s in new.steps}):
        b = _mean_step(base, phase)
        n = _mean_step(new, phase)
        rows.append(_row(phase, None, b, n, settings.threshold, floor, gate_steps))
    base_ops = {(o.phase, o.op): o for o in base.ops}
    new_ops = {(o.phase, o.op): o for o in new.ops}
    for key in sorted(base_ops.keys() | new_ops.keys(), key=lambda k: (_phase_rank(k[0]), k[1])):
        bo, no = base_ops.get(key), new_ops.get(key)
        rows.append(
            _row(
                key[0],
                key[1],
                (bo.time_s, bo.roofline_fraction) if bo else None,
                (no.time_s, no.roofline_fraction) if no else None,
                settings.threshold,
                floor,
                gate_ops,
            )
        )
    return TraceComparison(
        base=base_name,
        new=new_name,
        threshold=settings.threshold,
        noise_floor=settings.noise_floor,
        rows=tuple(rows),
        differences=tuple(differences),
    )


def _row(
    phase: str,
    op: str | None,
    base: tuple[float, float | None] | None,
    new: tuple[float, float | None] | None,
    threshold: float,
    floor: float,
    gates: bool,
) -> TraceCompareRow:
    base_s, new_s = (base[0] if base else None), (new[0] if new else None)
    verdict, reason = _verdict(base_s, new_s, threshold, floor)
    return TraceCompareRow(
        phase=phase,
        op=op,
        base_time_s=base_s,
        new_time_s=new_s,
        ratio=None if not base_s or new_s is None else new_s / base_s,
        base_roofline_fraction=base[1] if base else None,
        new_roofline_fraction=new[1] if new else None,
        verdict=verdict,
        reason=reason,
        gates=gates,
    )


def _verdict(
    base: float | None, new: float | None, threshold: float, floor: float
) -> tuple[str, str]:
    """One value a side: beyond the noise floor a regression (improvement); beyond the threshold only,
    inconclusive; else unchanged."""
    if base is None:
        return "only in new", "the op is not in BASE's trace"
    if new is None:
        return "only in base", "the op is not in NEW's trace"
    if base <= 0 or new <= 0 or not math.isfinite(base / new):
        return "inconclusive", "no ratio: a time is zero"
    worse = new / base
    if worse > 1 + floor:
        return "regression", _beyond(threshold, floor)
    if worse < 1 / (1 + floor):
        return "improvement", _beyond(threshold, floor)
    if worse > 1 + threshold or worse < 1 / (1 + threshold):
        return "inconclusive", f"within the {floor:.0%} run-to-run noise floor (one trace a side)"
    return "unchanged", f"within {threshold:.0%}"


def _beyond(threshold: float, floor: float) -> str:
    return (
        f"beyond {threshold:.0%}" if floor == threshold else f"beyond the {floor:.0%} noise floor"
    )


def _mean_step(record: TraceRecord, phase: str) -> tuple[float, float | None] | None:
    steps = [s for s in record.steps if s.phase == phase]
    if not steps:
        return None
    time = sum(s.time_s for s in steps) / len(steps)
    bound = sum(s.bound_s for s in steps) / len(steps)
    return time, (bound / time if time > 0 else None)


def _phase_rank(phase: str) -> int:
    return {"prefill": 0, "mixed": 1, "decode": 2}.get(phase, 3)


def _ordered(phases: set[str]) -> list[str]:
    return sorted(phases, key=lambda p: (_phase_rank(p), p))


def _differences(base: TraceRecord, new: TraceRecord) -> list[str]:
    pairs = [
        ("model", base.model.name, new.model.name),
        ("hardware", base.hardware.name, new.hardware.name),
        ("dtype", base.dtype, new.dtype),
        (
            "layout",
            f"tp={base.layout.tp} pp={base.layout.pp} ep={base.layout.ep}",
            f"tp={new.layout.tp} pp={new.layout.pp} ep={new.layout.ep}",
        ),
    ]
    return [f"{name}: {b} vs {n}" for name, b, n in pairs if b != n]


# --- reading and rendering ---------------------------------------------------------------------------


def trace_pair(base: Path, new: Path) -> tuple[TraceRecord, TraceRecord] | None:
    """Both records when BASE and NEW are both ``llmroof.trace/1`` files; None when neither is (the profile
    comparison reads them); an error when only one is."""
    from llmroof.results.io import read_json

    found: list[TraceRecord | None] = []
    for path in (base, new):
        record = None
        if path.is_file():
            data = read_json(path)
            if isinstance(data, dict) and data.get("schema") == schemas.TRACE:
                record = TraceRecord.from_dict(data, str(path))
        found.append(record)
    b, n = found
    if b is None and n is None:
        return None
    if b is None or n is None:
        raise LlmroofError(
            f"{new if b else base}: not an {schemas.TRACE} file, and the other one is",
            "compare two `llmroof trace --format json` results",
        )
    return b, n


def render_trace_comparison(comparison: TraceComparison, fmt: str) -> str:
    """``table``, ``markdown`` or ``json``."""
    if fmt == "json":
        from llmroof.results.io import dumps

        return dumps(comparison.record().to_dict()) + "\n"
    if fmt not in ("table", "markdown"):
        raise LlmroofError(
            f"--format {fmt}: not available for two traces", "use table, markdown or json"
        )
    header = ("what", "BASE", "NEW", "NEW/BASE", "of roof BASE", "of roof NEW", "verdict", "why")
    rows = [
        (
            r.label,
            seconds(r.base_time_s),
            seconds(r.new_time_s),
            "-" if r.ratio is None else f"{r.ratio:.3g}",
            percent(r.base_roofline_fraction),
            percent(r.new_roofline_fraction),
            r.verdict + ("" if r.gates else " (reported)"),
            r.reason,
        )
        for r in comparison.rows
    ]
    out = io.StringIO()
    out.write(f"{summary_line(comparison)}\n")
    for line in comparison.differences:
        out.write(f"differs: {line}\n")
    if fmt == "markdown":
        out.write("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n")
        for row in rows:
            out.write("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |\n")
        return out.getvalue()
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for row in (header, *rows):
        out.write("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() + "\n")
    return out.getvalue()


def summary_line(comparison: TraceComparison) -> str:
    counts = comparison.counts()
    shown = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    return (
        f"trace {comparison.base} -> {comparison.new}: {comparison.verdict()} "
        f"({shown or 'nothing gated'}; threshold {comparison.threshold:.0%}, "
        f"noise floor {comparison.noise_floor:.0%}, one trace a side)"
    )
