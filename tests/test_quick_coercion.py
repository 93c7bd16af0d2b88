"""Option values coerced without typer's pydantic adapters give exactly what typer's own coercion gives, and
anything else (out of range, not plain, a path, a list) still goes to typer, with typer's error message."""

from __future__ import annotations

import subprocess
import sys
from enum import Enum

import pytest
import typer.main

from llmroof.cli.main import COMMANDS, application
from llmroof.cli.quick_coercion import _SLOW, plain_value


def commands():
    group = typer.main.get_command(application())
    context = group.context_class(group)
    for name in COMMANDS:
        command = group.get_command(context, name)
        yield name, command, command.context_class(command)


def samples(annotation, default):
    values = [default]
    if annotation is int:
        values += ["0", "1", "7", "0012", "1024", "-3", "+4", " 5", "1_000", "9" * 20, "x"]
    if annotation is float:
        values += ["0", "0.5", "2", "25.0", "1e3", "-1", ".5", "nan", "inf", "x"]
    if annotation is str:
        values += ["llama-3-8b", "", " a b ", "é"]
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        values += (
            [m.value for m in annotation] + [str(m.value).upper() for m in annotation] + ["nope"]
        )
    return values


def typer_coercion(param, context, value):
    try:
        return param.get_runtime_param.__self__.build().coerce(value, param=param, ctx=context)
    except Exception as exc:  # noqa: BLE001 - the error is the result compared
        return ("error", type(exc).__name__, str(exc))


def test_every_quick_value_is_typers_value() -> None:
    checked = 0
    for name, command, context in commands():
        for param in command.params:
            descriptor = getattr(param, "type_descriptor", None)
            if descriptor is None or param.multiple or param.nargs == -1:
                continue
            for value in samples(descriptor.annotation, param.default):
                quick = plain_value(descriptor.annotation, descriptor.parameter_info, value)
                if quick is _SLOW or value is None:
                    continue
                expected = typer_coercion(param, context, value)
                assert quick == expected and type(quick) is type(expected), (
                    name,
                    param.name,
                    value,
                )
                checked += 1
    assert checked > 100


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["analyze", "--batch", "0"], "Input should be greater than or equal to 1"),
        (["analyze", "--batch", "x"], "Input should be a valid integer"),
        (["analyze", "--reserve", "2"], "Input should be less than or equal to 0.99"),
        (["analyze", "--format", "xml"], "'xml' is not one of 'table', 'json', 'csv'"),
    ],
)
def test_bad_values_still_get_typers_messages(args, message) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "llmroof", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_a_one_off_analysis_does_not_import_pydantic() -> None:
    code = (
        "import sys\nfrom llmroof.cli.main import main\ntry:\n    main(['analyze', '--format', 'json', "
        "'--batch', '4', '--reserve', '0.2'])\nexcept SystemExit as exc:\n    assert not exc.code\n"
        "assert 'pydantic' not in sys.modules\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
