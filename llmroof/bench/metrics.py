"""A level's figures from its request records, in the convention of vLLM's ``bench serve`` (and AIPerf):

- TTFT: first chunk with generated output - send;
- TPOT: (end-to-end - TTFT) / (output tokens - 1), per request, excluding the first token;
- ITL: every gap between consecutive chunks after the first, pooled over requests;
- end-to-end: last chunk (stream end) - send;
- throughput: successful requests, and their output tokens, over the level's duration (first send to last end);
- goodput: successful requests meeting every SLO over the duration (a request of one output token has TPOT 0).

Pure: request records in, :class:`Level` out.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence

from llmroof.measure.stats import quantile
from llmroof.results.records.bench import Distribution, Level, RequestRecord


def distribution(values: Sequence[float]) -> Distribution:
    if not values:
        return Distribution.empty()
    ordered = sorted(values)
    return Distribution(
        mean=statistics.fmean(ordered),
        p50=quantile(ordered, 0.5),
        p90=quantile(ordered, 0.9),
        p95=quantile(ordered, 0.95),
        p99=quantile(ordered, 0.99),
        n=len(ordered),
    )


def is_good(record: RequestRecord, ttft_slo_s: float | None, tpot_slo_s: float | None) -> bool:
    """A successful request within every SLO given (vLLM: all SLOs at once)."""
    if not record.ok:
        return False
    if ttft_slo_s is not None and (record.ttft_s is None or record.ttft_s > ttft_slo_s):
        return False
    tpot = record.tpot_s or 0.0  # one output token: TPOT 0, as vLLM counts it
    return tpot_slo_s is None or tpot <= tpot_slo_s


def decode_occupancy(records: Sequence[RequestRecord], duration_s: float) -> tuple[float, float]:
    """(mean in-flight decode batch, mean context tokens) over the level.

    A request decodes from its first token to its end; the batch is the time-average of how many do at
    once: sum of decode intervals / duration. Its KV context grows from input+1 to input+output tokens
    over that interval, so its time-average is input + (output + 1) / 2; the level's mean weights each
    request by its decode interval.
    """
    spans = [
        (r.end_s - r.first_token_s, (r.input_tokens or 0) + ((r.output_tokens or 1) + 1) / 2)
        for r in records
        if r.ok and r.first_token_s is not None
    ]
    total = sum(span for span, _ in spans)
    if not spans or duration_s <= 0 or total <= 0:
        return 0.0, 0.0
    return total / duration_s, sum(span * ctx for span, ctx in spans) / total


def summarize_level(
    records: Sequence[RequestRecord],
    *,
    concurrency: int | None = None,
    rate: float | None = None,
    ttft_slo_s: float | None = None,
    tpot_slo_s: float | None = None,
    complete: bool = True,
    stop_reason: str = "",
) -> Level:
    """The level's figures from its requests (warm-up excluded)."""
    ok = [r for r in records if r.ok]
    duration = (max(r.end_s for r in records) - min(r.start_s for r in records)) if records else 0.0
    per_s = (lambda n: n / duration) if duration > 0 else (lambda n: 0.0)
    output = sum(r.output_tokens or 0 for r in ok)
    slo = ttft_slo_s is not None or tpot_slo_s is not None
    batch, context = decode_occupancy(records, duration)
    sources = Counter(r.token_source for r in ok if r.token_source)
    return Level(
        concurrency=concurrency,
        rate=rate,
        requests=len(records),
        errors=len(records) - len(ok),
        error_kinds=dict(Counter(r.error_kind for r in records if r.error_kind is not None)),
        input_tokens=sum(r.input_tokens or 0 for r in ok),
        output_tokens=output,
        duration_s=duration,
        request_throughput_per_s=per_s(len(ok)),
        output_tokens_per_s=per_s(output),
        goodput_per_s=per_s(sum(is_good(r, ttft_slo_s, tpot_slo_s) for r in ok)) if slo else None,
        ttft_s=distribution([r.ttft_s for r in ok if r.ttft_s is not None]),
        tpot_s=distribution([r.tpot_s for r in ok if r.tpot_s is not None]),
        itl_s=distribution([gap for r in ok for gap in r.itls_s]),
        e2e_s=distribution([r.e2e_s for r in ok]),
        mean_decode_batch=batch,
        mean_context_tokens=context,
        token_source=sources.most_common(1)[0][0] if sources else None,
        complete=complete,
        stop_reason=stop_reason,
        records=tuple(records),
    )
