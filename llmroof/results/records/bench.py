"""``llmroof.bench/1``: a serving engine under load (``llmroof bench``'s ``results.json``), key by key in
``docs/bench.md``. Records like every other schema: one reader (:meth:`Record.from_dict`) and one writer
(:meth:`Record.to_dict`) from :mod:`llmroof.results.records.base`.

Times are seconds. Request timestamps are seconds since the run started (one ``perf_counter`` origin for
the whole run), so requests of every level share one timeline.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmroof import schemas
from llmroof.results.records.base import Record, many, one, opt, seq

SCHEMA = schemas.BENCH
QUANTILES = ("p50", "p90", "p95", "p99")
TOKEN_SOURCES = ("usage", "tokenizer", "chunks")


@dataclass(frozen=True, kw_only=True)
class Distribution(Record):
    """Mean and percentiles (numpy's linear interpolation) of one latency over a level's requests."""

    mean: float | None
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    n: int = 0
    """Values the figures summarise (requests, or inter-chunk gaps for ITL)."""

    @classmethod
    def empty(cls) -> Distribution:
        return cls(mean=None, p50=None, p90=None, p95=None, p99=None, n=0)


@dataclass(frozen=True, kw_only=True)
class RequestRecord(Record):
    """One request, as the client saw it."""

    index: int
    """Order of sending within its level."""
    start_s: float
    """When the request was sent."""
    first_token_s: float | None
    """When the first chunk with generated output arrived (None: none did)."""
    end_s: float
    """When the stream ended (or the request failed)."""
    chunk_times_s: tuple[float, ...] = seq(default=())
    """Arrival time of every chunk with generated output, the first included."""
    input_tokens: int | None = None
    output_tokens: int | None = None
    token_source: str | None = None
    """Where ``output_tokens`` comes from: usage (the server's), tokenizer (the local one), chunks (a count)."""
    error: str | None = None
    """None when the request succeeded; else its kind and message, e.g. ``http_500: ...``."""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def error_kind(self) -> str | None:
        return None if self.error is None else self.error.split(":", 1)[0]

    @property
    def ttft_s(self) -> float | None:
        return None if self.first_token_s is None else self.first_token_s - self.start_s

    @property
    def e2e_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def tpot_s(self) -> float | None:
        """(end-to-end - TTFT) / (output tokens - 1): vLLM's TPOT, excluding the first token."""
        if self.first_token_s is None or not self.output_tokens or self.output_tokens < 2:
            return None
        return (self.end_s - self.first_token_s) / (self.output_tokens - 1)

    @property
    def itls_s(self) -> list[float]:
        """Gaps between consecutive chunks after the first (a chunk may carry several tokens)."""
        times = self.chunk_times_s
        return [b - a for a, b in itertools.pairwise(times)]


@dataclass(frozen=True, kw_only=True)
class NvmlWindow(Record):
    """GPU DRAM traffic sampled through NVML in a level's steady decode window."""

    source: str | None
    """NVML source (gpm gives bytes; the others only a busy share), None when unavailable."""
    reason: str = ""
    window_s: tuple[float, float] | None = seq(default=None)
    samples: int = 0
    mean_dram_bandwidth_bytes_per_s: float | None = None
    mean_mem_busy_percent: float | None = None
    output_tokens_in_window: float | None = None
    measured_bytes_per_output_token: float | None = None
    """Mean DRAM bytes/s x window / output tokens generated inside the window."""


@dataclass(frozen=True, kw_only=True)
class RooflinePlacement(Record):
    """A level on the analytic roofline: the decode step at the measured batch and context."""

    tpot_bound_s: float
    """Analytic decode-step time (the TPOT floor) at ``batch`` and ``context_len``."""
    tpot_fraction: float | None
    """tpot_bound_s / measured mean TPOT: the share of the roofline the engine reaches (1 = on it)."""
    bound: str
    """What bounds the analytic decode step: memory or compute."""
    batch: int
    """Decode batch of the analytic step: the measured mean in-flight decode batch, rounded (at least 1)."""
    context_len: int
    """KV tokens per sequence in the step: the measured mean context, rounded."""
    ceiling_tokens_per_s: float
    """Output tokens/s of the analytic step at ``batch``: the throughput ceiling."""
    throughput_fraction: float | None
    """Measured output tokens/s over the ceiling."""
    bytes_per_output_token: float
    """Analytic bytes moved per generated token at ``batch``."""
    compute_bound_batch: int | None
    """Decode batch at which the step would turn compute-bound (None: never, or no compute peak)."""
    nvml: NvmlWindow | None = one(NvmlWindow, default=None)


@dataclass(frozen=True, kw_only=True)
class LevelProfile(Record):
    """The server's profiler around one level (``llmroof bench --profile``): ``POST /start_profile``
    before the level's first request, ``POST /stop_profile`` after its last."""

    started: bool
    """The server answered /start_profile with 200 (it has a profiler configured)."""
    stopped: bool = False
    """The server answered /stop_profile with 200 (its trace is written, or being written)."""
    trace_dir: str | None = None
    """``--profile-dir``: the folder the server writes its traces to, watched through the level."""
    trace_files: tuple[str, ...] = seq(default=())
    """Files that appeared (or changed) in ``trace_dir`` from the start to the stop of the level: the
    level's traces, for ``llmroof trace``."""
    note: str = ""
    """What the server answered (its reply, cleaned and cut), or why the level was not profiled."""


@dataclass(frozen=True, kw_only=True)
class Level(Record):
    """One concurrency (closed loop) or request rate (open loop, Poisson)."""

    concurrency: int | None = opt()
    """Requests in flight (closed loop); None (and not written) for a rate level."""
    rate: float | None = opt()
    """Requests per second (open loop, Poisson); None (and not written) for a concurrency level."""
    requests: int
    """Requests sent and finished (successful or not), warm-up excluded."""
    errors: int
    error_kinds: Mapping[str, int]
    input_tokens: int
    output_tokens: int
    """Output tokens of the successful requests."""
    duration_s: float
    """First send to last end."""
    request_throughput_per_s: float
    """Successful requests / duration."""
    output_tokens_per_s: float
    goodput_per_s: float | None
    """Successful requests meeting every SLO / duration (None without an SLO)."""
    ttft_s: Distribution = one(Distribution)
    tpot_s: Distribution = one(Distribution)
    itl_s: Distribution = one(Distribution)
    e2e_s: Distribution = one(Distribution)
    mean_decode_batch: float
    """Time-average of the requests in decode (first token to end) over the level's duration."""
    mean_context_tokens: float
    """Decode-time-weighted mean KV context: input tokens + half the output tokens."""
    token_source: str | None
    """usage, tokenizer or chunks (the source most of the level's requests used)."""
    complete: bool = True
    """False when the run stopped (Ctrl-C, the server gone) before the level finished."""
    stop_reason: str = ""
    roofline: RooflinePlacement | None = one(RooflinePlacement, default=None)
    records: tuple[RequestRecord, ...] = many(RequestRecord, default=())
    profile: LevelProfile | None = opt(LevelProfile)
    """The server's profiler trace of this level (``--profile``); absent without it."""

    @property
    def label(self) -> str:
        return f"c={self.concurrency}" if self.concurrency is not None else f"rate={self.rate:g}/s"


@dataclass(frozen=True, kw_only=True)
class BenchSettings(Record):
    """What was asked for."""

    url: str
    endpoint: str
    model: str
    input_len: int
    output_len: int
    requests: int | None
    duration_s: float | None
    timeout_s: float
    warmup: int
    seed: int
    ttft_slo_s: float | None = None
    tpot_slo_s: float | None = None
    tp: int = 1
    pp: int = 1
    dtype: str = "bf16"
    weight_dtype: str | None = None
    kv_dtype: str | None = None


@dataclass(frozen=True, kw_only=True)
class BenchResult(Record):
    """A whole ``llmroof bench`` run."""

    SCHEMA = schemas.BENCH

    settings: BenchSettings = one(BenchSettings)
    """What was asked for."""
    levels: tuple[Level, ...] = many(Level)
    """Every level measured, in order (the last one incomplete when the run stopped in it)."""
    prompt_method: str
    """How prompts of ``input_len`` tokens were built (exact with a tokenizer, or calibrated by usage)."""
    extras_sent: tuple[str, ...] = seq()
    """Optional request fields the server accepted and the run kept sending: ignore_eos, min_tokens,
    stream_options."""
    model_spec: Mapping[str, Any] | None = None
    """The analytic model's spec (llmroof.analysis's model section), None when none resolved."""
    hardware: Mapping[str, Any] | None = None
    """The hardware spec the levels were placed on (llmroof.analysis's hardware section), None when none."""
    hardware_method: str = ""
    """catalog, nvml, measured (the CPU's ceilings) or none, with why."""
    notes: tuple[str, ...] = seq(default=())
    """What the run noticed (a level faster than its roofline, a server that refused a field...)."""
    complete: bool = True
    """False when the run stopped before every level finished."""

    def to_pandas(self, *, ops: bool = False, per_request: bool = False) -> Any:
        """One row per level (flattened: ``ttft_s.p50``...), or per request with ``per_request`` (or ``ops``,
        the option every record's ``to_pandas`` takes for its finer rows)."""
        import pandas as pd

        if per_request or ops:
            rows = [
                {"level": level.label, **_request_row(r)}
                for level in self.levels
                for r in level.records
            ]
            return pd.DataFrame(rows)
        return pd.DataFrame([level_row(level) for level in self.levels])


def level_row(level: Level) -> dict[str, Any]:
    """A level as one flat row (the CSV and pandas form)."""
    row: dict[str, Any] = {"concurrency": level.concurrency, "rate": level.rate}
    for name in (
        "requests",
        "errors",
        "input_tokens",
        "output_tokens",
        "duration_s",
        "request_throughput_per_s",
        "output_tokens_per_s",
        "goodput_per_s",
        "mean_decode_batch",
        "mean_context_tokens",
        "token_source",
    ):
        row[name] = getattr(level, name)
    for name in ("ttft_s", "tpot_s", "itl_s", "e2e_s"):
        dist = getattr(level, name)
        for stat in ("mean", *QUANTILES):
            row[f"{name}.{stat}"] = getattr(dist, stat)
    roof = level.roofline
    for name in (
        "tpot_bound_s",
        "tpot_fraction",
        "bound",
        "ceiling_tokens_per_s",
        "throughput_fraction",
        "bytes_per_output_token",
        "compute_bound_batch",
    ):
        row[f"roofline.{name}"] = None if roof is None else getattr(roof, name)
    row["roofline.measured_bytes_per_output_token"] = (
        None if roof is None or roof.nvml is None else roof.nvml.measured_bytes_per_output_token
    )
    return row


def _request_row(record: RequestRecord) -> dict[str, Any]:
    return {
        "index": record.index,
        "start_s": record.start_s,
        "first_token_s": record.first_token_s,
        "end_s": record.end_s,
        "ttft_s": record.ttft_s,
        "tpot_s": record.tpot_s,
        "e2e_s": record.e2e_s,
        "chunks": len(record.chunk_times_s),
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "token_source": record.token_source,
        "error": record.error,
    }
