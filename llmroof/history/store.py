"""The history's storage: one small interface (:class:`Store`) over two backends, an SQLite file (the
standard library's ``sqlite3``) and PostgreSQL (``psycopg`` 3, imported only for a ``postgresql://`` URL).

Schema (version :data:`SCHEMA_VERSION`, in ``llmroof_schema``; tables prefixed ``llmroof_`` so a team's
PostgreSQL database can hold other things too):

    llmroof_runs    one row per process of a results file: its content hash and process index (unique, so
                    re-adding a file changes nothing), path, kind, commit, branch, time, machine fingerprint
    llmroof_series  one row per (machine, configuration, metric), with which way is better and the unit
    llmroof_points  one value per (series, run), with the run's time, indexed by (series, time, run), so
                    the newest N of a series are read from the index without a sort

Every add is one transaction (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: the default isolation with
``ON CONFLICT DO NOTHING`` on the unique keys), so two CI jobs adding at once lose nothing and a failure
writes nothing. Every failure of the database (locked, read-only, another tool's, unreachable) is a
:class:`~llmroof.errors.LlmroofError`: one line, never the URL's password.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from typing_extensions import Self

from llmroof.errors import LlmroofError

TOOL = "llmroof-history"
SCHEMA_VERSION = 1
DEFAULT_DB = "llmroof-history.sqlite"
ENV_DB = "LLMROOF_HISTORY"
PG_LOCK = 7_210_240_424
"""pg_advisory_xact_lock key: one process creates or migrates the schema at a time."""

_ID = "{id}"
SCHEMA_V1 = (
    "CREATE TABLE llmroof_schema (tool TEXT NOT NULL, version INTEGER NOT NULL)",
    f"""CREATE TABLE llmroof_runs (
        id {_ID} PRIMARY KEY, content_hash TEXT NOT NULL, process INTEGER NOT NULL, path TEXT NOT NULL,
        kind TEXT NOT NULL, commit_sha TEXT NOT NULL, branch TEXT NOT NULL, time_utc TEXT NOT NULL,
        machine TEXT NOT NULL, added_utc TEXT NOT NULL, UNIQUE (content_hash, process))""",
    "CREATE INDEX llmroof_runs_by_branch ON llmroof_runs (branch, machine, time_utc)",
    f"""CREATE TABLE llmroof_series (
        id {_ID} PRIMARY KEY, machine TEXT NOT NULL, config TEXT NOT NULL, metric TEXT NOT NULL,
        better TEXT NOT NULL, unit TEXT NOT NULL, UNIQUE (machine, config, metric))""",
    """CREATE TABLE llmroof_points (
        series_id INTEGER NOT NULL REFERENCES llmroof_series (id),
        run_id INTEGER NOT NULL REFERENCES llmroof_runs (id),
        time_utc TEXT NOT NULL, value DOUBLE PRECISION NOT NULL, PRIMARY KEY (series_id, run_id))""",
    "CREATE INDEX llmroof_points_by_time ON llmroof_points (series_id, time_utc, run_id)",
)
MIGRATIONS: dict[int, tuple[str, ...]] = {1: SCHEMA_V1}
"""Statements that bring a database from version N - 1 to N (0: empty)."""
NO_DB_HINT = "run llmroof history add first, or pass --db (or set $LLMROOF_HISTORY)"


# --- what goes in and comes out ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Provenance:
    """Where a run comes from."""

    commit: str
    """The commit's hash (as given)."""
    branch: str
    """The branch the run measured."""
    time_utc: str
    """ISO 8601, UTC: the order of the history (normalised to ``YYYY-MM-DDTHH:MM:SS+00:00``, so that
    times sort as text in both databases)."""

    def __post_init__(self) -> None:
        if not self.commit or not self.branch:
            raise LlmroofError("a run needs a commit and a branch", "pass --commit and --branch")
        object.__setattr__(self, "time_utc", utc_text(self.time_utc))


