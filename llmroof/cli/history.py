"""``llmroof history add|show|check|export``: every CI run kept in a database (SQLite by default,
PostgreSQL for a team), trends with change points, and a gate that reads the history. Needs no torch;
matplotlib only for ``--format html``, psycopg only for a ``postgresql://`` database."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from llmroof.cli.options import Given

if TYPE_CHECKING:
    from llmroof.history.detect import DetectSettings
    from llmroof.history.trend import Selection


def history_add(given: Given) -> None:
    from llmroof.history.provenance import provenance
    from llmroof.history.trend import add_to_history
    from llmroof.report.console.history import print_added

    where = provenance(**given.pick(provenance))
    added = add_to_history(
        given.db, given.results, where, machine=given.machine, timeout_s=given.timeout
    )
    print_added(added)


def history_show(given: Given) -> None:
    from llmroof.history.trend import read_trends
    from llmroof.report.console.history import print_result

    record = read_trends(given.db, _selection(given), _detect(given))
    print_result(record, given.fmt, given.out)


def history_check(given: Given) -> None:
    from llmroof.history.trend import read_trends
    from llmroof.ranges import parse_threshold
    from llmroof.report.console.history import print_check

    limit = parse_threshold(given.threshold)
    selection, detect = _selection(given), _detect(given)
    record = read_trends(
        given.db, selection, detect, command="check", threshold=limit, since=given.since
    )
    print_check(record, given.fmt, given.out, given.step_summary)
    if record.verdict == "regression":
        raise typer.Exit(1)


def history_export(given: Given) -> None:
    from llmroof.history.detect import DetectSettings
    from llmroof.history.trend import read_trends
    from llmroof.report.console.history import print_export

    print_export(read_trends(given.db, _selection(given), DetectSettings()), given.out)


def _selection(given: Given) -> Selection:
    from llmroof.history.trend import Selection

    return given.build(Selection, metrics=tuple(given.metrics or ()))


def _detect(given: Given) -> DetectSettings:
    from llmroof.errors import LlmroofError
    from llmroof.history.detect import DetectSettings
    from llmroof.ranges import parse_threshold

    min_size = parse_threshold(given.min_size, "--min-size")
    try:
        return DetectSettings(alpha=given.alpha, min_segment=given.min_segment, min_size=min_size)
    except ValueError as exc:
        raise LlmroofError(str(exc)) from None
