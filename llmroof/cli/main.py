"""``llmroof``: the typer application and its entry point.

Each command lives in its own module and imports what it needs when it runs, so ``llmroof --help`` and
the analytic commands never import torch. The application itself (typer, and every command module) is built
on first use (:func:`application`, or the module attribute ``app``), so that help served from its cache
(:mod:`llmroof.cli.help_cache`) imports none of it.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import signal
import sys
import threading
import warnings
from typing import Any

from llmroof.cli import help_cache
from llmroof.errors import (
    EXIT_SIGNAL_BASE,
    EXIT_USER_ERROR,
    Interrupted,
    LlmroofError,
    interrupt_exit_code,
)
from llmroof.version import __version__

_APP: Any = None


def application() -> Any:
    """The typer application with every command registered (built once)."""
    global _APP
    if _APP is None:
        _APP = _build()
    return _APP


def __getattr__(name: str) -> Any:
    if name == "app":
        return application()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


COMMANDS = {
    "profile": "profile",
    "analyze": "analyze",
    "sample": "sample",
    "comm": "comm",
    "compare": "compare",
    "plan": "plan",
    "report": "report",
    "models": "catalogs",
    "hardware": "catalogs",
    "bench": "bench",
    "ceilings": "ceilings",
    "simulate": "simulate",
    "history": "history",
    "trace": "trace",
}
"""Every command, in the order help lists them, and its module: ``llmroof/commands/<module>.toml`` declares
it, ``llmroof.cli.<module>`` runs it; both are read (and its options built) only when that command runs or
help lists it."""


def _build() -> Any:
    import typer

    app = typer.Typer(
        name="llmroof",
        help="How close is your LLM inference to the memory wall? Analytic and measured rooflines.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
        cls=_lazy_group(),
    )

    def version(value: bool) -> None:
        if value:
            typer.echo(f"llmroof {__version__}")
            raise typer.Exit()

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", callback=version, is_eager=True, help="Print the version."
        ),
    ) -> None:
        """How close is your LLM inference to the memory wall? Analytic and measured rooflines."""

    return app


def _lazy_group() -> Any:
    """typer's group, with each command built from its module (:data:`COMMANDS`) when first asked for."""
    import typer
    import typer.core
    import typer.main

    from llmroof.cli import options, quick_coercion

    class LazyGroup(typer.core.TyperGroup):
        def list_commands(self, ctx: Any) -> list[str]:
            return [*self.commands, *(name for name in COMMANDS if name not in self.commands)]

        def get_command(self, ctx: Any, cmd_name: str) -> Any:
            if cmd_name not in self.commands and cmd_name in COMMANDS:
                scratch = typer.Typer()
                options.register(scratch, COMMANDS[cmd_name])
                for info in scratch.registered_commands:
                    command = typer.main.get_command_from_info(
                        info, pretty_exceptions_short=True, rich_markup_mode=self.rich_markup_mode
                    )
                    _guard_numbers(command)
                    quick_coercion.install(command)
                    self.commands.setdefault(info.name or cmd_name, command)
                # a command with subcommands (llmroof history ...)
                for group in scratch.registered_groups:
                    built = typer.main.get_group_from_info(
                        group,
                        pretty_exceptions_short=True,
                        suggest_commands=True,
                        rich_markup_mode=self.rich_markup_mode,
                    )
                    for sub in built.commands.values():
                        _guard_numbers(sub)
                        quick_coercion.install(sub)
                    self.commands.setdefault(group.name or cmd_name, built)
            return self.commands.get(cmd_name)

    return LazyGroup


OUTPUT_ERRNOS = {errno.EPIPE, errno.ENOSPC, errno.EBADF, errno.EIO, errno.EFBIG, errno.EDQUOT}
"""Errors of writing to stdout (no file name attached): a closed stream, a full disk, a broken pipe."""


def main(argv: list[str] | None = None) -> None:
    """Console entry point: every user error, llmroof's own or a usage error of an option, becomes one line
    on stderr with a hint and exit code 2, never a traceback. SIGTERM and SIGHUP stop a command as Ctrl-C
    does (what it finished is kept) and exit 128 + N."""
    entry = argv is None
    _prepare_streams(entry)
    words = sys.argv[1:] if argv is None else list(argv)
    if help_cache.serve(words):
        sys.exit(0)
    # A model name in a script the plotting font lacks: the figure shows boxes; not worth a warning per glyph.
    warnings.filterwarnings(
        "ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning
    )
    received: list[int] = []
    previous = _install_signal_handlers(received)
    try:
        with help_cache.recording(words) as codes:
            code = _run(argv)
            codes.append(code)
        _flush_stdout()
    except LlmroofError as exc:
        _fail(exc.message, exc.hint or f"{_command_path(argv)} --help")
    except KeyboardInterrupt as exc:
        print("llmroof: interrupted", file=sys.stderr)
        sys.exit(interrupt_exit_code(exc))
    except OSError as exc:
        _os_failure(exc, entry)
    finally:
        _restore_signal_handlers(previous)
    if code == 130 and received:  # typer turns KeyboardInterrupt (ours included) into 130
        code = EXIT_SIGNAL_BASE + received[0]
    sys.exit(code if isinstance(code, int) else 0)


