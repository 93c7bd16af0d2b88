"""Where measured records go: the save callback the CLI and the Python API hand the measurement layer,
which writes nothing itself."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmroof.results.io import write_json_atomic


def saver(path: str | Path) -> Callable[[dict[str, Any]], object]:
    """Write the record to ``path`` atomically each time it is called, so a reader or an interrupted run
    never sees half a file. Picklable, so the launcher can hand it to the ranks it starts."""
    return functools.partial(write_json_atomic, Path(path))
