"""Results travel as typed records: code outside ``llmroof/results/records/`` reads their fields as attributes,
not through string keys. This counts the reads of record field names by string (``x["tpot_s"]``,
``x.get("tpot_s")``) in llmroof/ and kernels/, and fails when they grow (issue 21).

0.2.0 had 961 such reads; the limit below is the count after the profile summary, the analysis, plan, bench,
sample and comm tables read records. Lower it as views move to records (``report/profile_view.py`` holds
most of the rest). It may rise only when a record gains fields (a ``Mapping`` field made a record: reads of its
keys that were there before now count, as when ``configs[].measured`` became ParallelMeasured and ``repeat``
RepeatInfo: 731 -> 739); never for new reads.

739 -> 942 when issues 19-25 merged: the new records (grid, ceilings, trace, simulate, history) add field names
that reads already there now match, and the report's answer block (``report/answer.py``, 99) reads the profile
and bench files as dicts. That module is the next to move to records.
942 -> 947: bench levels gained ``profile`` (LevelProfile: started, stopped, trace_dir, trace_files, note), whose
names match reads that were already there (no new read).
947 -> 691: the profile report (``report/profile_view.py``, 301 -> 55, and the profile half of
``report/rebuild.py``, 38 -> 28) reads the ``ProfileRecord`` that ``report/render.py`` reads at the boundary;
what is left there are keys of its free-form ``Mapping`` fields (parallel, nvml, crossover, repeat metrics).
691 -> 571: the report's answer block (``report/answer.py``, 99 -> 6) and the rest of ``report/rebuild.py``
(-> 2) read the records (``answer.for_record`` reads a file's object into its record).
571 -> 436: compare and history read a typed comparable run (``compare.load.Run``: comparison 38 -> 0,
history/gate 24 -> 0; compare/load.py's boundary reader reads the file through ``_get``/``_optional``, counted
here as the subscripts they stand for: 22 -> 53), measure/comm builds its record in runs/comm (12 -> 0),
results/repeat reads ConfigResult (21 -> 6), plan/calibration (11 -> 3), measure/profile (53 -> 43).
436 -> 306: the report views (bench_view, console sweep, simulate, sample: -> 0; console ceilings, profile
-> 7), simulate's settings, step model and --against rows as records (simulate/html.py 18 -> 0), and the
profile's free-form ``parallel``, ``crossover`` and ``simulated`` made records (profile_view 55 -> 30); a few
reads already there now match the new records' field names (trace/analyze ``world_size``, +4).
306 -> 251: a phase's totals are a typed ``OpCost`` (the phase as one op) and the grid frontier's state a dataclass (analytic/analysis
11 -> 0, grid_sweep 11 -> 0, serialize 20 -> 0, sweep 3 -> 0, grid 2 -> 0, report/sections 2 -> 0), the plan HTML
reads the plan record (3 -> 0), trace/analyze reads distributedInfo's world_size once (4 -> 2).
251 -> 78 (this and the line above were done in parallel and merged; the counts are of each alone): compare reads a profile through its ProfileRecord and a bench result through BenchResult
(compare/load.py 53 -> 2); measure builds and reads records (timings, ranks, link, NVML sampling and
replays: measure/profile 43 -> 3, parallel 16 -> 1, nvml 2 -> 0) and reads the calibration through the
records' reader (measure/ceilings 19 -> 6); ``--repeat`` spreads, parallel ranks and NVML became records
(profile_view 30 -> 3, console/profile 7 -> 2); analysis_view reads a HardwareSpec (8 -> 3).
78 -> 75: the comm ranks hand over a CommRecord, which runs/comm completes (runs/comm 3 -> 0).
75 -> 68: the profile run in progress is a ProfileRecord (configurations, ceilings, crossover and the parallel
layout built as records: measure/profile 4 -> 3, parallel 1 -> 0); the calibration cache's ``raised_at`` and
``drift_history`` became fields of its record and are read and written through it (ceilings_cache 2 -> 2);
``--repeat`` merges its processes as records, each a ``ProcessRun`` (results/repeat 6 -> 0; compare/load's
``process["record"]`` now names a field, 2 -> 3).
68 -> 58: the calibration of profiles and ceilings files is a record (``CalibrationInfo``), built by
keyword from the calibration and read by attribute (console ceilings 6 -> 4, console profile 3 -> 1,
profile_view 4 -> 2, runs/profile 6 -> 4, history/extract 2 -> 1, measure/profile 3 -> 2).
58 -> 53: the drift checks in it are records too (DriftCheck, BandwidthProbe, ComputeProbe,
DriftJudgement), made by ``drift_check``/``judge_drift`` and read by attribute (measure/ceilings 6 -> 0,
ceilings_cache 2 -> 1, measure/profile 2 -> 1); console/ceilings' reads of the figures' JSON form,
there before, now match field names of the probes (``compute``, ``n``: 4 -> 7).
53 -> 48: ``llmroof.ceilings/1`` declares its figures (``caches``, ``bandwidth``, ``compute``: the
calibration's own CacheLevel, BandwidthFigure and ComputeFigure records, moved to results/records) and
the console tables read them (console/ceilings 7 -> 0); trace/rules' reads of a Chrome trace's
``pattern`` key, there before, now match BandwidthFigure.pattern (1 -> 3)."""

