"""``llmroof simulate``: a serving replica (or fleet) simulated step by step under Poisson, Gamma or
traced traffic; TTFT, TPOT, ITL and E2E percentiles as ``llmroof bench`` measures them
(docs/simulate.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from llmroof.cli.options import (
    DTYPE_HELP,
    HARDWARE_FILE,
    Format,
    resolve_hardware,
    resolve_model,
    resolve_precision,
)
from llmroof.errors import LlmroofError


def _rates(text: str | None) -> tuple[float, ...]:
    if not text:
        return ()
    try:
        rates = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise LlmroofError(
            f"--rate {text!r}: expected numbers separated by commas", "e.g. --rate 2,4,8"
        ) from None
    if any(not r > 0 or r == float("inf") for r in rates):
        raise LlmroofError(f"--rate {text!r}: rates must be positive", "e.g. --rate 2,4,8")
    return rates


def simulate(
    model: str = typer.Option(
        ..., "--model", "-m", help="Preset name, or a config.json (or its folder)."
    ),
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
    seed: int = typer.Option(
        0, "--seed", help="Seed of the arrival times (as `llmroof bench --seed`)."
    ),
    cv: float = typer.Option(
        1.0, "--cv", min=0.0, help="Burstiness: CV of the gaps (1 Poisson, 0 fixed rate, >1 Gamma)."
    ),
    trace_file: Path | None = typer.Option(
        None,
        "--trace-file",
        dir_okay=False,
        help="Azure or BurstGPT CSV, or Mooncake JSONL, replayed as recorded.",
    ),
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
    pp: int = typer.Option(1, "--pp", min=1, help="Pipeline stages per replica."),
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
        "repeat to average several (e.g. before and after a measurement).",
    ),
    ttft_slo: float | None = typer.Option(None, "--ttft-slo", help="TTFT SLO in ms."),
    tpot_slo: float | None = typer.Option(None, "--tpot-slo", help="TPOT SLO in ms."),
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
    html: Path | None = typer.Option(
        None,
        "--html",
        dir_okay=False,
        help="Also write an HTML report: latency CDFs, queue over time.",
    ),
    fmt: Format = typer.Option(
        Format.table,
        "--format",
        "-f",
        help="table, json (no per-request rows) or csv (one row per request).",
    ),
    hardware_file: Path | None = HARDWARE_FILE,
) -> None:
    """Simulate a serving replica or fleet under bursty or traced traffic: latency percentiles,
    goodput, queueing, and the largest rate meeting the SLOs."""
    import dataclasses

    from llmroof.analytic.workload import Workload
    from llmroof.bench.traffic import read_trace
    from llmroof.simulate import SchedulerConfig, Simulation
    from llmroof.simulate import simulate as run
    from llmroof.simulate.calibrate import bench_hardware, read_source
    from llmroof.simulate.run import Disaggregation
    from llmroof.simulate.steps import StepModel

    rates = _rates(rate)
    measured = None
    if against is not None:
        from llmroof.results.records.bench import BenchResult
        from llmroof.simulate.against import bench_traffic

        measured = BenchResult.from_dict(read_source(against), str(against))
        traffic = bench_traffic(measured)
        if not traffic["rates"]:
            raise LlmroofError(
                f"{against}: no open-loop (--rate) level to replay", "bench with --rate R"
            )
        rates, requests, seed = traffic["rates"], traffic["requests"], traffic["seed"]
        prompt, output = traffic["prompt_tokens"], traffic["output_tokens"]
    if not rates and trace_file is None:
        raise LlmroofError(
            "give --rate or --trace-file", "e.g. --rate 2,4 or --trace-file azure.csv"
        )
    if slo_percentile not in (50, 90, 95, 99):
        raise LlmroofError(f"--slo-percentile {slo_percentile:g}: one of 50, 90, 95, 99")
    if router not in ("round-robin", "least-loaded"):
        raise LlmroofError(f"--router {router!r}: round-robin or least-loaded")
    calibration = []
    device = None
    for path in calibrate or []:
        data = read_source(path)
        calibration.append((data, str(path)))
        device = device or bench_hardware(data, str(path))
    if hardware is not None:
        device = resolve_hardware(hardware, hardware_file)
    if device is None:
        raise LlmroofError(
            "--hardware is needed (no --calibrate bench names the device)", "e.g. --hardware h100"
        )
    spec = resolve_model(model)
    precision = resolve_precision(dtype, None, None, None)
    workload = Workload(
        precision=precision,
        tp=tp,
        pp=pp,
        implementation="fused",
        attention_kernel="flash",
        fused_qkv=True,
    )
    try:
        if one_at_a_time:
            scheduler = SchedulerConfig.one_at_a_time(kv_blocks=kv_blocks or 1_000_000)
        else:
            scheduler = SchedulerConfig(
                max_num_seqs=max_num_seqs,
                max_num_batched_tokens=max_num_batched_tokens,
                chunked_prefill=chunked_prefill,
                block_tokens=block_size,
                kv_blocks=kv_blocks or 1_000_000,
                speculative_k=speculative_k,
                acceptance_rate=acceptance_rate if speculative_k else 0.0,
                prefix_hit_rate=prefix_hit_rate,
                prefix_block_tokens=512 if trace_file else block_size,
            )
        split = None
        if disaggregate is not None:
            split = dataclasses.replace(
                Disaggregation.parse(disaggregate), prefill_tp=prefill_tp, decode_tp=decode_tp
            )
        trace = tuple(read_trace(trace_file)) if trace_file is not None else ()
        draft = StepModel.of(resolve_model(draft_model), device, workload) if draft_model else None
        sim = Simulation(
            model=spec,
            hardware=device,
            workload=workload,
            scheduler=scheduler,
            kv_blocks_given=kv_blocks is not None or one_at_a_time,
            replicas=replicas,
            router=router,
            prompt_tokens=prompt,
            output_tokens=output,
            rates=rates,
            requests=requests,
            seed=seed,
            cv=cv,
            trace=trace,
            trace_name=None if trace_file is None else trace_file.name,
            ttft_slo_s=None if ttft_slo is None else ttft_slo / 1e3,
            tpot_slo_s=None if tpot_slo is None else tpot_slo / 1e3,
            slo_percentile=slo_percentile,
            draft=draft,
            calibration=tuple(calibration),
            disaggregation=split,
        )
        result = run(sim)
    except ValueError as exc:
        raise LlmroofError(str(exc), "see llmroof simulate --help") from None
    if measured is not None:
        import dataclasses as dc

        from llmroof.simulate.against import against as compare_rows

        result = dc.replace(result, against=tuple(compare_rows(result, measured, str(against))))
    if html is not None:
        from llmroof.report.answer import simulate_answer
        from llmroof.simulate.html import render_simulate_html
        from llmroof.writers import write_text_atomic

        write_text_atomic(html, render_simulate_html(result, simulate_answer(result)))
    if out is not None:
        from llmroof.writers import write_json_atomic

        write_json_atomic(out, result.to_dict())
    if fmt is Format.json:
        from llmroof.cli.render import print_json

        data = result.to_dict()
        for level in data["levels"]:
            level.pop("records", None)
        print_json(data)
    elif fmt is Format.csv:
        from llmroof.cli.render import print_csv
        from llmroof.results.records.simulate import REQUEST_COLUMNS

        print_csv(
            {"level": level.label, **dict(zip(REQUEST_COLUMNS, r))}
            for level in result.levels
            for r in level.records
        )
    else:
        _print(result)
        if result.against:
            _print_against(result.against)


def _print(result: Any) -> None:
    from rich.table import Table

    from llmroof.cli.render import console
    from llmroof.units import seconds

    out = console()
    s, m = result.settings, result.step_model
    out.print(
        f"[bold]{s['model']}[/] on {s['replicas']} x {s['hardware']} tp {s['tp']} pp {s['pp']}: "
        f"{s['prompt_tokens']} prompt / {s['output_tokens']} output tokens; unloaded request "
        f"{seconds(m['unloaded_request_s'])} (prefill {seconds(m['prefill_s'])}, decode step "
        f"{seconds(m['decode_step_s'])}; efficiencies from {m['efficiency_source']})"
    )
    table = Table(
        title="Simulated levels (p50 / p90; TPOT excludes the first token)", title_justify="left"
    )
    for column in (
        "level",
        "req/s",
        "tok/s",
        "TTFT",
        "TPOT",
        "ITL p99",
        "E2E",
        "in system",
        "preempted",
    ):
        table.add_column(column, justify="right")
    for level in result.levels:
        table.add_row(
            level.label,
            f"{level.request_throughput_per_s:.2f}",
            f"{level.output_tokens_per_s:.0f}",
            _pair(level.ttft_s, seconds),
            _pair(level.tpot_s, seconds),
            "-" if level.itl_s.p99 is None else seconds(level.itl_s.p99),
            _pair(level.e2e_s, seconds),
            f"{level.mean_in_system:.1f}",
            str(level.preemptions),
        )
    out.print(table)
    if result.max_rate_meeting_slo is not None or result.slo_percentile is not None:
        best = result.max_rate_meeting_slo
        out.print(
            f"Largest rate meeting the SLOs at p{result.slo_percentile:g}: "
            + (
                "none (not even a tenth of the unloaded capacity)"
                if best is None
                else f"{best:.3g} requests/s"
            )
        )
    for note in result.notes:
        out.print(f"[yellow]note:[/] {note}")


def _print_against(rows: Any) -> None:
    from rich.table import Table

    from llmroof.cli.render import console

    table = Table(title=f"Predicted against measured ({rows[0]['source']})", title_justify="left")
    for column in ("rate", "metric", "predicted", "measured", "error"):
        table.add_column(column, justify="left" if column == "metric" else "right")

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.4g}"

    for row in rows:
        error = "-" if row["error"] is None else f"{row['error']:+.0%}"
        table.add_row(
            f"{row['rate']:g}/s", row["metric"], fmt(row["predicted"]), fmt(row["measured"]), error
        )
    console().print(table)


def _pair(dist: Any, fmt: Any) -> str:
    return "-" if dist.p50 is None else f"{fmt(dist.p50)} / {fmt(dist.p90)}"


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)