def _run(argv: list[str] | None) -> object:
    import typer.main

    from llmroof.cli import quick_coercion

    command = typer.main.get_command(application())
    _guard_numbers(command)
    # the root's own options (each command's get theirs when it is built)
    quick_coercion.install(command)
    try:
        return command.main(args=argv, prog_name="llmroof", standalone_mode=False)
    except Exception as exc:
        if not _is_usage_error(exc):
            raise
        context = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and context is not None:
            print(context.get_help())
            return 2
        name = context.command_path if context is not None else "llmroof"
        _fail(
            getattr(exc, "format_message", exc.__str__)(),
            f"{name} --help",
            getattr(exc, "exit_code", 2) or 2,
        )
    return 2


def _command_path(argv: list[str] | None) -> str:
    """``llmroof COMMAND`` of this invocation, for a hint where an error brings none."""
    words = sys.argv[1:] if argv is None else argv
    command = next((w for w in words if w in COMMANDS), None)
    return f"llmroof {command}" if command else "llmroof"


def _fail(message: str, hint: str | None, code: int = EXIT_USER_ERROR) -> None:
    """One line on stderr (whitespace of a multi-line message folded, terminal escapes and control characters
    of names in it removed) and exit ``code``."""
    from llmroof.labels import plain_text

    text = " ".join(
        plain_text(f"llmroof: error: {message}" + (f" (hint: {hint})" if hint else "")).split()
    )
    # stderr closed too: the exit code is all that is left
    with contextlib.suppress(OSError, ValueError):
        print(text, file=sys.stderr)
    sys.exit(code)


def _os_failure(exc: OSError, entry: bool) -> None:
    """An OSError that escaped the command: a stdout that cannot be written, or a file the system refused."""
    if exc.filename is None and exc.errno in OUTPUT_ERRNOS:
        _silence_stdout(entry)
        if exc.errno == errno.EPIPE:  # the reader went away (`| head`): no message, as a shell tool
            sys.exit(EXIT_SIGNAL_BASE + 13)
        _fail(
            f"cannot write to stdout: {exc.strerror or exc}",
            "check where the output goes (a closed stream, a full disk?)",
        )
    if exc.filename is None:
        raise exc
    from llmroof.readers import os_error

    error = os_error(exc.filename, exc, "cannot use")
    _fail(error.message, error.hint)


class _ClosedStream(io.TextIOBase):
    """Stands in for a stdout closed before llmroof started (``llmroof models >&-``): writing fails clearly."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, "stdout is closed")

    def isatty(self) -> bool:
        return False


def _prepare_streams(entry: bool) -> None:
    if sys.stdout is None:
        sys.stdout = _ClosedStream()
    if sys.stderr is None:
        sys.stderr = io.StringIO()  # nowhere to report; the exit code still tells
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(Exception):
                reconfigure(errors="replace")  # a non-ASCII model name on an ASCII-only terminal
    if entry and hasattr(signal, "SIGPIPE"):
        # `llmroof models | head -1` ends quietly, as cat does
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)


def _flush_stdout() -> None:
    if not isinstance(sys.stdout, _ClosedStream):
        sys.stdout.flush()  # a full disk shows here, inside the error handling, not at interpreter exit


def _silence_stdout(entry: bool) -> None:
    """After a failed write, point stdout at /dev/null so the interpreter's final flush does not fail again."""
    if not entry:
        return
    with contextlib.suppress(Exception):
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)


def _install_signal_handlers(received: list[int]) -> dict[int, object]:
    """SIGTERM and SIGHUP raise :class:`Interrupted` (a KeyboardInterrupt) in the main thread."""

    def handler(signum: int, frame: object) -> None:
        received.append(signum)
        raise Interrupted(signum)

    previous: dict[int, object] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None:
            previous[signum] = signal.signal(signum, handler)
    return previous


def _restore_signal_handlers(previous: dict[int, object]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)  # type: ignore[arg-type]


def _guard_numbers(command: object) -> None:
    """Every numeric option of every command refuses NaN, infinity and absurd magnitudes at parse time
    (``--rep-ms inf`` would otherwise overflow deep inside a measurement)."""
    commands = [command, *getattr(command, "commands", {}).values()]
    for cmd in commands:
        for param in getattr(cmd, "params", ()):
            param.callback = _checked(param.callback)


def _checked(callback: object) -> object:
    def check(ctx: object, param: object, value: object) -> object:
        for item in value if isinstance(value, (list, tuple)) else (value,):
            problem = _number_problem(item)
            if problem:
                from typer._click.exceptions import BadParameter

                raise BadParameter(problem, ctx=ctx, param=param)  # type: ignore[arg-type]
        return callback(ctx, param, value) if callable(callback) else value

    return check


def _number_problem(value: object) -> str | None:
    from llmroof.errors import number_problem

    return number_problem(value)


def _is_usage_error(exc: BaseException) -> bool:
    """Typer's (vendored) click usage and parameter errors: they carry format_message and exit_code."""
    return any(cls.__name__ in ("UsageError", "ClickException") for cls in type(exc).__mro__)


if __name__ == "__main__":  # pragma: no cover
    main()
