"""The report of a bench run (``llmroof.bench/1``): its levels against the roofline, the latency
distributions, throughput and TPOT against concurrency (or rate) with the analytic ceiling, and every
request on one timeline."""

from __future__ import annotations

from typing import Any

from llmroof.report import tables as t
from llmroof.results.records.bench import BenchResult, Level


def title(result: BenchResult) -> tuple[str, str]:
    s = result.settings
    hardware = (result.hardware or {}).get("display_name", "no roofline hardware")
    return (
        f"{s.model} served at {s.url}",
        f"llmroof bench, {s.endpoint} endpoint: {s.input_len} prompt / {s.output_len} output tokens; "
        f"roofline on {hardware}, {s.dtype}, tp {s.tp} x pp {s.pp}",
    )


def problems(result: BenchResult) -> list[str]:
    lines = [] if result.complete else ["This run did not finish; the report shows what it did."]
    return lines + [
        f"{lv.label}: {lv.errors} of {lv.requests} requests failed ({_kinds(lv)})"
        for lv in result.levels
        if lv.errors
    ]


def _kinds(level: Level) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(level.error_kinds.items()))


def bench(result: BenchResult) -> dict[str, Any]:
    from llmroof.report import bench_figures, figures

    levels = result.levels
    labels = [level.label for level in levels]
    closed = all(level.concurrency is not None for level in levels)
    xs = tuple(float((level.concurrency if closed else level.rate) or 0) for level in levels)
    roofs = [level.roofline for level in levels]
    tpot = figures.LinePanel(
        "TPOT",
        "time per output token",
        "s",
        (
            figures.Series("measured mean", xs, tuple(lv.tpot_s.mean for lv in levels)),
            figures.Series("measured p99", xs, tuple(lv.tpot_s.p99 for lv in levels), color=1),
            figures.Series(
                "roofline bound",
                xs,
                tuple(r.tpot_bound_s if r else None for r in roofs),
                dashed=True,
                color=2,
            ),
        ),
    )
    throughput = figures.LinePanel(
        "Output tokens/s",
        "tokens per second",
        "tokens/s",
        (
            figures.Series("measured", xs, tuple(lv.output_tokens_per_s for lv in levels)),
            figures.Series(
                "roofline ceiling (memory-bound at the measured batch)",
                xs,
                tuple(r.ceiling_tokens_per_s if r else None for r in roofs),
                dashed=True,
                color=2,
            ),
        ),
    )
    sweep = figures.sweep(
        [throughput, tpot],
        xlabel="concurrency" if closed else "request rate (per s)",
        marks=[],
        title="Throughput and TPOT against load, with the roofline",
        alt="Measured output tokens per second and TPOT at each level, beside the analytic "
        "ceiling and bound at the level's measured decode batch and context",
        name="bench-sweep",
        batch_axis=closed,
    )
    latency = bench_figures.distributions(
        [
            (
                name,
                [
                    (
                        lv.label,
                        [
                            getattr(r, attr)
                            for r in lv.records
                            if r.ok and getattr(r, attr) is not None
                        ],
                    )
                    for lv in levels
                ],
            )
            for name, attr in (("TTFT", "ttft_s"), ("TPOT", "tpot_s"), ("end-to-end", "e2e_s"))
        ],
        title="Latency per request, by level (box: quartiles; whiskers: p1 and p99)",
        alt="Box plots of TTFT, TPOT and end-to-end latency per level",
    )
    spans = [
        bench_figures.RequestSpan(r.start_s, r.first_token_s, r.end_s, index, not r.ok)
        for index, lv in enumerate(levels)
        for r in lv.records
    ]
    timeline = bench_figures.request_timeline(
        spans,
        labels,
        title="Every request: waiting (thin), decoding (thick)",
        alt="Each request from send to end, in order of sending",
    )
    figs = [
        {"svg": svg, "caption": caption}
        for svg, caption in (
            (
                sweep,
                "Dashed: the analytic decode step of the served model at each level's measured mean in-flight "
                "batch and context; TPOT cannot go below it, throughput cannot go above it.",
            ),
            (
                latency,
                "TPOT excludes the first token: (end-to-end - TTFT) / (output tokens - 1), as vLLM.",
            ),
            (timeline, "Time since the run started; warm-up requests are not shown."),
        )
        if svg is not None
    ]
    return {
        "figures": figs,
        "table": _table(levels),
        "facts": _facts(result),
        "notes": list(result.notes),
    }


def _table(levels: tuple[Level, ...]) -> dict[str, Any]:
    rows = []
    for lv in levels:
        roof = lv.roofline
        nv = roof.nvml if roof else None
        rows.append(
            [
                t.cell(lv.label),
                t.integer(lv.requests),
                t.integer(lv.errors),
                t.number(lv.request_throughput_per_s),
                t.number(lv.output_tokens_per_s),
                t.time_cell(lv.ttft_s.p50),
                t.time_cell(lv.ttft_s.p99),
                t.time_cell(lv.tpot_s.mean),
                t.time_cell(lv.tpot_s.p99),
                t.time_cell(lv.itl_s.p50),
                t.time_cell(lv.e2e_s.p50),
                t.ratio_cell(lv.mean_decode_batch, 1),
                t.time_cell(roof.tpot_bound_s if roof else None),
                t.percent_cell(roof.tpot_fraction if roof else None),
                t.cell(roof.bound if roof else None),
                t.number(roof.bytes_per_output_token if roof else None, "B"),
                t.number(nv.measured_bytes_per_output_token if nv else None, "B"),
            ]
        )
    columns = [
        ("level", False),
        ("requests", True),
        ("errors", True),
        ("req/s", True),
        ("tokens/s", True),
        ("TTFT p50", True),
        ("TTFT p99", True),
        ("TPOT mean", True),
        ("TPOT p99", True),
        ("ITL p50", True),
        ("E2E p50", True),
        ("decode batch", True),
        ("TPOT bound", True),
        ("% of roofline", True),
        ("bound", False),
        ("analytic B/token", True),
        ("NVML B/token", True),
    ]
    return t.table(columns, rows)


def _facts(result: BenchResult) -> dict[str, Any]:
    last = result.levels[-1].roofline if result.levels else None
    return t.key_values(
        [
            ("prompts", result.prompt_method),
            ("hardware", result.hardware_method),
            (
                "ignore_eos / min_tokens",
                ", ".join(result.extras_sent) or "not accepted by the server",
            ),
            (
                "turns compute-bound at batch",
                None if last is None else (last.compute_bound_batch or "never"),
            ),
            ("request timeout", f"{result.settings.timeout_s:g} s"),
            ("warm-up requests", result.settings.warmup),
        ]
    )


BUILDERS = (("bench", bench),)
