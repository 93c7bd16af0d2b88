"""``llmroof``: the typer application and its entry point.

Each command lives in its own module and imports what it needs when it runs, so ``llmroof --help`` and
the analytic commands never import torch.
"""

from __future__ import annotations

import contextlib
import errno
import io
import math
import os
import signal
import sys
import threading
import warnings

import typer
import typer.main

from llmroof.errors import EXIT_SIGNAL_BASE, EXIT_USER_ERROR, Interrupted, LlmroofError, interrupt_exit_code
from llmroof.version import __version__

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
    from llmroof.cli import bench as bench_cli
    from llmroof.cli import trace as trace_cli

    profile.register(app)
    analyze.register(app)
    sample.register(app)
    comm.register(app)
    compare.register(app)
    plan.register(app)
    report.register(app)
    catalogs.register(app)
    bench_cli.register(app)
    ceilings.register(app)
    trace_cli.register(app)


_register()


OUTPUT_ERRNOS = {errno.EPIPE, errno.ENOSPC, errno.EBADF, errno.EIO, errno.EFBIG, errno.EDQUOT}
"""Errors of writing to stdout (no file name attached): a closed stream, a full disk, a broken pipe."""
INT_LIMIT = 2**53
"""Larger integers on the command line are refused: beyond float precision, no count or size means anything."""
FLOAT_LIMIT = 1e15
"""Larger (or non-finite) numbers on the command line are refused at parse time."""


def main(argv: list[str] | None = None) -> None:
    """Console entry point: every user error, llmroof's own or a usage error of an option, becomes one line
    on stderr with a hint and exit code 2, never a traceback. SIGTERM and SIGHUP stop a command as Ctrl-C
    does (what it finished is kept) and exit 128 + N."""
    entry = argv is None
    _prepare_streams(entry)
    # A model name in a script the plotting font lacks: the figure shows boxes; not worth a warning per glyph.
    warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)
    received: list[int] = []
    previous = _install_signal_handlers(received)
    try:
        code = _run(argv)
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

    command = typer.main.get_command(app)
    _guard_numbers(command)
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
        _fail(exc.format_message(), f"{name} --help", getattr(exc, "exit_code", 2) or 2)
    return 2


def _command_path(argv: list[str] | None) -> str:
    """``llmroof COMMAND`` of this invocation, for a hint where an error brings none."""
    words = sys.argv[1:] if argv is None else argv
    command = next((w for w in words if w in getattr(typer.main.get_command(app), "commands", {})), None)
    return f"llmroof {command}" if command else "llmroof"


def _fail(message: str, hint: str | None, code: int = EXIT_USER_ERROR) -> None:
    """One line on stderr (whitespace of a multi-line message folded) and exit ``code``."""
    text = " ".join((f"llmroof: error: {message}" + (f" (hint: {hint})" if hint else "")).split())
    try:
        print(text, file=sys.stderr)
    except (OSError, ValueError):
        pass  # stderr is closed too: the exit code is all that is left
    sys.exit(code)


def _os_failure(exc: OSError, entry: bool) -> None:
    """An OSError that escaped the command: a stdout that cannot be written, or a file the system refused."""
    if exc.filename is None and exc.errno in OUTPUT_ERRNOS:
        _silence_stdout(entry)
        if exc.errno == errno.EPIPE:  # the reader went away (`| head`): no message, as a shell tool
            sys.exit(EXIT_SIGNAL_BASE + 13)
        _fail(f"cannot write to stdout: {exc.strerror or exc}",
              "check where the output goes (a closed stream, a full disk?)")
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
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `llmroof models | head -1` ends quietly, as cat does


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
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a finite number"
    if isinstance(value, float) and abs(value) > FLOAT_LIMIT:
        return f"{value:g} is too large (at most {FLOAT_LIMIT:g})"
    if isinstance(value, int) and abs(value) > INT_LIMIT:
        return f"{value} is too large (at most 2**53)"
    return None


def _is_usage_error(exc: BaseException) -> bool:
    """Typer's (vendored) click usage and parameter errors: they carry format_message and exit_code."""
    return any(cls.__name__ in ("UsageError", "ClickException") for cls in type(exc).__mro__)


if __name__ == "__main__":  # pragma: no cover
    main()
