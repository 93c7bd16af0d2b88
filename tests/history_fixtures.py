"""Fixtures of the history tests: seeded profile results, and a throwaway PostgreSQL server started from
the binaries on the machine (``initdb`` and ``pg_ctl`` on PATH or in ``/usr/lib/postgresql/*/bin``), in a
temporary folder, on a free loopback port, its socket in that folder; stopped and removed at teardown. As
root (PostgreSQL refuses to run as root) the server runs as the ``postgres`` user, else ``nobody``."""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from test_compare import synthetic


def write_profile(
    path: Path,
    *,
    scale: float = 1.0,
    seed: int = 0,
    noise: float = 0.01,
    fingerprint: str | None = "f00dfeedf00dfeed",
    processes: int = 0,
) -> Path:
    """A ``llmroof.profile/1`` results file (``processes`` > 0: a ``--repeat`` file of that many)."""
    record = synthetic(scale=scale, noise=noise, n=7, seed=seed)
    if fingerprint:
        record["calibration"] = {"fingerprint_id": fingerprint, "fingerprint": {"host": "runner"}}
    if processes:
        runs = [
            synthetic(scale=scale, noise=noise, n=7, seed=seed * 100 + i) for i in range(processes)
        ]
        for run in runs:
            run["calibration"] = record.get("calibration")
        record["processes"] = [
            {"index": i, "rotation": 0, "record": run} for i, run in enumerate(runs)
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return path


def pg_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as() -> tuple[list[str], tuple[int, int] | None]:
    if os.geteuid() != 0:
        return [], None
    for user in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            continue
        return ["runuser", "-u", user, "--"], (entry.pw_uid, entry.pw_gid)
    return [], None


def postgres_server() -> Iterator[str]:
    """Yield the URL of a running throwaway server (user ``llmroof``, trust authentication on loopback)."""
    import pytest

    initdb, pg_ctl = pg_binary("initdb"), pg_binary("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip(
            "no PostgreSQL installed: initdb and pg_ctl are not on PATH or in /usr/lib/postgresql/*/bin"
        )
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed (pip install 'psycopg[binary]')")
    prefix, owner = _run_as()
    # as root, in /tmp: the server's user must reach its folder, and $TMPDIR may be root's alone
    root = Path(
        tempfile.mkdtemp(
            prefix="llmroof-pg-", dir="/tmp" if owner and os.path.isdir("/tmp") else None
        )
    )
    if owner:
        os.chown(root, *owner)
    data, port = root / "data", _free_port()
    try:
        subprocess.run(
            [*prefix, initdb, "-D", str(data), "-A", "trust", "-U", "llmroof", "-N"],
            cwd=root,
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            [
                *prefix,
                pg_ctl,
                "-D",
                str(data),
                "-l",
                str(root / "log"),
                "-w",
                "-t",
                "60",
                "-o",
                f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off",
                "start",
            ],
            cwd=root,
            check=True,
            capture_output=True,
            timeout=120,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        log = (root / "log").read_text(errors="replace")[-2000:] if (root / "log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(
            f"PostgreSQL did not start: {exc}; {getattr(exc, 'stderr', b'')!r} {log}"
        ) from None
    try:
        yield f"postgresql://llmroof@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
            cwd=root,
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)


def fresh_database(server: str, name: str) -> str:
    """A new, empty database on the server: its URL."""
    import psycopg

    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    return server.rsplit("/", 1)[0] + f"/{name}"
