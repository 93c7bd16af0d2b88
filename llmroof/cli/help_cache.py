"""Rendered help, cached: ``llmroof --help`` and ``llmroof COMMAND --help``.

Rendering help takes typer, click, pydantic and rich (most of the CLI's start-up), yet its text changes only
with llmroof's code and the terminal. So the first rendering is kept in the user cache directory
(``$XDG_CACHE_HOME/llmroof/help/``), under a key made of everything the text depends on: the words of the
request, llmroof's version and the modification times of its modules, whether stdout is a terminal and how
wide, and the environment variables that steer typer's and rich's output. A later request with the same key
prints the file without importing any of them. Only the standard library is imported here, and only
for a help request.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO, cast

HELP_FLAGS = ("--help", "-h")
ENVIRONMENT = (
    "COLUMNS",
    "LINES",
    "TERM",
    "COLORTERM",
    "NO_COLOR",
    "FORCE_COLOR",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "JUPYTER_COLUMNS",
    "JUPYTER_LINES",
    "PYTHONIOENCODING",
    "LANG",
    "LC_ALL",
    "TYPER_USE_RICH",
    "TYPER_RICH_MARKUP_MODE",
    "_TYPER_FORCE_DISABLE_TERMINAL",
)
"""Variables that change what typer and rich print."""


def is_help(words: list[str]) -> bool:
    """``--help`` alone, or a command name then ``--help`` (the forms whose output is only help)."""
    if len(words) == 1:
        return words[0] in HELP_FLAGS
    return len(words) == 2 and words[1] in HELP_FLAGS and words[0].replace("-", "").isalnum()


def cache_path(words: list[str], stream: TextIO | None = None) -> Path | None:
    """Where the help for ``words`` printed to ``stream`` (stdout) is kept; None when it cannot be keyed."""
    import hashlib
    import json

    stream = sys.stdout if stream is None else stream
    try:
        tty = stream.isatty()
        width = os.get_terminal_size(stream.fileno()).columns if tty else None
    except (AttributeError, OSError, ValueError):
        return None
    key = {
        "words": words,
        "code": _code_stamp(),
        "tty": tty,
        "width": width,
        "encoding": getattr(stream, "encoding", None),
        "python": sys.version_info[:2],
        "environment": {name: os.environ.get(name) for name in ENVIRONMENT},
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    return _directory() / f"{digest}.txt"


def serve(words: list[str]) -> bool:
    """Print the cached help for ``words``, if there is one; whether it did."""
    if not is_help(words):
        return False
    path = cache_path(words)
    if path is None:
        return False
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if not text:
        return False
    sys.stdout.write(text)
    sys.stdout.flush()
    return True


@contextlib.contextmanager
def recording(words: list[str]) -> Iterator[list[Any]]:
    """While the block renders help for ``words``, copy what goes to stdout; when it ends without an error,
    keep the copy for :func:`serve`. Yields a list the caller appends the exit code to."""
    path = cache_path(words) if is_help(words) else None
    if path is None:
        yield []
        return
    tee = _Tee(sys.stdout)
    sys.stdout = cast(TextIO, tee)
    codes: list[Any] = []
    try:
        yield codes
    finally:
        sys.stdout = tee.stream
    if codes and codes[-1] in (0, None) and tee.copy:
        _keep(path, "".join(tee.copy))


class _Tee:
    """stdout as it is (a terminal stays a terminal for rich, as wide), with a copy of what is written."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.copy: list[str] = []

    def write(self, text: str) -> int:
        # first: a probe with bytes (click's) fails here, copying nothing
        written = self.stream.write(text)
        self.copy.append(text)
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def _keep(path: Path, text: str) -> None:
    from llmroof.errors import LlmroofError
    from llmroof.writers import write_text_atomic

    with contextlib.suppress(LlmroofError, OSError):
        write_text_atomic(path, text)


def _directory() -> Path:
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "llmroof" / "help"


def _code_stamp() -> list[Any]:
    """llmroof's version and its modules' modification times: any change of the code is a new key."""
    from llmroof.version import __version__

    package = Path(__file__).resolve().parents[1]
    stamps = []
    for folder, _, files in os.walk(package):
        for name in files:
            if name.endswith((".py", ".toml")):
                with contextlib.suppress(OSError):
                    stamps.append(os.stat(os.path.join(folder, name)).st_mtime_ns)
    return [__version__, str(package), len(stamps), max(stamps, default=0), sum(stamps) % (1 << 61)]
