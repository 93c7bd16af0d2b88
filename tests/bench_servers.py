"""Start and stop servers for the bench tests: on a free loopback port, waited for on /health (bounded),
killed with their whole process group at teardown."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def server(argv: list[str], port: int, log: Path, wait_s: float = 120.0) -> Iterator[subprocess.Popen]:
    """Run ``argv`` in its own process group until the block ends; wait for GET /health to answer 200. It runs
    in the log's folder: a Python server started in the repository root would put the checkout first on its
    sys.path (``python -c`` does), where folders such as kernels/ are not what it means to import."""
    handle = log.open("w")
    process = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
                               cwd=log.parent)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not healthy within {wait_s:g} s: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        handle.close()


def fake_engine(mode: str, port: int, log: Path) -> contextlib.AbstractContextManager[subprocess.Popen]:
    return server([sys.executable, str(Path(__file__).with_name("fake_engine.py")), str(port), mode], port, log,
                  wait_s=30.0)
