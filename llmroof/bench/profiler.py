"""``llmroof bench --profile``: ask the server's own profiler for a trace of each level.

vLLM (started with ``--profiler-config`` or ``VLLM_TORCH_PROFILER_DIR``) and SGLang (``/start_profile``,
``SGLANG_TORCH_PROFILER_DIR``) serve ``POST /start_profile`` and ``POST /stop_profile``; vLLM answers 200
with an empty body, SGLang 200 with a line of text, and a server with no profiler 404. Neither reply names
the files: with ``--profile-dir DIR`` (the folder the server writes to) the files that appear in it
between the start and the stop of a level are that level's traces.

The server is untrusted input: its reply is read up to :data:`MAX_REPLY_BYTES`, cleaned of control
characters and cut to :data:`NOTE_CHARS`; every failure (refused, 404, a time-out, a dropped connection)
is a :class:`Reply` with ``ok`` False, never an exception.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmroof.labels import plain_text

MAX_REPLY_BYTES = 4096
NOTE_CHARS = 200
MAX_FILES = 10_000
"""Entries of ``--profile-dir`` looked at (a folder of more is listed only this far)."""
SETTLE_S = 5.0
"""How long to wait after /stop_profile for the trace files to appear and stop growing."""
POLL_S = 0.2

Listing = dict[str, tuple[int, int]]
"""A folder's files: path -> (size, modification time in ns)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """The server's answer to /start_profile or /stop_profile."""

    ok: bool
    """200: the profiler started (or stopped)."""
    detail: str
    """The reply's text (cleaned, cut), or what went wrong."""


async def call(client: Any, base_url: str, action: str, timeout_s: float) -> Reply:
    """``POST {base_url}/{action}`` (``start_profile`` or ``stop_profile``) within ``timeout_s`` in all."""
    import httpx

    async def exchange() -> Reply:
        async with client.stream("POST", f"{base_url}/{action}") as response:
            body = b""
            async for piece in response.aiter_bytes():
                body += piece
                if len(body) >= MAX_REPLY_BYTES:
                    break
            text = plain_text(body[:MAX_REPLY_BYTES].decode("utf-8", "replace")).strip()
            text = text[:NOTE_CHARS]
            if response.status_code == 200:
                return Reply(True, text)
            return Reply(False, f"HTTP {response.status_code}" + (f": {text}" if text else ""))

    try:
        return await asyncio.wait_for(exchange(), timeout_s)
    except (TimeoutError, asyncio.TimeoutError):
        return Reply(False, f"no answer within {timeout_s:g} s")
    except httpx.HTTPError as exc:
        return Reply(False, f"{type(exc).__name__}: {plain_text(exc)[:NOTE_CHARS]}")
    except Exception as exc:  # the server's reply is untrusted: anything else is no answer
        return Reply(False, f"{type(exc).__name__}: {plain_text(exc)[:NOTE_CHARS]}")


def listing(folder: Path | None) -> Listing:
    """The files under ``folder`` (recursively, at most :data:`MAX_FILES` entries); {} for None or a
    folder that cannot be read."""
    found: Listing = {}
    if folder is None:
        return found
    pending = [str(folder)]
    seen = 0
    while pending and seen < MAX_FILES:
        try:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    seen += 1
                    if seen > MAX_FILES:
                        break
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            pending.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            stat = entry.stat(follow_symlinks=False)
                            found[entry.path] = (stat.st_size, stat.st_mtime_ns)
                    except OSError:
                        continue
        except OSError:
            continue
    return found


def appeared(before: Listing, after: Listing) -> tuple[str, ...]:
    """Files of ``after`` that are new, or changed, since ``before``; sorted."""
    return tuple(sorted(path for path, state in after.items() if before.get(path) != state))


async def settled(
    folder: Path | None, before: Listing, settle_s: float = SETTLE_S
) -> tuple[str, ...]:
    """The level's trace files once they stop changing: polled until some appeared and two looks
    :data:`POLL_S` apart agree, for at most ``settle_s``."""
    if folder is None:
        return ()
    deadline = time.monotonic() + settle_s
    last = listing(folder)
    while time.monotonic() < deadline:
        await asyncio.sleep(POLL_S)
        now = listing(folder)
        if now == last and appeared(before, now):
            return appeared(before, now)
        last = now
    return appeared(before, last)
