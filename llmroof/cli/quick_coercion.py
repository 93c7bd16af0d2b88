"""Option values coerced without building typer's pydantic adapters, where the result is plain.

typer (0.2x) coerces every option of a command, given or defaulted, through a pydantic ``TypeAdapter`` that it
builds on first use: importing pydantic and building some thirty adapters is most of a one-off command's
start-up. Yet nearly every value is trivial: a default already of its type, a decimal integer, a name from
a choice. :func:`install` gives each option a coercion that takes those itself and hands anything else (a
value out of range, a path, a list, text that is not a plain number) to typer's own, so every error message
stays typer's. Where typer's internals are not the ones this was written against, it installs nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import Enum
from typing import Any

_SLOW = object()
_INTEGER = re.compile(r"[0-9]{1,15}")
_DECIMAL = re.compile(r"[0-9]{1,15}(\.[0-9]{1,15})?")


def install(command: Any) -> None:
    """Give every typer option of ``command``, its help option included, the quick coercion (nothing, on an
    unfamiliar typer)."""
    for param in getattr(command, "params", ()):
        _install(param)
    help_option = getattr(command, "get_help_option", None)
    if help_option is not None:

        def get_help_option(ctx: Any) -> Any:
            option = help_option(ctx)
            if option is not None:
                _install(option)
            return option

        command.get_help_option = get_help_option


def _install(param: Any) -> None:
    original = getattr(param, "get_runtime_param", None)
    if (
        original is None
        or not hasattr(param, "type_descriptor")
        or not hasattr(param, "_runtime_param")
    ):
        return
    if isinstance(getattr(original, "__self__", None), _Quick):
        return  # installed already
    param.get_runtime_param = _Quick(param, original).runtime_param


class _Quick:
    """Stands in for typer's runtime parameter of one option; builds that only when a value needs it."""

    def __init__(self, param: Any, build: Callable[[], Any]) -> None:
        self.param = param
        self.build = build

    def runtime_param(self) -> _Quick:
        return self

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        multi = param.multiple or param.nargs == -1
        if value is None:  # typer's own rule for a missing value
            return () if multi else None
        if not multi and getattr(ctx, "token_normalize_func", None) is None:
            descriptor = param.type_descriptor
            quick = plain_value(descriptor.annotation, descriptor.parameter_info, value)
            if quick is not _SLOW:
                return quick
        return self.build().coerce(value, param=param, ctx=ctx)


def plain_value(annotation: Any, info: Any, value: Any) -> Any:
    """``value`` as typer would coerce it to ``annotation``, or ``_SLOW`` where this does not know."""
    if annotation is str and type(value) is str:
        return value
    if annotation is int and (
        type(value) is int or (type(value) is str and _INTEGER.fullmatch(value))
    ):
        return _in_range(int(value), info)
    if annotation is float and (
        type(value) is float or (type(value) is str and _DECIMAL.fullmatch(value))
    ):
        return _in_range(float(value), info)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        if isinstance(value, annotation):
            return value
        if type(value) is str and getattr(info, "case_sensitive", False):
            return next((member for member in annotation if member.value == value), _SLOW)
    return _SLOW


def _in_range(number: float, info: Any) -> Any:
    low, high = getattr(info, "min", None), getattr(info, "max", None)
    if (
        getattr(info, "clamp", False)
        or (low is not None and number < low)
        or (high is not None and number > high)
    ):
        return _SLOW  # typer clamps or words the error
    return number
