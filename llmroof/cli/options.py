"""Options that several commands share, declared once as ``Annotated`` types (a command's parameter
``tp: Tp = 1`` is the option ``--tp``), and the parsing of a command's options into its settings object."""

from __future__ import annotations

import inspect
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from llmroof.specs.dtypes import DTYPES

T = TypeVar("T")


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class TableOrJson(str, Enum):
    table = "table"
    json = "json"


class AttentionKind(str, Enum):
    mha = "mha"
    gqa = "gqa"
    mqa = "mqa"


class AttentionKernelChoice(str, Enum):
    eager = "eager"
    flash = "flash"


class ImplementationChoice(str, Enum):
    fused = "fused"
    eager = "eager"


DTYPE_HELP = f"One of {', '.join(DTYPES)}."

Model = Annotated[
    str, typer.Option("--model", "-m", help="Preset name, or a config.json (or its folder).")
]
HardwareFile = Annotated[
    Path | None,
    typer.Option(
        "--hardware-file",
        help="A TOML or JSON file of extra devices (same schema as the catalog).",
        dir_okay=False,
    ),
]
Dtype = Annotated[
    str,
    typer.Option(
        "--dtype", help=f"Activation (compute) dtype; default for the others. {DTYPE_HELP}"
    ),
]
WeightDtype = Annotated[
    str | None, typer.Option("--weight-dtype", help="Decoder linear weights' dtype.")
]
KvDtype = Annotated[str | None, typer.Option("--kv-dtype", help="KV-cache dtype.")]
GroupSize = Annotated[
    int | None, typer.Option("--group-size", help="int4 quantisation group size (default 128).")
]
Tp = Annotated[int, typer.Option("--tp", min=1, help="Tensor-parallel ranks.")]
Pp = Annotated[int, typer.Option("--pp", min=1, help="Pipeline stages.")]
MicroBatches = Annotated[
    int, typer.Option("--micro-batches", min=1, help="Prefill micro-batches in the pipeline.")
]
TtftSlo = Annotated[float | None, typer.Option("--ttft-slo", help="TTFT SLO in ms.")]
TpotSlo = Annotated[float | None, typer.Option("--tpot-slo", help="TPOT SLO in ms.")]
Seed = Annotated[int, typer.Option("--seed", help="Seed of prompts and arrival times.")]
TraceFile = Annotated[
    Path | None,
    typer.Option(
        "--trace-file",
        dir_okay=False,
        help="Azure or BurstGPT CSV, or Mooncake JSONL: its arrival times and lengths, replayed.",
    ),
]
Device = Annotated[str, typer.Option("--device", "-d", help="auto, cpu, cuda or cuda:N.")]
Nvml = Annotated[
    bool, typer.Option("--nvml/--no-nvml", help="On a GPU, sample DRAM traffic through NVML.")
]
RunFolder = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        file_okay=False,
        help="Results folder (default: a new folder under ./llmroof-runs/).",
    ),
]
Force = Annotated[
    bool,
    typer.Option("--force", help="Replace an earlier run in the --out folder (kept by default)."),
]
OutFile = Annotated[
    Path | None, typer.Option("--out", "-o", dir_okay=False, help="Write the output to this file.")
]
Html = Annotated[
    Path | None,
    typer.Option("--html", dir_okay=False, help="Also write an HTML report to this file."),
]
StepSummary = Annotated[
    bool,
    typer.Option(
        "--step-summary/--no-step-summary",
        help="Append markdown to $GITHUB_STEP_SUMMARY when that is set.",
    ),
]


def settings(cls: type[T], ctx: typer.Context, **given: Any) -> T:
    """The command's options as ``cls``, a dataclass whose fields (or keyword parameters) they are
    named after: see :func:`options_of`."""
    return cls(**options_of(cls, ctx, **given))


def options_of(cls: Any, ctx: typer.Context, **given: Any) -> dict[str, Any]:
    """The command's options that ``cls`` takes, by name, those in ``given`` replaced by its values
    (a choice as its value)."""
    names = inspect.signature(cls).parameters
    values = {k: v.value if isinstance(v, Enum) else v for k, v in ctx.params.items()}
    return {k: v for k, v in (values | given).items() if k in names}
