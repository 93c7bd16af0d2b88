"""``llmroof --help`` served from its cache: the same text as rendering it, without importing typer or rich
the second time; a key per request, terminal and code; a broken cache never breaks help."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from llmroof.cli import help_cache

PROBE = (
    "import sys\n"
    "from llmroof.cli.main import main\n"
    "try:\n"
    "    main(sys.argv[1:])\n"
    "except SystemExit as exc:\n"
    "    code = exc.code\n"
    "heavy = sorted(m for m in ('typer', 'rich', 'pydantic') if m in sys.modules)\n"
    "print('HEAVY', heavy, code, file=sys.stderr)\n"
)


def run(cache, *args: str, columns: str = "100") -> tuple[str, str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "COLUMNS": columns}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    return done.stdout, done.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("args", [("--help",), ("analyze", "--help"), ("profile", "-h")])
def test_help_is_rendered_once_then_served_from_the_cache(tmp_path, args) -> None:
    first, first_heavy = run(tmp_path, *args)
    second, second_heavy = run(tmp_path, *args)
    assert "Usage: llmroof" in first and second == first
    assert "'typer'" in first_heavy and first_heavy.endswith(" 0")
    assert second_heavy == "HEAVY [] 0"  # nothing heavy imported: the cached text
    wider, _ = run(tmp_path, *args, columns="150")
    assert wider != first  # another width, another entry, rendered afresh


def test_what_is_not_only_help_is_never_cached(tmp_path) -> None:
    assert not help_cache.is_help(["analyze", "--help", "--batch", "2"])
    assert not help_cache.is_help([]) and not help_cache.is_help(["analyze"])
    assert help_cache.is_help(["-h"]) and help_cache.is_help(["models", "--help"])
    run(tmp_path, "analyze", "--format", "json")
    assert not (tmp_path / "llmroof" / "help").exists()


def test_an_unreadable_or_empty_cache_entry_renders_help_again(tmp_path) -> None:
    text, _ = run(tmp_path, "--help")
    (entry,) = (tmp_path / "llmroof" / "help").iterdir()
    entry.write_text("")
    again, heavy = run(tmp_path, "--help")
    assert again == text and "'typer'" in heavy
    entry.unlink()
    entry.mkdir()  # a folder where the file should be: cannot be read or replaced
    again, heavy = run(tmp_path, "--help")
    assert again == text, heavy
