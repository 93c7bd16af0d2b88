"""typer commands built from their declarations (:mod:`llmroof.commands`): each option a typer parameter of
the declared type, default, bounds and help, and the command's function called with a :class:`Given` of the
values the user gave."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

import typer

from llmroof.commands import CommandSpec, OptionSpec, commands

Body = Callable[["Given"], object]
BASE_TYPES: dict[str, type] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "path": Path,
    "file": Path,
    "dir": Path,
}


class Given:
    """A command's option values by name (a choice as its value), and typer's context (``ctx``)."""

    def __init__(self, ctx: typer.Context, values: dict[str, Any]) -> None:
        self.ctx = ctx
        self.values = values

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    def pick(self, target: Callable[..., Any], **replaced: Any) -> dict[str, Any]:
        """The values that ``target`` (a function or a dataclass) takes by name, ``replaced`` overriding."""
        names = inspect.signature(target).parameters
        return {k: v for k, v in (self.values | replaced).items() if k in names}

    def build(self, cls: Callable[..., Any], **replaced: Any) -> Any:
        return cls(**self.pick(cls, **replaced))


def register(app: typer.Typer, module: str) -> None:
    """Add the commands declared in ``<module>.toml`` to ``app``, each calling the function of that name
    in ``llmroof.cli.<module>`` (a subcommand's is named ``GROUP_SUB``)."""
    functions = importlib.import_module(f"llmroof.cli.{module}")
    for spec in commands(module):
        if spec.subcommands:
            group = typer.Typer(name=spec.name, help=spec.help, no_args_is_help=True)
            for sub in spec.subcommands:
                _add(group, sub, getattr(functions, f"{spec.name}_{sub.name}"))
            app.add_typer(group)
        else:
            _add(app, spec, getattr(functions, spec.name))


def _add(app: typer.Typer, spec: CommandSpec, body: Body) -> None:
    extra = {"allow_extra_args": True, "ignore_unknown_options": True}
    app.command(spec.name, help=spec.help, context_settings=extra if spec.extra_args else None)(
        _callback(spec, body)
    )


def _callback(spec: CommandSpec, body: Body) -> Callable[..., object]:
    def command(ctx: typer.Context, **values: Any) -> object:
        plain = {k: v.value if isinstance(v, Enum) else v for k, v in values.items()}
        return body(Given(ctx, plain))

    context = inspect.Parameter(
        "ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context
    )
    command.__signature__ = inspect.Signature([context, *map(_parameter, spec.options)])  # type: ignore[attr-defined]
    command.__annotations__ = {}  # typer reads the signature's types, not these (strings here)
    command.__doc__ = spec.help
    return command


def _parameter(option: OptionSpec) -> inspect.Parameter:
    kind: Any = BASE_TYPES[option.type]
    default = option.default
    if option.choices is not None:
        choice = Enum(option.name, [(c, c) for c in option.choices], type=str)  # type: ignore[misc]
        kind, default = choice, None if default is None else choice(default)
    if option.many:
        kind = list[kind]
    if default is None and not option.required:
        kind = kind | None
    keywords: dict[str, Any] = {"help": option.help or None}
    if option.type == "file":
        keywords["dir_okay"] = False
    if option.type == "dir":
        keywords["file_okay"] = False
    if not option.show_default:
        keywords["show_default"] = False
    if not option.argument:
        keywords |= {"min": option.min, "max": option.max}
    value = ... if option.required else default
    make = typer.Argument if option.argument else typer.Option
    flags = () if option.argument else option.flags
    return inspect.Parameter(
        option.name,
        inspect.Parameter.KEYWORD_ONLY,
        default=make(value, *flags, **keywords),
        annotation=kind,
    )
