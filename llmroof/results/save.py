"""Where measured records go: the save callback the CLI and the Python API hand the measurement
layer, which writes nothing itself, and the results folder it writes into, checked before anything is
measured."""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmroof.errors import LlmroofError, shorten
from llmroof.results.io import check_writable, read_json, write_json_atomic
from llmroof.writers import check_output_folder

RUN_FILES = ("results.json", "report.html")
"""What a profile or bench run writes into its folder."""


def saver(path: str | Path) -> Callable[[dict[str, Any]], object]:
    """Write the record to ``path`` atomically each time it is called, so a reader or an interrupted run
    never sees half a file. Picklable, so the launcher can hand it to the ranks it starts."""
    return functools.partial(write_json_atomic, Path(path))


def results_folder(out: Path | None, *, force: bool, prefix: str = "") -> Path:
    """The folder a run writes to, checked before anything is measured: writable, not holding an
    earlier run (a ``results.json``, whatever wrote it) nor a file of the user's under a name the
    run writes (``report.html``), unless ``force``. The default is a new time-stamped folder under
    ./llmroof-runs/ (numbered when two runs start in the same second)."""
    if out is None:
        stamp = Path("llmroof-runs") / (prefix + datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
        folder, n = stamp, 1
        while folder.exists():
            n += 1
            folder = stamp.with_name(f"{stamp.name}-{n}")
    else:
        folder = out
        if folder.exists() and not folder.is_dir():
            raise LlmroofError(
                f"--out {shorten(str(folder))}: not a folder (a run writes results.json and "
                "report.html into a folder)",
                "name a new or existing folder",
            )
        earlier = folder / "results.json"
        if (earlier.exists() or earlier.is_symlink()) and not force:
            raise LlmroofError(
                f"--out {shorten(str(folder))} holds an earlier run ({_describe_run(earlier)})",
                "choose another --out, or pass --force to replace it",
            )
        check_output_folder(folder, RUN_FILES, force=force)
    check_writable(folder, folder=True)
    return folder


def _describe_run(path: Path) -> str:
    try:
        data = read_json(path)
        return f"status {data.get('status', '?')}, {(data.get('environment') or {}).get('time_utc', 'time unknown')}"
    except (LlmroofError, AttributeError):
        return "a results.json llmroof cannot read"
