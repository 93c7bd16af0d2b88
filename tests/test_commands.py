"""The command declarations (llmroof/commands/*.toml): well formed, and in agreement with the library functions
the CLI hands their values to (a default declared for the command line is the default the API gets)."""

from __future__ import annotations

import importlib
import inspect

import pytest

from llmroof import commands
from llmroof.cli.options import Given
from llmroof.commands import TYPES, CommandSpec

MODULES = ("analyze", "bench", "catalogs", "ceilings", "comm", "compare", "history", "plan", "profile",
           "report", "sample", "simulate", "trace")


def every_command() -> list[CommandSpec]:
    found = []
    for module in MODULES:
        for spec in commands.commands(module):
            found += list(spec.subcommands) if spec.subcommands else [spec]
    return found


def test_every_module_of_the_cli_has_its_declarations() -> None:
    from llmroof.cli.main import COMMANDS

    assert set(COMMANDS.values()) == set(MODULES)
    declared = {c.name for m in MODULES for c in commands.commands(m)}
    assert declared == set(COMMANDS)


@pytest.mark.parametrize("spec", every_command(), ids=lambda s: s.name)
def test_a_command_is_well_declared(spec: CommandSpec) -> None:
    assert spec.help and spec.options
    flags = [f for o in spec.options for f in o.flags]
    assert len(flags) == len(set(flags)), "a flag declared twice"
    for option in spec.options:
        assert option.type in TYPES
        hidden = hasattr(Given, option.name) or option.name in ("ctx", "values")
        assert not hidden, f"{option.name} is hidden by Given.{option.name}"
        assert option.help, option.name
        assert option.argument or option.flags, option.name
        assert all(f.startswith("-") for f in option.flags), option.flags
        if option.choices is not None and option.default is not None:
            assert option.default in option.choices
        if option.default is not None and option.type in ("int", "float"):
            assert option.min is None or option.default >= option.min, option.name
            assert option.max is None or option.default <= option.max, option.name


def test_every_shared_option_is_used_and_complete() -> None:
    shared = commands._read("shared")
    used = set()
    for module in MODULES:
        text = (commands.FOLDER / f"{module}.toml").read_text(encoding="utf-8")
        used |= {name for name in shared if f'use = "{name}"' in text}
    assert used == set(shared)
    assert all("type" in entry or "default" in entry for entry in shared.values())


def test_a_bad_declaration_is_refused() -> None:
    with pytest.raises(ValueError, match="type 'number'"):
        commands._option("x", {"flags": "--x", "type": "number"})
    with pytest.raises(ValueError, match="no default to take its type from"):
        commands._option("x", {"flags": "--x"})
    with pytest.raises(ValueError, match="unexpected keyword argument 'dflt'"):
        commands._option("x", {"flags": "--x", "type": "int", "dflt": 3})


# (module, command) -> the library function or settings class its values go to by name, and the options the
# command converts before passing them (text to a tuple, milliseconds to seconds...): those are checked below.
TARGETS = {
    ("analyze", "analyze"): ("llmroof.runs.analyze:AnalyzeOptions", ()),
    ("bench", "bench"): ("llmroof.bench.run:BenchConfig", ("concurrency",)),
    ("simulate", "simulate"): ("llmroof.simulate.command:simulate_command", ()),
    ("plan", "plan"): ("llmroof.plan.command:plan_command", ()),
    ("trace", "trace"): ("llmroof.trace.run:trace_command", ()),
    ("compare", "compare"): ("llmroof.compare.command:compare_command", ()),
    ("compare", "settings"): ("llmroof.compare.comparison:CompareSettings",
                              ("threshold", "metrics", "noise_floor")),
    ("profile", "profile"): ("llmroof.runs.profile:prepare_profile", ()),
    ("comm", "comm"): ("llmroof.runs.comm:run_comm", ()),
}


@pytest.mark.parametrize(("module", "name"), list(TARGETS))
def test_declared_defaults_are_the_library_defaults(module: str, name: str) -> None:
    where, converted = TARGETS[(module, name)]
    path, _, attribute = where.partition(":")
    target = getattr(importlib.import_module(path), attribute)
    spec = commands.command(module, module)
    parameters = inspect.signature(target).parameters
    passed = [o for o in spec.options if o.name in parameters and o.name not in converted]
    assert passed
    for option in passed:
        default = parameters[option.name].default
        if default is inspect.Parameter.empty:
            assert option.required or option.argument, option.name
        else:
            assert option.default == default, option.name


def test_the_converted_compare_defaults_are_the_library_ones() -> None:
    from llmroof.compare.comparison import CompareSettings
    from llmroof.compare.metrics import METRICS, NOISE_FLOOR
    from llmroof.ranges import parse_threshold

    spec = commands.command("compare", "compare")
    assert parse_threshold(spec.option("threshold").default) == CompareSettings().threshold
    assert parse_threshold(spec.option("noise_floor").default) == NOISE_FLOOR
    assert spec.option("metrics").help.endswith("default all: " + ", ".join(METRICS) + ".")


def test_the_dtype_list_is_the_catalog_s() -> None:
    from llmroof.specs.dtypes import DTYPES

    assert commands.command("analyze", "analyze").option("dtype").help.endswith(
        "One of " + ", ".join(DTYPES) + "."
    )


def command_words() -> list[tuple[tuple[str, ...], CommandSpec]]:
    """Every command's words (``history add``) with its declaration."""
    found = []
    for module in MODULES:
        for spec in commands.commands(module):
            found += [((spec.name, sub.name), sub) for sub in spec.subcommands] or [((spec.name,), spec)]
    return found


@pytest.mark.parametrize(("words", "spec"), command_words(), ids=lambda x: " ".join(x) if isinstance(x, tuple) else "")
def test_help_lists_every_declared_option(words, spec, capsys, monkeypatch, tmp_path) -> None:
    """Through the entry point: each declared option is built as a typer parameter of its spellings."""
    from cli_runner import run_cli

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # no cached help
    monkeypatch.setenv("COLUMNS", "400")
    code, out, _ = run_cli(capsys, *words, "--help")
    assert code == 0
    for option in spec.options:
        for flag in option.flags:
            assert flag.split("/")[0] in out, flag