from __future__ import annotations

import ast
import collections
import dataclasses
import importlib
import inspect
import pkgutil
from pathlib import Path

import llmroof.results.records as records_package
from llmroof.results.records.base import Record

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 48
"""String-key reads of record field names outside the records' own readers (961 at 0.2.0)."""


def field_names() -> set[str]:
    """Every field name of every record class (``extra`` aside)."""
    names: set[str] = set()
    for module in pkgutil.iter_modules(records_package.__path__):
        loaded = importlib.import_module(f"llmroof.results.records.{module.name}")
        for _, cls in inspect.getmembers(loaded, inspect.isclass):
            if issubclass(cls, Record) and dataclasses.is_dataclass(cls):
                names |= {f.name for f in dataclasses.fields(cls)}
    return names - {"extra"}


PATH_READERS = {"_get", "_optional"}
"""Helpers that read a results dict by a (dotted) string key, ``_get(record, "model.name")``: each segment
that names a record field counts as a read, as ``record["model"]["name"]`` would."""


def path_reader_keys(node: ast.AST) -> list[str]:
    """The segments of the string key a path reader is called with (``[]`` for any other node)."""
    if not (isinstance(node, ast.Call) and len(node.args) >= 2):
        return []
    func = node.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    key = node.args[1]
    if name in PATH_READERS and isinstance(key, ast.Constant) and isinstance(key.value, str):
        return key.value.split(".")
    return []


def string_key(node: ast.AST) -> str | None:
    """The key of ``x["key"]`` (a read) or ``x.get("key", ...)``; None for anything else."""
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
        key = node.slice
    elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
          and node.args):
        key = node.args[0]
    else:
        return None
    return key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else None


def string_key_reads() -> collections.Counter[str]:
    """Reads of record field names by string key, per file."""
    names = field_names()
    per_file: collections.Counter[str] = collections.Counter()
    files = [*(ROOT / "llmroof").rglob("*.py"), *(ROOT / "kernels").rglob("*.py")]
    for path in files:
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith("llmroof/results/records/"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        per_file[relative] += sum(
            (string_key(node) in names) + sum(k in names for k in path_reader_keys(node))
            for node in ast.walk(tree)
        )
    return per_file


def test_the_counter_sees_reads_through_a_path_reader() -> None:
    tree = ast.parse('_get(record, "model.name"); _optional(env, "time_utc"); other(record, "model.name")')
    assert [path_reader_keys(node) for node in ast.walk(tree) if path_reader_keys(node)] == [
        ["model", "name"], ["time_utc"]]


def test_the_counter_sees_string_keys_and_not_attributes() -> None:
    tree = ast.parse('a["tpot_s"]; a.get("tpot_s"); a.tpot_s; a["tpot_s"] = 1; a["not_a_field_xyz"]')
    assert [string_key(node) for node in ast.walk(tree) if string_key(node)] == ["tpot_s", "tpot_s",
                                                                                 "not_a_field_xyz"]
    assert "tpot_s" in field_names() and "not_a_field_xyz" not in field_names()


def test_string_key_reads_of_record_fields_do_not_grow() -> None:
    per_file = string_key_reads()
    total = sum(per_file.values())
    worst = ", ".join(f"{path} {n}" for path, n in per_file.most_common(5))
    assert total <= LIMIT, (f"{total} string-key reads of record fields (limit {LIMIT}): read the record's "
                            f"attributes instead. Most: {worst}")