def utc_text(text: str) -> str:
    """ISO 8601 (a date, or a time with or without offset; naive means UTC) -> ISO 8601 in UTC, seconds."""
    try:
        when = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise LlmroofError(f"time {text!r}: expected ISO 8601, e.g. 2026-05-01T12:00:00Z") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when.astimezone(datetime.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True, kw_only=True)
class PointIn:
    """One value of a run."""

    config: str
    """The model and configuration (``tiny bf16 decode b=1 c=16``; ops add their name)."""
    metric: str
    """``tpot_s``, ``tokens_per_s``..."""
    better: str
    """``lower`` or ``higher``."""
    unit: str
    """``s``, ``tokens/s``..."""
    value: float
    """The run's value."""


@dataclass(frozen=True, kw_only=True)
class RunIn:
    """One process of a results file, ready to store."""

    content_hash: str
    """sha256 of the results file's bytes."""
    process: int
    """Index of the process in a ``--repeat`` file; -1 for a file of one run."""
    path: str
    """The results file, as given."""
    kind: str
    """``profile``, ``bench`` or ``compare``."""
    machine: str
    """Machine fingerprint (the calibration's ``fingerprint_id``, or one derived from the device)."""
    points: tuple[PointIn, ...]
    """Its values."""


@dataclass(frozen=True, kw_only=True)
class Point:
    """One stored value of a series, with its run's provenance."""

    run_id: int
    commit: str
    branch: str
    time_utc: str
    value: float
    process: int
    path: str


@dataclass(frozen=True, kw_only=True)
class SeriesKey:
    machine: str
    config: str
    metric: str
    better: str
    unit: str


# --- the backends ------------------------------------------------------------------------------------


class Backend(Protocol):
    """What differs between SQLite and PostgreSQL."""

    name: str
    id_type: str

    def sql(self, statement: str) -> str:
        """``?`` placeholders in this backend's style."""

    def transaction(self, *, write: bool) -> contextlib.AbstractContextManager[Any]:
        """A cursor inside one transaction: committed on success, rolled back on any error."""

    def tables(self, cursor: Any) -> set[str]:
        """Names of the tables in the database."""

    def lock_schema(self, cursor: Any) -> None:
        """Serialise schema creation and migration between processes."""

    def close(self) -> None: ...


class SqliteBackend:
    name = "sqlite"
    id_type = "INTEGER"

    def __init__(self, path: Path, *, create: bool, readonly: bool, timeout_s: float) -> None:
        self.path = path
        if not create and not path.exists():
            raise LlmroofError(f"history {path}: no such database", NO_DB_HINT)
        if path.is_dir():
            raise LlmroofError(f"history {path}: is a folder", "name a database file")
        mode = "ro" if readonly else ("rwc" if create else "rw")
        try:
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
            self.connection = sqlite3.connect(
                f"file:{path}?mode={mode}", uri=True, timeout=timeout_s, isolation_level=None
            )
        except (sqlite3.Error, OSError) as exc:
            raise database_error(f"history {path}", exc) from None

    def sql(self, statement: str) -> str:
        return statement

    @contextlib.contextmanager
    def transaction(self, *, write: bool) -> Iterator[Any]:
        cursor = self.connection.cursor()
        cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield cursor
        except BaseException:
            self.connection.rollback()
            raise
        self.connection.commit()

    def tables(self, cursor: Any) -> set[str]:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {row[0] for row in cursor.fetchall()}

    def lock_schema(self, cursor: Any) -> None:
        """BEGIN IMMEDIATE holds the write lock already."""

    def close(self) -> None:
        self.connection.close()


