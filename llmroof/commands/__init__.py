"""What every command takes, as data: one TOML file per command module (``profile.toml``...), read by the
CLI, which builds its typer commands from them, and by the Python API, whose functions take the same
options as keyword arguments.

A file holds one table per command: its ``help`` (the first paragraph is the summary ``llmroof --help``
lists) and its ``options``, one line each, in the order help lists them::

    [simulate]
    help = "Simulate a serving replica or fleet..."
    options.prompt = { flags = "--prompt -s", default = 1024, min = 1, help = "Prompt tokens per request." }

An option's keys: ``flags`` (its spellings; ``--x/--no-x`` for a switch), ``type`` (``str``, ``int``,
``float``, ``bool``, ``path``, ``file`` or ``dir``; by default the default's type), ``default`` (absent: none),
``required``, ``argument`` (positional), ``many`` (repeatable, or several arguments), ``choices``, ``min``,
``max``, ``show_default`` and ``help``. ``use = "NAME"`` takes the keys of ``shared.toml``'s option NAME,
those given beside it replacing them. A command with subcommands (``history``) has a table per subcommand
instead of ``options``. ``{dtypes}`` in a text is the list of dtypes. Only the standard library is imported
here.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FOLDER = Path(__file__).parent
TYPES = ("str", "int", "float", "bool", "path", "file", "dir")


@dataclass(frozen=True)
class OptionSpec:
    """One option (or argument) of a command."""

    name: str
    """The parameter's name: the keyword of the API and of the command's ``Given``."""
    flags: tuple[str, ...]
    """Its spellings (``--prompt``, ``-s``); none for an argument."""
    type: str
    """One of :data:`TYPES`."""
    help: str
    default: Any = None
    """None where the file gives none."""
    required: bool = False
    argument: bool = False
    many: bool = False
    choices: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    show_default: bool = True


@dataclass(frozen=True)
class CommandSpec:
    """One command: its help and its options, or its subcommands."""

    name: str
    help: str
    options: tuple[OptionSpec, ...] = ()
    subcommands: tuple[CommandSpec, ...] = ()
    extra_args: bool = False
    """Words after the options are passed on (``llmroof sample -- COMMAND``)."""

    def option(self, name: str) -> OptionSpec:
        return next(o for o in self.options if o.name == name)


@functools.cache
def commands(module: str) -> tuple[CommandSpec, ...]:
    """The commands declared in ``<module>.toml``, in its order."""
    table = _read(module)
    return tuple(_command(name, body) for name, body in table.items())


def command(module: str, name: str) -> CommandSpec:
    return next(c for c in commands(module) if c.name == name)


@functools.cache
def _read(module: str) -> dict[str, Any]:
    with open(FOLDER / f"{module}.toml", "rb") as file:
        return tomllib.load(file)


def _command(name: str, body: dict[str, Any]) -> CommandSpec:
    known = {"help", "options", "extra_args"}
    subcommands = tuple(_command(k, v) for k, v in body.items() if k not in known)
    return CommandSpec(
        name=name,
        help=_text(body["help"]),
        options=tuple(_option(k, v) for k, v in body.get("options", {}).items()),
        subcommands=subcommands,
        extra_args=body.get("extra_args", False),
    )


def _option(name: str, given: dict[str, Any]) -> OptionSpec:
    keys = dict(given)
    if "use" in keys:
        keys = _read("shared")[keys.pop("use")] | keys
    if "type" not in keys:
        keys["type"] = _type_of(name, keys.get("default"))
    if keys["type"] not in TYPES:
        raise ValueError(f"option {name!r}: type {keys['type']!r} is not one of {', '.join(TYPES)}")
    keys["flags"] = tuple(keys.pop("flags", "").split())
    keys["help"] = _text(keys.pop("help", ""))
    if isinstance(keys.get("default"), str):
        keys["default"] = _text(keys["default"])
    if "choices" in keys:
        keys["choices"] = tuple(keys["choices"])
    try:
        return OptionSpec(name=name, **keys)
    except TypeError as exc:  # a key OptionSpec does not have
        raise ValueError(f"option {name!r}: {exc}") from None


def _type_of(name: str, default: Any) -> str:
    for kind in (bool, int, float, str):  # bool first: a bool is an int
        if isinstance(default, kind):
            return kind.__name__
    raise ValueError(f"option {name!r}: no default to take its type from; give `type`")


def _text(text: str) -> str:
    if "{dtypes}" not in text:
        return text
    from llmroof.specs.dtypes import DTYPES

    return text.replace("{dtypes}", ", ".join(DTYPES))
