"""``llmroof simulate``: a serving replica (or fleet) simulated step by step under Poisson, Gamma or
traced traffic; TTFT, TPOT, ITL and E2E percentiles as ``llmroof bench`` measures them
(docs/simulate.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from llmroof.cli.options import (
    DTYPE_HELP,
    Format,
    HardwareFile,
    Html,
    Model,
    Pp,
    Seed,
    TpotSlo,
    TraceFile,
    TtftSlo,
    options_of,
)


def simulate(
    ctx: typer.Context,
    model: Model,
    hardware: str | None = typer.Option(
        None,
        "--hardware",
        "-H",
        help="Device (see `llmroof hardware`); default: the device of a --calibrate bench.",
    ),
    prompt: int = typer.Option(1024, "--prompt", "-s", min=1, help="Prompt tokens per request."),
    output: int = typer.Option(256, "--output", "-o", min=1, help="Output tokens per request."),
    rate: str | None = typer.Option(
        None, "--rate", "-r", help="Mean arrivals per second, e.g. 2,4,8."
    ),
    requests: int = typer.Option(1000, "--requests", "-n", min=1, help="Requests per rate."),
    seed: Seed = 0,
    cv: float = typer.Option(
        1.0, "--cv", min=0.0, help="Burstiness: CV of the gaps (1 Poisson, 0 fixed rate, >1 Gamma)."
    ),
    trace_file: TraceFile = None,
    max_num_seqs: int = typer.Option(
        256, "--max-num-seqs", min=1, help="Sequences running at once."
    ),
    max_num_batched_tokens: int = typer.Option(
        8192, "--max-num-batched-tokens", min=1, help="Token budget of one step."
    ),
    chunked_prefill: bool = typer.Option(
        True, "--chunked-prefill/--no-chunked-prefill", help="Cut prompts to the step's budget."
    ),
    one_at_a_time: bool = typer.Option(
        False,
        "--one-at-a-time",
        help="An engine without batching (transformers serve): one request at a time.",
    ),
    block_size: int = typer.Option(16, "--block-size", min=1, help="Tokens per KV block."),
    kv_blocks: int | None = typer.Option(
        None,
        "--kv-blocks",
        min=1,
        help="KV blocks per replica (default: what fits beside the weights).",
    ),
    prefix_hit_rate: float | None = typer.Option(
        None,
        "--prefix-hit-rate",
        help="Share of each prompt in the prefix cache (default: from the trace's hash_ids).",
    ),
    speculative_k: int = typer.Option(0, "--speculative-k", min=0, help="Draft tokens per step."),
    acceptance_rate: float = typer.Option(
        0.7, "--acceptance-rate", help="Acceptance rate of a draft token."
    ),
    draft_model: str | None = typer.Option(
        None, "--draft-model", help="The draft model (its steps are timed)."
    ),
    tp: int = typer.Option(1, "--tp", min=1, help="Tensor-parallel ranks per replica."),
    pp: Pp = 1,
    replicas: int = typer.Option(1, "--replicas", min=1, help="Replicas behind the router."),
    disaggregate: str | None = typer.Option(
        None,
        "--disaggregate",
        help="xPyD: x prefill and y decode replicas (e.g. 2P1D), the KV cache "
        "sent between them over the inter-node link.",
    ),
    prefill_tp: int | None = typer.Option(
        None, "--prefill-tp", min=1, help="tp of the prefill replicas."
    ),
    decode_tp: int | None = typer.Option(
        None, "--decode-tp", min=1, help="tp of the decode replicas."
    ),
    router: str = typer.Option("round-robin", "--router", help="round-robin or least-loaded."),
    dtype: str = typer.Option("bf16", "--dtype", help=f"Activation dtype. {DTYPE_HELP}"),
    calibrate: list[Path] | None = typer.Option(
        None,
        "--calibrate",
        dir_okay=False,
        help="A bench (its concurrency-1 level) or profile results file: measured efficiencies; "
        "repeat to average several (e.g. before and after a measurement). With --one-at-a-time, a "
        "low-rate open-loop bench (`llmroof bench --rate`) adds the idle engine's wake cost.",
    ),
    ttft_slo_ms: TtftSlo = None,
    tpot_slo_ms: TpotSlo = None,
    slo_percentile: float = typer.Option(
        90.0, "--slo-percentile", help="Percentile the SLOs hold at: 50, 90, 95, 99."
    ),
    out: Path | None = typer.Option(
        None, "--out", dir_okay=False, help="Also write the JSON (with every request)."
    ),
    against: Path | None = typer.Option(
        None,
        "--against",
        dir_okay=False,
        help="A bench result of open-loop levels: replay its rates, requests, seed and lengths and "
        "print predicted against measured, metric by metric.",
    ),
    html: Html = None,
    fmt: Format = typer.Option(
        Format.table,
        "--format",
        "-f",
        help="table, json (no per-request rows) or csv (one row per request).",
    ),
    hardware_file: HardwareFile = None,
) -> None:
    """Simulate a serving replica or fleet under bursty or traced traffic: latency percentiles,
    goodput, queueing, and the largest rate meeting the SLOs."""
    from llmroof.report.console.simulate import print_result, write_files
    from llmroof.simulate.command import simulate_command

    result = simulate_command(**options_of(simulate_command, ctx))
    write_files(result, html=html, out=out)
    print_result(result, fmt.value)


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)