class PostgresBackend:
    name = "postgresql"
    id_type = "BIGINT GENERATED BY DEFAULT AS IDENTITY"

    def __init__(self, url: str, *, timeout_s: float) -> None:
        try:
            import psycopg
        except ImportError:
            raise LlmroofError(
                "a postgresql:// history needs psycopg",
                "pip install 'llmroof[history-pg]' (or 'psycopg[binary]')",
            ) from None
        self.url = url
        try:
            self.connection = psycopg.connect(
                url, connect_timeout=max(1, int(timeout_s)), autocommit=True
            )
        except psycopg.Error as exc:
            raise database_error(f"history {redact(url)}", exc, url) from None

    def sql(self, statement: str) -> str:
        return statement.replace("?", "%s")

    @contextlib.contextmanager
    def transaction(self, *, write: bool) -> Iterator[Any]:
        with self.connection.transaction(), self.connection.cursor() as cursor:
            yield cursor

    def tables(self, cursor: Any) -> set[str]:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
        return {row[0] for row in cursor.fetchall()}

    def lock_schema(self, cursor: Any) -> None:
        cursor.execute(f"SELECT pg_advisory_xact_lock({PG_LOCK})")

    def close(self) -> None:
        self.connection.close()


def redact(url: str) -> str:
    """A URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")
    user = netloc[0].partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[2]}"))


def _password(url: str | None) -> str | None:
    if not url:
        return None
    with contextlib.suppress(ValueError):
        return urlsplit(url).password
    return None


def database_error(where: str, exc: BaseException, url: str | None = None) -> LlmroofError:
    """One line naming the database and what its driver said (first line only, the password removed)."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    password = _password(url)
    if password:
        text = text.replace(password, "***")
    text = re.sub(r"password=\S+", "password=***", text)
    lowered = text.lower()
    if "locked" in lowered:
        hint = "another process holds it; retry, or raise --timeout"
    elif "readonly" in lowered or "read-only" in lowered:
        hint = "the database or its folder is read-only; pass a --db you can write"
    elif "not a database" in lowered:
        hint = "is --db a file of another program?"
    else:
        hint = "check --db (or $LLMROOF_HISTORY)"
    return LlmroofError(f"{where}: {text}", hint)


def _driver_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [sqlite3.Error]
    try:
        import sys

        if "psycopg" in sys.modules:
            errors.append(sys.modules["psycopg"].Error)
    except (ImportError, AttributeError):
        pass
    return tuple(errors)


# --- the store -----------------------------------------------------------------------------------------


def resolve_db(db: str | None, environ: dict[str, str] | None = None) -> str:
    """``--db``, else ``$LLMROOF_HISTORY``, else ``llmroof-history.sqlite``."""
    env = os.environ if environ is None else environ
    return db or env.get(ENV_DB) or DEFAULT_DB


def is_postgres(db: str) -> bool:
    return db.startswith(("postgresql://", "postgres://"))


