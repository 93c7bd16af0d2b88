"""The one library call behind ``llmroof compare``: BASE and NEW (profile runs, folders of repeated
runs, or two traces), or NEW against a history's last runs of the base branch."""

from __future__ import annotations

from pathlib import Path

from llmroof.compare.comparison import CompareSettings, Comparison, compare_paths
from llmroof.compare.trace_ops import TraceComparison
from llmroof.errors import LlmroofError


def compare_command(
    base: Path,
    new: Path | None,
    settings: CompareSettings,
    *,
    history: str | None = None,
    history_runs: int = 10,
    base_branch: str | None = None,
) -> Comparison | TraceComparison:
    """``base`` against ``new``, metric by metric (two ``llmroof.trace/1`` files: phase by phase and op
    by op); with ``history`` (a database), ``base`` is the run under test and the base is that
    history's last ``history_runs`` runs of ``base_branch`` on its machine."""
    if history is not None:
        if new is not None:
            raise LlmroofError("with --history, pass only NEW", "llmroof compare --history DB NEW")
        from llmroof.history.gate import HistoryBase, compare_with_history
        from llmroof.history.store import open_store

        with open_store(history, readonly=True) as store:
            return compare_with_history(
                store, base, settings, HistoryBase(runs=history_runs, branch=base_branch)
            )
    if new is None:
        raise LlmroofError(
            "compare needs BASE and NEW", "llmroof compare BASE NEW, or --history DB NEW"
        )
    from llmroof.compare.trace_ops import compare_traces, trace_pair

    traces = trace_pair(base, new)
    if traces is not None:
        return compare_traces(*traces, settings, base_name=str(base), new_name=str(new))
    return compare_paths(base, new, settings)
