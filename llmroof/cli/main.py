"""``llmroof``: the typer application and its entry point.

Each command lives in its own module and imports what it needs when it runs, so ``llmroof --help`` and
the analytic commands never import torch.
"""

from __future__ import annotations

import sys

import typer

from llmroof import __version__
from llmroof.errors import LlmroofError

app = typer.Typer(
    name="llmroof",
    help="How close is your LLM inference to the memory wall? Analytic and measured rooflines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"llmroof {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """How close is your LLM inference to the memory wall? Analytic and measured rooflines."""


def _register() -> None:
    from llmroof.cli import analyze, catalogs, ceilings, comm, compare, plan, profile, report, sample

    profile.register(app)
    analyze.register(app)
    sample.register(app)
    comm.register(app)
    compare.register(app)
    plan.register(app)
    report.register(app)
    catalogs.register(app)
    ceilings.register(app)


_register()


def main(argv: list[str] | None = None) -> None:
    """Console entry point: every user error, llmroof's own or a usage error of an option, becomes one line
    on stderr with a hint and exit code 2, never a traceback."""
    try:
        code = app(args=argv, prog_name="llmroof", standalone_mode=False)
    except LlmroofError as exc:
        hint = f" (hint: {exc.hint})" if exc.hint else ""
        print(f"llmroof: error: {exc.message}{hint}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("llmroof: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        if not _is_usage_error(exc):
            raise
        context = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and context is not None:
            print(context.get_help())
            sys.exit(2)
        command = context.command_path if context is not None else "llmroof"
        message = " ".join(exc.format_message().split())  # one line
        print(f"llmroof: error: {message} (hint: {command} --help)", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 2) or 2)
    sys.exit(code if isinstance(code, int) else 0)


def _is_usage_error(exc: BaseException) -> bool:
    """Typer's (vendored) click usage and parameter errors: they carry format_message and exit_code."""
    return any(cls.__name__ in ("UsageError", "ClickException") for cls in type(exc).__mro__)


if __name__ == "__main__":  # pragma: no cover
    main()
