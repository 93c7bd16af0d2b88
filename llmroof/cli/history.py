"""``llmroof history add|show|check|export``: every CI run kept in a database (SQLite by default,
PostgreSQL for a team), trends with change points, and a gate that reads the history. Needs no torch;
matplotlib only for ``--format html``, psycopg only for a ``postgresql://`` database."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from llmroof.cli.options import OutFile, StepSummary, settings

if TYPE_CHECKING:
    from llmroof.history.detect import DetectSettings
    from llmroof.history.trend import Selection

history_app = typer.Typer(
    name="history",
    no_args_is_help=True,
    add_completion=False,
    help="Every CI run in a database: add results, show trends, check for regressions.",
)

DB_HELP = (
    "The history: a SQLite file, or postgresql://user@host/db (default $LLMROOF_HISTORY, else "
    "llmroof-history.sqlite)."
)


class HistoryFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"
    html = "html"


def _db_option() -> Any:
    return typer.Option(None, "--db", help=DB_HELP, show_default=False)


@history_app.command("add")
def add(
    results: list[Path] = typer.Argument(
        ...,
        show_default=False,
        help="Results files (profile, --repeat, bench, compare --format json).",
    ),
    db: str | None = _db_option(),
    commit: str | None = typer.Option(
        None, "--commit", help="Commit (default: the CI's variable, else git)."
    ),
    branch: str | None = typer.Option(
        None, "--branch", help="Branch (default: the CI's variable, else git)."
    ),
    time: str | None = typer.Option(
        None, "--time", help="ISO 8601 time (default: the commit's time, else now)."
    ),
    machine: str | None = typer.Option(
        None, "--machine", help="Machine fingerprint (default: the calibration's)."
    ),
    timeout: float = typer.Option(
        30.0, "--timeout", min=0.0, help="Seconds to wait for a locked database."
    ),
) -> None:
    """Add results to the history; re-adding a file changes nothing."""
    from llmroof.history.provenance import provenance
    from llmroof.history.trend import add_to_history
    from llmroof.report.console.history import print_added

    where = provenance(commit=commit, branch=branch, time=time)
    print_added(add_to_history(db, results, where, machine=machine, timeout_s=timeout))


def _selection(ctx: typer.Context, metrics: list[str] | None) -> Selection:
    from llmroof.history.trend import Selection

    return settings(Selection, ctx, metrics=tuple(metrics or ()))


def _settings(alpha: float, min_segment: int, min_size: str) -> DetectSettings:
    from llmroof.errors import LlmroofError
    from llmroof.history.detect import DetectSettings
    from llmroof.ranges import parse_threshold

    try:
        return DetectSettings(
            alpha=alpha, min_segment=min_segment, min_size=parse_threshold(min_size, "--min-size")
        )
    except ValueError as exc:
        raise LlmroofError(str(exc)) from None


# Options that several history commands share: declared once (a typer.Option is a plain default).
MACHINE_OPTION = typer.Option(None, "--machine", help="Only this machine fingerprint.")
CONFIG_OPTION = typer.Option(
    None, "--config", "-c", help="Only configurations containing this text."
)
METRIC_OPTION = typer.Option(None, "--metric", "-M", help="Only this metric (repeatable).")
BRANCH_OPTION = typer.Option(None, "--branch", help="Only runs of this branch.")
LAST_OPTION = typer.Option(
    None, "--last", "-n", min=1, help="Only the newest N runs of each series."
)
FMT_OPTION = typer.Option(
    HistoryFormat.table, "--format", "-f", help="table, json, csv, markdown, html."
)
ALPHA_OPTION = typer.Option(0.05, "--alpha", help="False-alarm level of the change-point test.")
MIN_SEGMENT_OPTION = typer.Option(
    5, "--min-segment", min=2, help="Fewest runs on each side of a change."
)
MIN_SIZE_OPTION = typer.Option(
    "1%", "--min-size", help="Smallest change of the median that counts."
)


@history_app.command("show")
def show(
    ctx: typer.Context,
    db: str | None = _db_option(),
    machine: str | None = MACHINE_OPTION,
    config: str | None = CONFIG_OPTION,
    metrics: list[str] | None = METRIC_OPTION,
    branch: str | None = BRANCH_OPTION,
    last: int | None = LAST_OPTION,
    fmt: HistoryFormat = FMT_OPTION,
    out: OutFile = None,
    alpha: float = ALPHA_OPTION,
    min_segment: int = MIN_SEGMENT_OPTION,
    min_size: str = MIN_SIZE_OPTION,
) -> None:
    """Each series' trend and change points."""
    from llmroof.history.trend import read_trends
    from llmroof.report.console.history import print_result

    detect = _settings(alpha, min_segment, min_size)
    record = read_trends(db, _selection(ctx, metrics), detect)
    print_result(record, fmt.value, out)


@history_app.command("check")
def check(
    ctx: typer.Context,
    db: str | None = _db_option(),
    threshold: str = typer.Option(
        "5%", "--threshold", "-t", help="Smallest regression that fails: 5% or 0.05."
    ),
    since: str | None = typer.Option(
        None,
        "--since",
        help="Gate only on changes that began at or after this "
        "commit, date or Nd (default: the merge base with main; all on main).",
    ),
    machine: str | None = MACHINE_OPTION,
    config: str | None = CONFIG_OPTION,
    metrics: list[str] | None = METRIC_OPTION,
    branch: str | None = BRANCH_OPTION,
    last: int | None = LAST_OPTION,
    fmt: HistoryFormat = FMT_OPTION,
    out: OutFile = None,
    alpha: float = ALPHA_OPTION,
    min_segment: int = MIN_SEGMENT_OPTION,
    min_size: str = MIN_SIZE_OPTION,
    step_summary: StepSummary = True,
) -> None:
    """The newest change point of each series; exit 1 when one is a regression beyond --threshold that
    began at or after --since, else 0."""
    from llmroof.history.trend import read_trends
    from llmroof.ranges import parse_threshold
    from llmroof.report.console.history import print_check

    detect = _settings(alpha, min_segment, min_size)
    limit = parse_threshold(threshold)
    selection = _selection(ctx, metrics)
    record = read_trends(db, selection, detect, command="check", threshold=limit, since=since)
    print_check(record, fmt.value, out, step_summary)
    if record.verdict == "regression":
        raise typer.Exit(1)


@history_app.command("export")
def export(
    ctx: typer.Context,
    db: str | None = _db_option(),
    machine: str | None = MACHINE_OPTION,
    config: str | None = CONFIG_OPTION,
    metrics: list[str] | None = METRIC_OPTION,
    branch: str | None = BRANCH_OPTION,
    out: OutFile = None,
) -> None:
    """CSV in the layout Apache Otava reads: time, commit, branch, then one column per series."""
    from llmroof.history.detect import DetectSettings
    from llmroof.history.trend import read_trends
    from llmroof.report.console.history import print_export

    selection = _selection(ctx, metrics)
    print_export(read_trends(db, selection, DetectSettings()), out)


def register(app: typer.Typer) -> None:
    app.add_typer(history_app, name="history")
