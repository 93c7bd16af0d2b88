"""Render a results record into one self-contained HTML page, and write it atomically.

The page is jinja2 (autoescaping on) from ``report.html.j2``, which extends ``base.html.j2`` and includes
one partial per section. Each section is built by the view of the record's schema; a section whose data
the record lacks is left out, and one the record holds but cannot be read (an older or hand-edited file)
is named in a note rather than stopping the report. The profile and bench views read the typed record
(``ProfileRecord``, ``BenchResult``): a file that does not read as one (a value of the wrong type) is
refused in one line.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from llmroof import schemas
from llmroof.errors import LlmroofError
from llmroof.report import analysis_view, answer, bench_view, profile_view
from llmroof.results.html import template_environment
from llmroof.results.io import check_shape, dumps, write_text_atomic
from llmroof.results.records.bench import BenchResult
from llmroof.results.records.profile import ProfileRecord
from llmroof.units import si
from llmroof.version import __version__

TEMPLATE = "report.html.j2"
TRACE_TEMPLATE = "report_trace.html.j2"
SCHEMAS = {schemas.ANALYSIS: "analytic", schemas.PROFILE: "measured", schemas.BENCH: "bench"}
VIEWS = {"analytic": analysis_view, "measured": profile_view, "bench": bench_view}
SECTIONS = (
    "headline",
    "roofline",
    "bytes",
    "sweeps",
    "attention",
    "parallel",
    "nvml",
    "ops",
    "spread",
    "environment",
    "bench",
)
"""Every section, in page order; a view builds those its kind of record can have."""
RECORD_OBJECTS = (
    "model",
    "device",
    "workload",
    "ceilings",
    "roofline",
    "nvml",
    "environment",
    "parallel",
    "hardware",
    "phases",
    "memory",
    "crossover",
)
RECORD_LISTS = ("configs", "ops")
"""Containers of both schemas, checked before a view reads into them (a hand-edited ``"configs": "abc"``)."""
DATA_URI_LIMIT_BYTES = 1_500_000
"""Above this a data: link is not written (browsers cap them); the page's script makes a blob link instead."""


def environment() -> Any:
    return template_environment(TEMPLATE)


def kind_of(data: dict[str, Any]) -> str:
    """``analytic`` or ``measured``; a clear error for any other file."""
    schema = data.get("schema")
    if schema in SCHEMAS:
        return SCHEMAS[schema]
    if schema == schemas.SWEEP:
        raise LlmroofError(
            "a sweep file has no model or hardware record to report on",
            "write the report with `llmroof analyze ... --sweep ... --html FILE`",
        )
    raise LlmroofError(
        f"cannot report on schema {schema!r}", f"expected one of {', '.join(SCHEMAS)}"
    )


def view_input(data: dict[str, Any], source: str = "results") -> Any:
    """What the view of ``data``'s kind reads: a profile's or a bench's typed record (a file that is not
    one is refused here, in one line), the file's object for an analysis."""
    kind = kind_of(data)
    if kind == "measured":
        return ProfileRecord.from_dict(data, source)
    if kind == "bench":
        return BenchResult.from_dict(data, source)
    return data


def build_sections(data: dict[str, Any], record: Any = None) -> tuple[dict[str, Any], list[str]]:
    """(sections by name, the names of sections left out because the record could not be read for them).
    ``record``: :func:`view_input` of ``data``, where the caller has it already."""
    view = VIEWS[kind_of(data)]
    record = view_input(data) if record is None else record
    sections: dict[str, Any] = dict.fromkeys(SECTIONS)
    omitted: list[str] = []
    for name, build in view.BUILDERS:
        try:
            sections[name] = build(record)
        except (
            KeyError,
            TypeError,
            ValueError,
            AttributeError,
            ZeroDivisionError,
            LlmroofError,
        ) as exc:
            sections[name] = None
            omitted.append(f"{name} ({type(exc).__name__}: {exc})")
    return sections, omitted


