"""Run the CLI inside the test process."""

from __future__ import annotations


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run ``llmroof ARGS`` in this process: (exit code, stdout, stderr)."""
    from llmroof.cli.main import main

    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err
