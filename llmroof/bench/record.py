"""The results record of ``llmroof bench`` (schema ``llmroof.bench/1``): frozen keyword-only dataclasses,
one reader (:meth:`BenchResult.from_dict`) and one writer (:meth:`BenchResult.to_dict`).

Times are seconds. Request timestamps are seconds since the run started (one ``perf_counter`` origin for
the whole run), so requests of every level share one timeline.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from llmroof import schemas
from llmroof.errors import LlmroofError

SCHEMA = schemas.BENCH
QUANTILES = ("p50", "p90", "p95", "p99")
TOKEN_SOURCES = ("usage", "tokenizer", "chunks")


@dataclass(frozen=True, kw_only=True, slots=True)
class Distribution:
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


@dataclass(frozen=True, kw_only=True, slots=True)
class RequestRecord:
    """One request, as the client saw it."""

    index: int
    """Order of sending within its level."""
    start_s: float
    """When the request was sent."""
    first_token_s: float | None
    """When the first chunk with generated output arrived (None: none did)."""
    end_s: float
    """When the stream ended (or the request failed)."""
    chunk_times_s: tuple[float, ...] = ()
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
        return [b - a for a, b in zip(times, times[1:])]


@dataclass(frozen=True, kw_only=True, slots=True)
class NvmlWindow:
    """GPU DRAM traffic sampled through NVML in a level's steady decode window."""

    source: str | None
    """NVML source (gpm gives bytes; the others only a busy share), None when unavailable."""
    reason: str = ""
    window_s: tuple[float, float] | None = None
    samples: int = 0
    mean_dram_bandwidth_bytes_per_s: float | None = None
    mean_mem_busy_percent: float | None = None
    output_tokens_in_window: float | None = None
    measured_bytes_per_output_token: float | None = None
    """Mean DRAM bytes/s x window / output tokens generated inside the window."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RooflinePlacement:
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
    nvml: NvmlWindow | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Level:
    """One concurrency (closed loop) or request rate (open loop, Poisson)."""

    concurrency: int | None
    rate: float | None
    """Requests per second (open loop); None for a concurrency level."""
    requests: int
    """Requests sent and finished (successful or not), warm-up excluded."""
    errors: int
    error_kinds: dict[str, int]
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
    ttft_s: Distribution
    tpot_s: Distribution
    itl_s: Distribution
    e2e_s: Distribution
    mean_decode_batch: float
    """Time-average of the requests in decode (first token to end) over the level's duration."""
    mean_context_tokens: float
    """Decode-time-weighted mean KV context: input tokens + half the output tokens."""
    token_source: str | None
    """usage, tokenizer or chunks (the source most of the level's requests used)."""
    complete: bool = True
    """False when the run stopped (Ctrl-C, the server gone) before the level finished."""
    stop_reason: str = ""
    roofline: RooflinePlacement | None = None
    records: tuple[RequestRecord, ...] = ()

    @property
    def label(self) -> str:
        return f"c={self.concurrency}" if self.concurrency is not None else f"rate={self.rate:g}/s"


@dataclass(frozen=True, kw_only=True, slots=True)
class BenchSettings:
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


@dataclass(frozen=True, kw_only=True, slots=True)
class BenchResult:
    """A whole ``llmroof bench`` run."""

    settings: BenchSettings
    levels: tuple[Level, ...]
    prompt_method: str
    """How prompts of ``input_len`` tokens were built (exact with a tokenizer, or calibrated by usage)."""
    extras_sent: tuple[str, ...]
    """Optional request fields the server accepted and the run kept sending: ignore_eos, min_tokens,
    stream_options."""
    model_spec: dict[str, Any] | None = None
    """The analytic model's spec (llmroof.analysis's model section), None when none resolved."""
    hardware: dict[str, Any] | None = None
    hardware_method: str = ""
    """catalog, nvml, measured (the CPU's ceilings) or none, with why."""
    notes: tuple[str, ...] = ()
    complete: bool = True
    schema: str = SCHEMA

    # --- the writer and the reader ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data = {"schema": data.pop("schema"), **data}
        for level in data["levels"]:
            level.pop("concurrency" if level["concurrency"] is None else "rate")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "bench results") -> BenchResult:
        if not str(data.get("schema", "")).startswith("llmroof.bench/"):
            raise LlmroofError(f"{source}: schema is {data.get('schema')!r}, expected {SCHEMA}")
        try:
            return _build(cls, data)
        except (KeyError, TypeError, ValueError) as exc:
            raise LlmroofError(f"{source}: not a valid {SCHEMA} record ({type(exc).__name__}: {exc})",
                               "truncated or edited by hand? re-run llmroof bench") from None

    def to_pandas(self, per_request: bool = False) -> Any:
        """One row per level (flattened: ``ttft_s.p50``...), or per request with ``per_request``."""
        import pandas as pd

        if per_request:
            rows = [{"level": level.label, **_request_row(r)} for level in self.levels for r in level.records]
            return pd.DataFrame(rows)
        return pd.DataFrame([level_row(level) for level in self.levels])


def level_row(level: Level) -> dict[str, Any]:
    """A level as one flat row (the CSV and pandas form)."""
    row: dict[str, Any] = {"concurrency": level.concurrency, "rate": level.rate}
    for name in ("requests", "errors", "input_tokens", "output_tokens", "duration_s", "request_throughput_per_s",
                 "output_tokens_per_s", "goodput_per_s", "mean_decode_batch", "mean_context_tokens", "token_source"):
        row[name] = getattr(level, name)
    for name in ("ttft_s", "tpot_s", "itl_s", "e2e_s"):
        dist = getattr(level, name)
        for stat in ("mean", *QUANTILES):
            row[f"{name}.{stat}"] = getattr(dist, stat)
    roof = level.roofline
    for name in ("tpot_bound_s", "tpot_fraction", "bound", "ceiling_tokens_per_s", "throughput_fraction",
                 "bytes_per_output_token", "compute_bound_batch"):
        row[f"roofline.{name}"] = None if roof is None else getattr(roof, name)
    row["roofline.measured_bytes_per_output_token"] = (
        None if roof is None or roof.nvml is None else roof.nvml.measured_bytes_per_output_token)
    return row


def _request_row(record: RequestRecord) -> dict[str, Any]:
    return {"index": record.index, "start_s": record.start_s, "first_token_s": record.first_token_s,
            "end_s": record.end_s, "ttft_s": record.ttft_s, "tpot_s": record.tpot_s, "e2e_s": record.e2e_s,
            "chunks": len(record.chunk_times_s), "input_tokens": record.input_tokens,
            "output_tokens": record.output_tokens, "token_source": record.token_source, "error": record.error}


# --- from_dict: rebuild nested dataclasses from their field types ------------------------------------

_NESTED = {"settings": BenchSettings, "levels": Level, "ttft_s": Distribution, "tpot_s": Distribution,
           "itl_s": Distribution, "e2e_s": Distribution, "roofline": RooflinePlacement, "nvml": NvmlWindow,
           "records": RequestRecord}
_TUPLES = {"extras_sent", "notes", "chunk_times_s", "window_s"}


def _build(cls: type, data: dict[str, Any]) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            continue  # written by a newer minor version: ignored
        nested = _NESTED.get(key)
        if nested is not None and value is not None:
            value = (tuple(_build(nested, v) for v in value) if isinstance(value, (list, tuple))
                     else _build(nested, value))
        elif key in _TUPLES and value is not None:
            value = tuple(value)
        kwargs[key] = value
    if cls is Level:
        kwargs.setdefault("concurrency", None)
        kwargs.setdefault("rate", None)
    return cls(**kwargs)
