"""``llmroof plan``: which device, tensor- and pipeline-parallel layout and number of concurrent sequences
serve a model within latency objectives, how many replicas a request rate needs, and at what cost."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from llmroof.cli.options import (
    AttentionKernelChoice,
    Dtype,
    GroupSize,
    HardwareFile,
    KvDtype,
    Model,
    TpotSlo,
    TtftSlo,
    WeightDtype,
    options_of,
)


class PlanFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    html = "html"


def plan(
    ctx: typer.Context,
    model: Model,
    hardware: str = typer.Option(
        ...,
        "--hardware",
        "-H",
        help="Device, or devices separated by commas (h100,a100); see `llmroof hardware`.",
    ),
    prompt: int = typer.Option(2048, "--prompt", "-s", help="Prompt tokens per request."),
    output: int = typer.Option(512, "--output", "-o", help="Generated tokens per request."),
    rate: float | None = typer.Option(
        None, "--rate", help="Requests per second to serve (default: one replica)."
    ),
    ttft_slo: TtftSlo = None,
    tpot_slo: TpotSlo = None,
    gpus_per_node: int | None = typer.Option(
        None,
        "--gpus-per-node",
        help="GPUs per node: the largest tp, and where links turn inter-node "
        "(default: the catalog's, 8 for most devices).",
    ),
    gpu_hour_cost: str | None = typer.Option(
        None, "--gpu-hour-cost", help="USD per GPU-hour: one price, or one per device (2.5,1.8)."
    ),
    dtype: Dtype = "bf16",
    weight_dtype: WeightDtype = None,
    kv_dtype: KvDtype = None,
    group_size: GroupSize = None,
    calibrate: list[Path] | None = typer.Option(
        None,
        "--calibrate",
        dir_okay=False,
        help="A profile results file (llmroof profile) or bench result (llmroof bench) of a planned device; "
        "repeat for several devices.",
    ),
    max_gpus: int = typer.Option(16, "--max-gpus", help="Largest tp x pp per replica."),
    block_size: int = typer.Option(16, "--block-size", help="Tokens per paged KV-cache block."),
    reserve: float = typer.Option(
        0.1, "--reserve", help="Share of device memory kept back from weights and KV."
    ),
    attention_kernel: AttentionKernelChoice = typer.Option(
        AttentionKernelChoice.flash,
        "--attention-kernel",
        help="flash: one fused op (serving engines); eager.",
    ),
    top: int = typer.Option(
        5, "--top", help="Recommendations (or closest configurations) to give."
    ),
    simulate: bool = typer.Option(
        True,
        "--simulate/--no-simulate",
        help="With --rate: simulate the recommended configurations under Poisson arrivals "
        "and recommend only those whose p90 TTFT and TPOT meet the SLOs.",
    ),
    disaggregate: bool = typer.Option(
        False,
        "--disaggregate",
        help="With --rate: also simulate disaggregated prefill/decode layouts (xPyD) and report "
        "the best beside the recommendation.",
    ),
    fmt: PlanFormat = typer.Option(PlanFormat.table, "--format", "-f", help="Output format."),
    hardware_file: HardwareFile = None,
) -> None:
    """Capacity plan: every TP x PP x concurrency on each device, the Pareto front, and a recommendation."""
    from llmroof.plan.command import plan_command
    from llmroof.report.console.plan import print_result

    result = plan_command(**options_of(plan_command, ctx))
    print_result(result, fmt.value)


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)