class Store:
    """The history: add runs, read series. Open with :func:`open_store`; use as a context manager."""

    def __init__(self, backend: Backend, where: str, *, create: bool) -> None:
        self.backend = backend
        self.where = where
        self._guard(lambda: self._prepare(create))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(*_driver_errors()):
            self.backend.close()

    def _guard(self, work: Any) -> Any:
        url = getattr(self.backend, "url", None)
        try:
            return work()
        except LlmroofError:
            raise
        except _driver_errors() as exc:
            raise database_error(self.where, exc, url) from None

    def _execute(self, cursor: Any, statement: str, params: Sequence[Any] = ()) -> Any:
        cursor.execute(self.backend.sql(statement), tuple(params))
        return cursor

    # schema

    def _version(self, cursor: Any) -> int:
        """0 for an empty database (or one with only other tools' tables, on PostgreSQL)."""
        tables = self.backend.tables(cursor)
        ours = {t for t in tables if t.startswith("llmroof_")}
        if "llmroof_schema" not in tables:
            if ours or (self.backend.name == "sqlite" and tables):
                raise LlmroofError(
                    f"{self.where}: a database of another program (tables "
                    f"{', '.join(sorted(tables))[:80]}), not an llmroof history",
                    "pass a new --db for the history",
                )
            return 0
        rows = self._execute(cursor, "SELECT tool, version FROM llmroof_schema").fetchall()
        if len(rows) != 1 or rows[0][0] != TOOL:
            raise LlmroofError(
                f"{self.where}: llmroof_schema names {rows[:2]!r}, not one {TOOL} version",
                "pass a new --db for the history",
            )
        version = int(rows[0][1])
        if version > SCHEMA_VERSION:
            raise LlmroofError(
                f"{self.where}: history schema version {version}, newer than this llmroof's "
                f"{SCHEMA_VERSION}",
                "upgrade llmroof to read it",
            )
        return version

    def _prepare(self, create: bool) -> None:
        with self.backend.transaction(write=False) as cursor:
            version = self._version(cursor)
        if version == SCHEMA_VERSION:
            return
        if not create and version:
            raise LlmroofError(
                f"{self.where}: history schema version {version}, this llmroof uses "
                f"{SCHEMA_VERSION}",
                "run llmroof history add once to migrate it",
            )
        if not create:
            raise LlmroofError(f"{self.where}: no llmroof history in it yet", NO_DB_HINT)
        with self.backend.transaction(write=True) as cursor:
            self.backend.lock_schema(cursor)
            version = self._version(cursor)  # another process may have migrated it meanwhile
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[target]:
                    self._execute(cursor, statement.replace(_ID, self.backend.id_type))
            if version == 0:
                self._execute(
                    cursor,
                    "INSERT INTO llmroof_schema (tool, version) VALUES (?, ?)",
                    (TOOL, SCHEMA_VERSION),
                )
            elif version < SCHEMA_VERSION:
                self._execute(cursor, "UPDATE llmroof_schema SET version = ?", (SCHEMA_VERSION,))

    # writes

    def add(self, runs: Sequence[RunIn], provenance: Provenance) -> list[bool]:
        """Store ``runs`` in one transaction; for each, whether it was new (False: already stored)."""
        return list(self._guard(lambda: self._add(runs, provenance)))

    def _add(self, runs: Sequence[RunIn], provenance: Provenance) -> list[bool]:
        added_utc = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        results = []
        with self.backend.transaction(write=True) as cursor:
            series_ids: dict[tuple[str, str, str], int] = {}
            for run in runs:
                row = self._execute(
                    cursor,
                    (
                        "INSERT INTO llmroof_runs (content_hash, process, path, kind, commit_sha, branch, time_utc, "
                        "machine, added_utc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT (content_hash, process) DO NOTHING RETURNING id"
                    ),
                    (
                        run.content_hash,
                        run.process,
                        run.path,
                        run.kind,
                        provenance.commit,
                        provenance.branch,
                        provenance.time_utc,
                        run.machine,
                        added_utc,
                    ),
                ).fetchone()
                results.append(row is not None)
                if row is None:
                    continue
                run_id = row[0]
                values = []
                for point in run.points:
                    key = (run.machine, point.config, point.metric)
                    if key not in series_ids:
                        series_ids[key] = self._series_id(cursor, run.machine, point)
                    values.append(
                        (series_ids[key], run_id, provenance.time_utc, float(point.value))
                    )
                cursor.executemany(
                    self.backend.sql(
                        "INSERT INTO llmroof_points (series_id, run_id, time_utc, value) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (series_id, run_id) DO NOTHING"
                    ),
                    values,
                )
        return results

    def _series_id(self, cursor: Any, machine: str, point: PointIn) -> int:
        self._execute(
            cursor,
            (
                "INSERT INTO llmroof_series (machine, config, metric, better, unit) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (machine, config, metric) DO NOTHING"
            ),
            (machine, point.config, point.metric, point.better, point.unit),
        )
        row = self._execute(
            cursor,
            "SELECT id FROM llmroof_series WHERE machine = ? AND config = ? AND metric = ?",
            (machine, point.config, point.metric),
        ).fetchone()
        return int(row[0])

    # reads

    def series(
        self, *, machine: str | None = None, config: str | None = None, metric: str | None = None
    ) -> list[tuple[int, SeriesKey]]:
        """Every stored series, filtered by exact machine, configuration and metric where given."""
        clauses, params = [], []
        for column, value in (("machine", machine), ("config", config), ("metric", metric)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""

        def read() -> list[tuple[int, SeriesKey]]:
            with self.backend.transaction(write=False) as cursor:
                rows = self._execute(
                    cursor,
                    "SELECT id, machine, config, metric, better, unit FROM llmroof_series"
                    f"{where} ORDER BY machine, config, metric",
                    params,
                ).fetchall()
            return [
                (
                    int(r[0]),
                    SeriesKey(machine=r[1], config=r[2], metric=r[3], better=r[4], unit=r[5]),
                )
                for r in rows
            ]

        return list(self._guard(read))

    def points(
        self, series_id: int, *, last: int | None = None, branch: str | None = None
    ) -> list[Point]:
        """A series' values, oldest first: the ``last`` newest (all when None), on ``branch`` when given."""
        clause, params = "", list[Any]([series_id])
        if branch is not None:
            clause = " AND r.branch = ?"
            params = [series_id, branch]
        limit = f" LIMIT {int(last)}" if last else ""

        def read() -> list[Point]:
            with self.backend.transaction(write=False) as cursor:
                rows = self._execute(
                    cursor,
                    (
                        "SELECT r.id, r.commit_sha, r.branch, p.time_utc, p.value, r.process, r.path "
                        "FROM llmroof_points p JOIN llmroof_runs r ON r.id = p.run_id "
                        f"WHERE p.series_id = ?{clause} ORDER BY p.time_utc DESC, p.run_id DESC{limit}"
                    ),
                    params,
                ).fetchall()
            return [
                Point(
                    run_id=int(r[0]),
                    commit=r[1],
                    branch=r[2],
                    time_utc=r[3],
                    value=float(r[4]),
                    process=int(r[5]),
                    path=r[6],
                )
                for r in reversed(rows)
            ]

        return list(self._guard(read))

    def first_time_of_commit(self, commit: str) -> str | None:
        """Time of the first run of ``commit`` (a full hash or a prefix of 7 or more), if any."""
        if len(commit) < 7:
            return None

        def read() -> str | None:
            with self.backend.transaction(write=False) as cursor:
                row = self._execute(
                    cursor,
                    "SELECT MIN(time_utc) FROM llmroof_runs WHERE commit_sha LIKE ?",
                    (commit.replace("%", "").replace("_", "") + "%",),
                ).fetchone()
            return str(row[0]) if row and row[0] else None

        found: str | None = self._guard(read)
        return found

    def has_branch(self, branch: str) -> bool:
        def read() -> bool:
            with self.backend.transaction(write=False) as cursor:
                return (
                    self._execute(
                        cursor, "SELECT 1 FROM llmroof_runs WHERE branch = ? LIMIT 1", (branch,)
                    ).fetchone()
                    is not None
                )

        return bool(self._guard(read))

    def count_runs(self) -> int:
        def read() -> int:
            with self.backend.transaction(write=False) as cursor:
                return int(self._execute(cursor, "SELECT COUNT(*) FROM llmroof_runs").fetchone()[0])

        return int(self._guard(read))


def open_store(
    db: str | None = None, *, create: bool = False, readonly: bool = False, timeout_s: float = 30.0
) -> Store:
    """The history at ``db`` (a path, ``sqlite:///path`` or ``postgresql://...``; default
    :func:`resolve_db`). ``create``: make the file and the schema if missing (``history add``)."""
    target = resolve_db(db)
    if is_postgres(target):
        where = f"history {redact(target)}"
        return Store(PostgresBackend(target, timeout_s=timeout_s), where, create=create)
    path = Path(target.removeprefix("sqlite:///") if target.startswith("sqlite:///") else target)
    return Store(
        SqliteBackend(path, create=create, readonly=readonly, timeout_s=timeout_s),
        f"history {path}",
        create=create,
    )