def render_report(
    data: dict[str, Any],
    *,
    raw_text: str | None = None,
    source: str = "results",
    filename: str = "results.json",
) -> str:
    """The HTML page of an ``llmroof.analysis/1`` or ``llmroof.profile/1`` record.

    ``raw_text``: the file's own text, embedded for download (default: the record as JSON).
    """
    kind = kind_of(data)
    view = VIEWS[kind]
    if kind != "bench":
        check_shape(
            data,
            source,
            objects=RECORD_OBJECTS,
            lists=RECORD_LISTS,
            required=("model",),
            nullable=("hardware", "parallel"),
            hint="truncated or edited by hand? write it again with llmroof",
        )
    record = view_input(data, source)
    try:
        title, subtitle = view.title(record)
    except (KeyError, TypeError, AttributeError) as exc:
        raise LlmroofError(
            f"{source}: not a complete {data.get('schema')} record (missing {exc})"
        ) from None
    sections, omitted = build_sections(data, record)
    context = {
        "title": title,
        "subtitle": subtitle,
        "kind": kind,
        "sections": sections,
        "omitted": omitted,
        "answer": answer.for_record(data),
        "problems": view.problems(record) if kind != "analytic" else [],
        "raw": raw_block(dumps(data) if raw_text is None else raw_text, filename),
        "schema": data.get("schema"),
        "source": source,
        "version": __version__,
    }
    return environment().get_template(TEMPLATE).render(**context)


def raw_block(text: str, filename: str) -> dict[str, Any]:
    """The results as embedded: the text, its size, and a data: URI while it is small enough."""
    encoded = text.encode("utf-8")
    uri = None
    if len(encoded) <= DATA_URI_LIMIT_BYTES:
        uri = "data:application/json;base64," + base64.b64encode(encoded).decode("ascii")
    return {"text": text, "size": si(len(encoded), "B"), "data_uri": uri, "filename": filename}


def write_report(
    data: dict[str, Any],
    path: str | Path,
    *,
    raw_text: str | None = None,
    source: str = "results",
    filename: str | None = None,
) -> Path:
    """Render ``data`` and write the page to ``path`` atomically; returns the path.

    ``source`` names where the record came from (shown in the page); ``filename`` is the name the embedded
    results download under (default: the source's file name, else ``results.json``).
    """
    path = Path(path)
    html = render_report(
        data, raw_text=raw_text, source=source, filename=filename or _download_name(source)
    )
    return write_text_atomic(path, html)


def default_report_path(results: Path) -> Path:
    """``run/results.json`` -> ``run/report.html`` (as ``llmroof profile`` writes it); ``a.json`` -> ``a.html``."""
    return (
        results.with_name("report.html")
        if results.name == "results.json"
        else results.with_suffix(".html")
    )


def report_target(results: Path, out: str | Path | None) -> Path:
    """Where the report of ``results`` goes: ``out`` (a file, or a folder to hold ``report.html``), else
    :func:`default_report_path`."""
    target = default_report_path(results) if out is None else Path(out)
    if target.is_dir():
        target = target / "report.html"
    if target.resolve() == results.resolve():
        raise LlmroofError(
            f"{target}: the report would overwrite the results file", "choose another -o"
        )
    return target


def report_file(results: str | Path, out: str | Path | None = None) -> Path:
    """Read a results file and write its report (see :func:`report_target`); returns the report's path."""
    from llmroof.results.io import read_json_and_text

    results = Path(results)
    from llmroof.results.records import SCHEMAS as RECORDS

    data, raw = read_json_and_text(results, "llmroof.")
    if data.get("schema") == schemas.TRACE:  # a page of its own (llmroof/report/trace_view.py)
        from llmroof.results.records.trace import TraceRecord

        record = TraceRecord.from_dict(data, str(results))
        return write_trace_report(record, report_target(results, out), source=str(results))
    if (
        kind_of(data) == "bench"
    ):  # the view is the record: every field checked (type, finiteness) first;
        RECORDS[data["schema"]].from_dict(
            data, str(results)
        )  # other views leave out what they cannot read
    target = report_target(results, out)
    return write_report(data, target, raw_text=raw, source=str(results))


def render_trace(record: Any, *, source: str = "trace") -> str:
    """The page of one :class:`~llmroof.results.records.trace.TraceRecord` (``report_trace.html.j2``, its
    sections built by :mod:`llmroof.report.trace_view`)."""
    from llmroof.report import trace_view

    heading, subtitle = trace_view.title(record)
    context = {
        "title": heading,
        "subtitle": subtitle,
        "answer": answer.trace_answer(record),
        "roofline": trace_view.roofline_section(record),
        "ops": trace_view.ops_section(record),
        "steps": trace_view.steps_section(record),
        "categories": trace_view.categories_section(record),
        "files": record.files,
        "raw": raw_block(dumps(record.to_dict()), "trace.json"),
        "schema": record.SCHEMA,
        "source": source,
        "version": __version__,
    }
    return str(environment().get_template(TRACE_TEMPLATE).render(**context))


def write_trace_report(record: Any, path: str | Path, *, source: str = "trace") -> Path:
    """Render a trace's page and write it atomically; returns its path."""
    return write_text_atomic(Path(path), render_trace(record, source=source))


def _download_name(source: str) -> str:
    name = Path(source).name
    return name if name.endswith(".json") else "results.json"
