"""llmroof history: the same storage tests on SQLite and on a real PostgreSQL server (started from the
machine's binaries; skipped, saying why, only where none is installed), two processes adding at once,
bad input (one line, exit 2, nothing half-written), the CLI's outputs, and the acceptance check: a seeded
history with one 10% regression, whose commit ``history check`` names."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import run_cli
from history_fixtures import fresh_database, postgres_server, write_profile

from llmroof.compare.load import load_runs
from llmroof.compare.metrics import METRICS, run_value
from llmroof.errors import LlmroofError
from llmroof.history.detect import DetectSettings
from llmroof.history.extract import run_config_label, runs_of_file
from llmroof.history.store import SCHEMA_VERSION, Provenance, open_store
from llmroof.history.trend import Selection, add_files, trends

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pg_server():
    yield from postgres_server()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "history.sqlite")
    server = request.getfixturevalue("pg_server")
    return fresh_database(server, f"t_{abs(hash(request.node.name)) % 10**9}")


def at(i: int, branch: str = "main") -> Provenance:
    return Provenance(
        commit=f"{i:04d}" + "ab" * 18,
        branch=branch,
        time_utc=f"2026-01-01T{i // 60:02d}:{i % 60:02d}:00+00:00",
    )


def series_values(db: str, config_part: str, metric: str, **kw) -> list[float]:
    with open_store(db) as store:
        (found,) = [
            (i, k) for i, k in store.series() if config_part in k.config and k.metric == metric
        ]
        return [p.value for p in store.points(found[0], **kw)]


# --- storage, on both backends ------------------------------------------------------------------------


def test_a_profile_adds_compare_s_values_and_re_adding_changes_nothing(db, tmp_path) -> None:
    path = write_profile(tmp_path / "r" / "results.json")
    with open_store(db, create=True) as store:
        first = add_files(store, [path], at(1))
        again = add_files(store, [path], at(2))
        assert [fresh for _, fresh in first] == [True] and [fresh for _, fresh in again] == [False]
        assert store.count_runs() == 1
    (run,) = load_runs(path)
    config = next(c for c in run.ok_configs() if c.phase == "decode")
    label = run_config_label(run, config)
    assert series_values(db, label, "tpot_s") == [
        pytest.approx(run_value(METRICS["tpot_s"], config))
    ]
    with open_store(db) as store:
        assert {k.machine for _, k in store.series()} == {
            "f00dfeedf00dfeed"
        }  # the calibration's fingerprint


def test_a_repeat_file_adds_one_run_per_process(db, tmp_path) -> None:
    path = write_profile(tmp_path / "r" / "results.json", processes=3)
    with open_store(db, create=True) as store:
        added = add_files(store, [path], at(1))
    assert sorted(run.process for run, _ in added) == [0, 1, 2]
    runs = load_runs(path)
    config = next(c for c in runs[0].ok_configs() if c.phase == "decode")
    expected = sorted(
        run_value(
            METRICS["tpot_s"],
            next(
                c
                for c in r.ok_configs()
                if c.batch == config.batch and c.phase == "decode"
            ),
        )
        for r in runs
    )
    assert sorted(
        series_values(db, run_config_label(runs[0], config), "tpot_s")
    ) == pytest.approx(expected)


def test_bench_and_compare_results_go_in(db, tmp_path) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from test_bench import _bench_file

    from llmroof.compare.comparison import CompareSettings, compare_paths
    from llmroof.writers import write_json_atomic

    bench = _bench_file(tmp_path, "bench", 0.02)
    base, new = (
        write_profile(tmp_path / "b" / "results.json"),
        write_profile(tmp_path / "n" / "results.json", seed=3),
    )
    comparison = write_json_atomic(
        tmp_path / "c.json", compare_paths(base, new, CompareSettings()).record().to_dict()
    )
    with open_store(db, create=True) as store:
        added = add_files(store, [bench, comparison], at(1))
        kinds = {run.kind for run, fresh in added if fresh}
        metrics = {k.metric for _, k in store.series()}
    assert kinds == {"bench", "compare"} and {"tpot_s", "ttft_s"} <= metrics


def test_the_last_n_of_a_branch_oldest_first(db, tmp_path) -> None:
    with open_store(db, create=True) as store:
        for i in range(12):
            add_files(
                store,
                [write_profile(tmp_path / f"r{i}" / "results.json", seed=i, scale=1 + i / 100)],
                at(i, "main" if i % 2 == 0 else "pr"),
            )
    values = series_values(db, "decode b=1", "tpot_s", last=3, branch="main")
    everything = series_values(db, "decode b=1", "tpot_s", branch="main")
    assert len(everything) == 6 and values == everything[-3:] and values == sorted(values)


def test_two_processes_adding_at_once_lose_nothing(db, tmp_path) -> None:
    files = [str(write_profile(tmp_path / f"r{i}" / "results.json", seed=i)) for i in range(16)]
    # no database yet: both processes create the schema at once (one waits for the other's lock)
    script = (
        "import sys; from llmroof.history.store import open_store, Provenance;"
        "from llmroof.history.trend import add_files\n"
        "for i, f in enumerate(sys.argv[2:]):\n"
        "    with open_store(sys.argv[1], create=True) as s:\n"
        "        add_files(s, [f], Provenance(commit=f'c{i}', branch='main', time_utc=f'2026-01-01T00:00:{i:02d}Z'))\n"
    )
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", script, db, *part], cwd=tmp_path, stderr=subprocess.PIPE
        )
        for part in (files[0::2], files[1::2])
    ]
    for worker in workers:
        assert worker.wait(timeout=120) == 0, worker.stderr.read().decode() if worker.stderr else ""
    with open_store(db) as store:
        assert store.count_runs() == 16
        assert len(series_values(db, "decode b=1", "tpot_s")) == 16


def test_a_failure_inside_the_transaction_writes_nothing(db, tmp_path, monkeypatch) -> None:
    files = [write_profile(tmp_path / f"r{i}" / "results.json", seed=i) for i in range(3)]
    with open_store(db, create=True) as store:
        calls = []

        def broken(cursor, machine, point):
            calls.append(point)
            raise sqlite3.OperationalError("disk I/O error (simulated)")

        monkeypatch.setattr(store, "_series_id", broken)
        with pytest.raises(LlmroofError, match="simulated"):
            add_files(store, files, at(1))
        assert calls
    with open_store(db) as store:
        assert store.count_runs() == 0 and store.series() == []


def test_a_newer_schema_version_is_refused(db, tmp_path) -> None:
    with open_store(db, create=True) as store, store.backend.transaction(write=True) as cursor:
        store._execute(cursor, "UPDATE llmroof_schema SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(LlmroofError, match="newer than this llmroof"):
        open_store(db)


def test_an_older_schema_is_migrated_in_place_keeping_its_runs(db, tmp_path, monkeypatch) -> None:
    from llmroof.history import store as store_module

    with open_store(db, create=True) as store:
        add_files(store, [write_profile(tmp_path / "a.json")], at(1))
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(
        store_module.MIGRATIONS, 2, ("ALTER TABLE llmroof_runs ADD COLUMN note TEXT",)
    )
    with pytest.raises(LlmroofError, match="history add once to migrate"):
        open_store(db)  # a read never writes
    with open_store(db, create=True) as store:
        add_files(store, [write_profile(tmp_path / "b.json", seed=2)], at(2))
        assert store.count_runs() == 2
        with store.backend.transaction(write=False) as cursor:
            assert store._execute(cursor, "SELECT version FROM llmroof_schema").fetchone()[0] == 2
            store._execute(cursor, "SELECT note FROM llmroof_runs")


def test_a_database_of_another_tool_is_refused(tmp_path, capsys) -> None:
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE benchmarks (name TEXT)")
    code, _out, err = run_cli(
        capsys,
        "history",
        "add",
        str(write_profile(tmp_path / "r.json")),
        "--db",
        str(other),
        "--commit",
        "abc1234",
        "--branch",
        "main",
    )
    assert code == 2 and "another program" in err and len(err.strip().splitlines()) <= 2
    not_a_db = tmp_path / "notes.sqlite"
    not_a_db.write_text("hello, this is not a database at all " * 40)
    code, _, err = run_cli(capsys, "history", "show", "--db", str(not_a_db))
    assert code == 2 and "not a database" in err


def test_a_locked_database_fails_in_one_line_and_waits_no_longer_than_asked(
    tmp_path, capsys
) -> None:
    path = tmp_path / "h.sqlite"
    with open_store(str(path), create=True):
        pass
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        code, _out, err = run_cli(
            capsys,
            "history",
            "add",
            str(write_profile(tmp_path / "r.json")),
            "--db",
            str(path),
            "--commit",
            "abc1234",
            "--branch",
            "main",
            "--timeout",
            "0.2",
        )
    finally:
        holder.rollback()
        holder.close()
    assert code == 2 and "locked" in err and "Traceback" not in err
    with open_store(str(path)) as store:
        assert store.count_runs() == 0


def test_a_read_only_database_is_refused_and_left_unchanged(tmp_path) -> None:
    path = tmp_path / "h.sqlite"
    with open_store(str(path), create=True) as store:
        add_files(store, [write_profile(tmp_path / "a.json")], at(1))
    with (
        open_store(str(path), readonly=True) as store,
        pytest.raises(LlmroofError, match="readonly|read-only"),
    ):
        add_files(store, [write_profile(tmp_path / "b.json", seed=2)], at(2))
    if os.geteuid() != 0:  # root ignores file modes
        path.chmod(0o444)
        with (
            pytest.raises(LlmroofError, match="readonly|read-only"),
            open_store(str(path), create=True) as store,
        ):
            add_files(store, [write_profile(tmp_path / "c.json", seed=3)], at(3))
    with open_store(str(path)) as store:
        assert store.count_runs() == 1


def test_an_unreachable_postgresql_url_never_echoes_its_password(tmp_path, capsys) -> None:
    pytest.importorskip("psycopg")
    url = "postgresql://ci:hunter2secret@127.0.0.1:1/history"
    code, out, err = run_cli(
        capsys,
        "history",
        "add",
        str(write_profile(tmp_path / "r.json")),
        "--db",
        url,
        "--commit",
        "abc1234",
        "--branch",
        "main",
        "--timeout",
        "2",
    )
    assert code == 2 and "hunter2secret" not in out + err and "127.0.0.1" in err
    assert len([line for line in err.splitlines() if line.strip()]) <= 2


def test_results_of_an_unknown_schema_are_refused_before_the_database_is_made(
    tmp_path, capsys
) -> None:
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps({"schema": "someone.else/3", "values": [1, 2]}))
    db = tmp_path / "h.sqlite"
    code, _, err = run_cli(
        capsys, "history", "add", str(odd), "--db", str(db), "--commit", "abc1234"
    )
    assert code == 2 and "someone.else/3" in err and not db.exists()


# --- the CLI -----------------------------------------------------------------------------------------


def seeded_history(
    tmp_path: Path, db: str, *, runs: int = 40, regression_at: int = 25, step: float = 1.10
) -> list[str]:
    """``runs`` profiles on main, 1% noise, every time ``step`` slower from run ``regression_at`` on."""
    commits = []
    for i in range(runs):
        commit = f"{i:03d}" + "c0ffee" * 6 + "a"
        commits.append(commit)
        path = write_profile(
            tmp_path / f"run{i}" / "results.json", seed=i, scale=step if i >= regression_at else 1.0
        )
        with open_store(db, create=True) as store:
            add_files(
                store,
                [path],
                Provenance(
                    commit=commit,
                    branch="main",
                    time_utc=f"2026-02-{1 + i // 24:02d}T{i % 24:02d}:00:00+00:00",
                ),
            )
    return commits


def test_check_names_the_commit_where_a_10_percent_regression_began(tmp_path, capsys) -> None:
    db = str(tmp_path / "h.sqlite")
    commits = seeded_history(tmp_path, db)
    code, out, err = run_cli(
        capsys,
        "history",
        "check",
        "--db",
        db,
        "-M",
        "tpot_s",
        "--since",
        commits[0],
        "--format",
        "json",
    )
    assert code == 1, err
    from llmroof.results.records import from_dict
    from llmroof.results.records.history import HistoryRecord

    record = from_dict(json.loads(out))
    assert isinstance(record, HistoryRecord) and record.verdict == "regression"
    for series in record.series:
        assert series.gating and series.latest is not None
        assert series.latest.commit == commits[25] and series.latest.previous_commit == commits[24]
        assert series.latest.ratio_low < 1.10 < series.latest.ratio_high
        assert series.latest.after_median / series.latest.before_median == pytest.approx(
            1.10, rel=0.02
        )
    code, out, _ = run_cli(
        capsys, "history", "check", "--db", db, "-M", "tpot_s", "--since", commits[30]
    )
    assert code == 0  # began before --since
    code, out, _ = run_cli(
        capsys,
        "history",
        "check",
        "--db",
        db,
        "-M",
        "tpot_s",
        "--since",
        commits[0],
        "--threshold",
        "15%",
    )
    assert code == 0  # smaller than the threshold


def test_show_writes_every_format_and_json_loads_as_a_typed_record(tmp_path, capsys) -> None:
    db = str(tmp_path / "h.sqlite")
    commits = seeded_history(tmp_path, db, runs=20, regression_at=12)
    import llmroof

    for fmt in ("table", "json", "csv", "markdown", "html"):
        out_path = tmp_path / f"show.{fmt}"
        code, _out, err = run_cli(
            capsys,
            "history",
            "show",
            "--db",
            db,
            "-M",
            "tpot_s",
            "-c",
            "decode b=1",
            "--format",
            fmt,
            "--out",
            str(out_path),
        )
        assert code == 0, err
        text = out_path.read_text()
        assert commits[12][:8] in text or fmt in ("csv", "table")  # the table folds long cells
        assert "1 with change points" in text or fmt in ("csv", "json")
    record = llmroof.load(tmp_path / "show.json")
    assert (
        record.command == "show" and len(record.series) == 1 and len(record.series[0].points) == 20
    )
    assert "<svg" in (tmp_path / "show.html").read_text()
    assert (
        (tmp_path / "show.csv")
        .read_text()
        .splitlines()[0]
        .startswith("machine,config,metric,unit,time_utc")
    )


def test_markdown_stays_within_github_s_summary_limit(tmp_path) -> None:
    from llmroof.history.render import MARKDOWN_BUDGET_BYTES, render_markdown

    db = str(tmp_path / "h.sqlite")
    seeded_history(tmp_path, db, runs=20, regression_at=12)
    with open_store(db) as store:
        record = trends(store, Selection(), DetectSettings(), command="check")
    text = render_markdown(record, budget_bytes=2_000)
    assert len(text.encode()) <= 2_000 and "left out" in text
    assert len(render_markdown(record).encode()) <= MARKDOWN_BUDGET_BYTES


def test_export_is_csv_that_apache_otava_reads(tmp_path, capsys) -> None:
    db = str(tmp_path / "h.sqlite")
    seeded_history(tmp_path, db, runs=30, regression_at=18)
    out_path = tmp_path / "otava.csv"
    code, _, err = run_cli(
        capsys, "history", "export", "--db", db, "-M", "tpot_s", "--out", str(out_path)
    )
    assert code == 0, err
    header, *rows = out_path.read_text().splitlines()
    assert header.startswith("time,commit,branch,") and len(rows) == 30
    otava = pytest.importorskip(
        "otava.analysis", reason="apache-otava is not installed (the benchmark extra)"
    )
    import csv

    column = header.split(",")[3]
    values = [float(r[column]) for r in csv.DictReader(out_path.read_text().splitlines())]
    found, _ = otava.compute_change_points(values)
    assert [cp.index for cp in found] == [18]


def test_commit_and_branch_come_from_the_ci_s_variables(monkeypatch) -> None:
    from llmroof.history.provenance import provenance

    for name in (
        "GITHUB_SHA",
        "GITHUB_HEAD_REF",
        "GITHUB_REF_NAME",
        "CI_COMMIT_SHA",
        "CI_COMMIT_REF_NAME",
        "BUILDKITE_COMMIT",
        "BUILDKITE_BRANCH",
    ):
        monkeypatch.delenv(name, raising=False)
    github = {"GITHUB_SHA": "a" * 40, "GITHUB_HEAD_REF": "feature", "GITHUB_REF_NAME": "12/merge"}
    assert (
        provenance(environ=github, time="2026-01-01").commit,
        provenance(environ=github, time="2026-01-01").branch,
    ) == ("a" * 40, "feature")
    gitlab = {"CI_COMMIT_SHA": "b" * 40, "CI_COMMIT_REF_NAME": "main"}
    buildkite = {"BUILDKITE_COMMIT": "c" * 40, "BUILDKITE_BRANCH": "release"}
    assert provenance(environ=gitlab, time="2026-01-01").branch == "main"
    got = provenance(environ=buildkite, time="2026-01-01T05:00:00+02:00")
    assert (got.commit, got.branch, got.time_utc) == (
        "c" * 40,
        "release",
        "2026-01-01T03:00:00+00:00",
    )
    over = provenance(commit="d" * 40, branch="x", time="2026-01-02", environ=github)
    assert (over.commit, over.branch) == ("d" * 40, "x")


def test_runs_of_file_reads_a_run_folder(tmp_path) -> None:
    write_profile(tmp_path / "run" / "results.json")
    (run,) = runs_of_file(tmp_path / "run")
    assert run.kind == "profile" and run.process == -1 and len(run.content_hash) == 64


def test_check_s_default_since_is_the_merge_base_with_main(tmp_path) -> None:
    from llmroof.history.provenance import merge_base

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
            env={
                **os.environ,
                "GIT_AUTHOR_NAME": "t",
                "GIT_AUTHOR_EMAIL": "t@t",
                "GIT_COMMITTER_NAME": "t",
                "GIT_COMMITTER_EMAIL": "t@t",
            },
        )
        return done.stdout.strip()

    git("init", "-q", "-b", "main")
    for i in range(2):
        git("commit", "-q", "--allow-empty", "-m", f"main {i}")
    base = git("rev-parse", "HEAD")
    assert merge_base(cwd=str(tmp_path), environ={}) is None  # on main itself: every change counts
    git("checkout", "-q", "-b", "feature")
    git("commit", "-q", "--allow-empty", "-m", "feature")
    assert merge_base(cwd=str(tmp_path), environ={}) == base
