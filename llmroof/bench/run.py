"""``llmroof bench`` as one library function, :func:`run_bench`: check the server, build prompts, warm up,
run every level, place each on the roofline, and write the results record atomically after every
``save_every`` finished requests and every level, so an interrupted run (Ctrl-C, the server gone) keeps
every request that finished.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from llmroof.bench import client as bench_client
from llmroof.bench import load, prompts, protocols
from llmroof.bench.metrics import summarize_level
from llmroof.bench.traffic import TraceRequest
from llmroof.results.records.bench import BenchResult, BenchSettings, Level, RequestRecord
from llmroof.bench.roofline import Deployment, nvml_window, resolve_hardware, resolve_model, with_placement
from llmroof.errors import LlmroofError

Progress = Callable[[str], None]
PROMPT_POOL = 512
"""Distinct prompts built ahead of a duration-bound level (reused in turn beyond that)."""


@dataclass(frozen=True, kw_only=True)
class BenchConfig:
    """What to benchmark and how."""

    url: str
    """Base URL of the server (``http://host:port``; a trailing ``/v1`` is dropped)."""
    model: str
    """Model id sent in requests (and, unless ``config`` is given, the roofline's model)."""
    endpoint: str = "completions"
    concurrency: tuple[int, ...] = ()
    """Closed-loop levels: requests in flight."""
    rates: tuple[float, ...] = ()
    """Open-loop levels: Poisson request rates per second."""
    requests: int | None = None
    """Requests per level (warm-up excluded); with ``duration_s``, whichever ends first."""
    duration_s: float | None = None
    input_len: int = 128
    output_len: int = 128
    ttft_slo_s: float | None = None
    tpot_slo_s: float | None = None
    timeout_s: float = 300.0
    """Deadline of one whole request."""
    warmup: int = 2
    seed: int = 0
    tp: int = 1
    pp: int = 1
    dtype: str = "bf16"
    """Activation (compute) dtype of the server, and the default of the two below, for the analytic bound."""
    weight_dtype: str | None = None
    """Dtype of the served decoder weights (int8, int4...), when not ``dtype``."""
    kv_dtype: str | None = None
    """Dtype of the server's KV cache, when not ``dtype``."""
    hardware: str | None = None
    """Catalog name, ``cpu`` (this CPU's measured ceilings), or None: NVML's GPU, else the CPU for a local server."""
    hardware_file: Path | None = None
    config: str | None = None
    """The roofline's model (preset, config.json or folder) when the model id is none of those."""
    tokenizer: str | None = None
    """A local tokenizer folder for exact prompt lengths (default: the model id, when it is a folder)."""
    nvml: bool = True
    trace: tuple[TraceRequest, ...] = ()
    """Requests replayed as a trace records them (``--trace-file``): arrival times, prompt and output lengths."""
    save_every: int = 64
    stop_after_failures: int = 8

    def __post_init__(self) -> None:
        if self.endpoint not in protocols.ENDPOINTS:
            raise LlmroofError(f"--endpoint {self.endpoint!r}: expected one of {', '.join(protocols.ENDPOINTS)}")
        if self.trace and (self.concurrency or self.rates):
            raise LlmroofError("--trace-file replays its own arrivals: give it without --concurrency or --rate")
        if self.concurrency and self.rates:
            raise LlmroofError("--concurrency and --rate are two kinds of load: give one")
        if any(c < 1 for c in self.concurrency) or any(not r > 0 for r in self.rates):
            raise LlmroofError("--concurrency takes positive integers and --rate positive numbers")
        if self.requests is None and self.duration_s is None:
            raise LlmroofError("give --requests N or --duration S")
        if (self.requests is not None and self.requests < 1) or (self.duration_s is not None and self.duration_s <= 0):
            raise LlmroofError("--requests and --duration must be positive")
        for name in ("input_len", "output_len", "tp", "pp", "save_every", "stop_after_failures"):
            if getattr(self, name) < 1:
                raise LlmroofError(f"{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if self.timeout_s <= 0 or self.warmup < 0:
            raise LlmroofError("--timeout must be positive and --warmup not negative")

    @property
    def levels(self) -> list[tuple[int | None, float | None]]:
        if self.trace:  # one level, labelled by the trace's mean rate
            span = self.trace[-1].arrival_s - self.trace[0].arrival_s
            return [(None, (len(self.trace) - 1) / span if span > 0 else float(len(self.trace)))]
        if self.rates:
            return [(None, r) for r in self.rates]
        return [(c, None) for c in (self.concurrency or (1,))]

    def settings(self) -> BenchSettings:
        return BenchSettings(url=base_url(self.url), endpoint=self.endpoint, model=self.model,
                             input_len=self.input_len, output_len=self.output_len, requests=self.requests,
                             duration_s=self.duration_s, timeout_s=self.timeout_s, warmup=self.warmup,
                             seed=self.seed, ttft_slo_s=self.ttft_slo_s, tpot_slo_s=self.tpot_slo_s,
                             tp=self.tp, pp=self.pp, dtype=self.dtype, weight_dtype=self.weight_dtype,
                             kv_dtype=self.kv_dtype)

    def precision(self) -> Any:
        from llmroof.specs.dtypes import Precision, get_dtype

        try:
            return Precision(weight=get_dtype(self.weight_dtype or self.dtype), activation=get_dtype(self.dtype),
                             kv=get_dtype(self.kv_dtype or self.dtype))
        except ValueError as exc:
            raise LlmroofError(f"--dtype/--weight-dtype/--kv-dtype: {exc}") from None


def base_url(url: str) -> str:
    """``http://host:port`` from what the user gave; :class:`LlmroofError` for anything else."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LlmroofError(f"--url {url!r}: expected http://HOST:PORT", "e.g. --url http://127.0.0.1:8000")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise LlmroofError(f"--url {url!r}: the port is not a number") from None
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[:-3]
    return f"{parts.scheme}://{parts.netloc}{path}"


def check_reachable(url: str, timeout_s: float = 5.0) -> None:
    """Any HTTP answer will do (a 404 too); no answer is the user's error, raised before any load."""
    import httpx

    try:
        httpx.get(url + "/", timeout=timeout_s, trust_env=False)
    except httpx.HTTPError as exc:
        raise LlmroofError(f"cannot reach the server at {url}: {type(exc).__name__}: {exc}",
                           "is it running, and is the port right? (--url http://HOST:PORT)") from None


@dataclass
class _State:
    """What the run has learnt and done so far."""

    config: BenchConfig
    settings: BenchSettings
    out_path: Path | None
    deployment: Deployment | None
    hardware_method: str
    notes: list[str]
    extras: bool = True
    """Send ignore_eos/min_tokens (until the server refuses them)."""
    usage: bool = True
    """Ask for usage in the stream (until the server refuses stream_options)."""
    prompt_method: str = ""
    levels: list[Level] = field(default_factory=list)
    unsaved: int = 0

    def result(self, current: Level | None = None, complete: bool = True) -> BenchResult:
        d = self.deployment
        return BenchResult(
            settings=self.settings, levels=tuple(self.levels + ([current] if current else [])),
            prompt_method=self.prompt_method,
            extras_sent=self.extras_sent(),
            model_spec=None if d is None else _model_dict(d), hardware=None if d is None else d.hardware.to_dict(),
            hardware_method=self.hardware_method, notes=tuple(self.notes), complete=complete,
        )

    writer: Any = None
    """One worker thread that writes the results file: writes keep their order, and a save mid-level never
    holds the event loop (and the timestamps of the streams in flight) while the disk syncs."""

    def extras_sent(self) -> tuple[str, ...]:
        """The optional fields the run kept sending (the server accepted them)."""
        if self.config.endpoint == "generate":
            return ("ignore_eos",) if self.extras else ()
        return (*(protocols.EXTRAS if self.extras else ()), *((protocols.USAGE,) if self.usage else ()))

    def save(self, current: Level | None = None, complete: bool = True, wait: bool = True) -> None:
        self.unsaved = 0
        if self.out_path is None:
            return
        from concurrent.futures import ThreadPoolExecutor

        from llmroof.results.io import write_json_atomic

        if self.writer is None:
            self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llmroof-bench-save")
        done = self.writer.submit(write_json_atomic, self.out_path, self.result(current, complete).to_dict())
        if wait:
            done.result()


def _model_dict(d: Deployment) -> dict[str, Any]:
    import dataclasses

    from llmroof.analytic.memory import param_count

    scalars = {k: v for k, v in dataclasses.asdict(d.model).items() if isinstance(v, (int, float, str, bool, type(None)))}
    return {"name": d.model.name, "params": param_count(d.model), **scalars}


def run_bench(config: BenchConfig, out_path: Path | None = None, progress: Progress = lambda _: None,
              nvml_module: Any = "auto") -> BenchResult:
    """Benchmark the server and place every level on the roofline; the record is also written to ``out_path``."""
    url = base_url(config.url)
    precision = config.precision()
    check_reachable(url)
    notes: list[str] = []
    spec, why = resolve_model(config.config or config.model)
    deployment, method = None, "none"
    if why:
        notes.append(why)
    if spec is not None:
        hardware, method = resolve_hardware(config.hardware, url, config.dtype, config.hardware_file,
                                            nvml_module, progress)
        if hardware is None:
            notes.append(f"no roofline: {method}")
        else:
            deployment = Deployment(model=spec, hardware=hardware, precision=precision, tp=config.tp, pp=config.pp)
    state = _State(config=config, settings=config.settings(), out_path=out_path, deployment=deployment,
                   hardware_method=method, notes=notes)
    sampler = _start_sampler(config, method, nvml_module, notes)
    try:
        asyncio.run(_run(state, url, progress, sampler))
    finally:
        if sampler is not None:
            sampler.stop()
        if state.writer is not None:
            state.writer.shutdown(wait=True)
    return state.result()


def _start_sampler(config: BenchConfig, method: str, nvml_module: Any, notes: list[str]) -> Any:
    """NVML sampling of GPU 0 through the run, when the hardware came from NVML (a GPU server here)."""
    if not (config.nvml and method.startswith("nvml")):
        return None
    from llmroof.measure import nvml as nv

    module = nv.load_pynvml() if nvml_module == "auto" else nvml_module
    device, status = nv.open_nvml(module, index=0)
    sampler = nv.Sampler(device, status, interval_s=0.1)
    if not sampler.status.source:
        notes.append(f"NVML sampling unavailable: {sampler.status.reason}")
    return sampler.start()


async def _run(state: _State, url: str, progress: Progress, sampler: Any) -> None:
    config = state.config
    tokenizer = prompts.load_tokenizer(config.tokenizer or config.model)
    top = None if config.rates else max(*config.concurrency, config.warmup, 1)
    target = bench_client.Target(base_url=url, endpoint=config.endpoint, model=config.model,
                                 output_len=config.output_len, timeout_s=config.timeout_s)
    origin = time.perf_counter()
    async with bench_client.make_client(top, config.timeout_s) as http:
        count = tokenizer.count if tokenizer is not None else None

        async def send(prompt: str, index: int, tokens: int | None, t: bench_client.Target = target) -> RequestRecord:
            if config.trace and 0 <= index < len(config.trace) and t is target:  # each request its own length
                t = dataclasses.replace(target, output_len=config.trace[index].output_tokens)
            for _ in range(3):  # at most: with everything, without the extras, without stream_options too
                extras, usage = state.extras, state.usage
                try:
                    return await bench_client.send(http, t, prompt, index=index, origin_s=origin, extras=extras,
                                                   usage=usage, count_tokens=count, input_tokens=tokens)
                except bench_client.ExtrasRejected as exc:
                    _refused(state, exc, extras, usage)
            return await bench_client.send(http, t, prompt, index=index, origin_s=origin, extras=False, usage=False,
                                           count_tokens=count, input_tokens=tokens)

        pool = await _prompts(state, tokenizer, send, target)
        if config.warmup:
            progress(f"warm-up: {config.warmup} requests")
            first = await send(pool[0][0], -1, pool[0][1])  # alone: learns whether extras are accepted
            rest = [send(text, -1, n) for text, n in pool[1:config.warmup]]
            warm = [first, *await asyncio.gather(*rest)]
            failed = [r for r in warm if not r.ok]
            if failed:
                state.notes.append(f"{len(failed)} of {len(warm)} warm-up requests failed (first: {failed[0].error})")
        for position, (concurrency, rate) in enumerate(config.levels):
            level = await _level(state, send, pool, concurrency, rate, position, progress, sampler, origin)
            state.levels.append(level)
            roof = level.roofline
            if roof is not None and roof.tpot_fraction is not None and roof.tpot_fraction > 1:
                state.notes.append(f"{level.label}: measured TPOT is {roof.tpot_fraction:.2f}x faster than the "
                                   "roofline allows: check --hardware, --dtype/--weight-dtype, --tp and --pp")
            if level.stop_reason:
                state.notes.append(f"{level.label}: {level.stop_reason}; later levels not run")
            state.save()
            if level.stop_reason:
                break


def _refused(state: _State, exc: Exception, extras: bool, usage: bool) -> None:
    """Stop sending the fields the server named, noting it once (several requests in flight may be refused)."""
    fields = getattr(exc, "fields", ())
    detail = " ".join(str(exc).split())[:120]
    if extras and state.extras and any(f in protocols.EXTRAS for f in fields):
        state.extras = False
        state.notes.append(f"the server refused ignore_eos/min_tokens ({detail}): sent without them, so outputs "
                           "may end early at an end-of-sequence token")
    if usage and state.usage and protocols.USAGE in fields:
        state.usage = False
        state.notes.append(f"the server refused stream_options ({detail}): token counts from the tokenizer or "
                           "the chunks instead of its usage")


async def _prompts(state: _State, tokenizer: prompts.Tokenizer | None, send: Any,
                   target: bench_client.Target) -> list[tuple[str, int | None]]:
    """Distinct prompts for every request of the run (a pool reused in turn for duration-bound levels)."""
    config = state.config
    rng = random.Random(config.seed)
    if config.trace:  # warm-up prompts, then one prompt of its recorded length per request of the trace
        lengths = [config.input_len] * config.warmup + [r.prompt_tokens for r in config.trace]
        state.prompt_method = "trace: " + ("exact lengths by the tokenizer" if tokenizer is not None else
                                           "a word per token (pass --tokenizer FOLDER for exact lengths)")
        if tokenizer is not None:
            return [prompts.exact_prompt(tokenizer, n, rng) for n in lengths]
        return [(prompts.word_prompt(n, rng), None) for n in lengths]
    per_level = config.requests if config.requests is not None else PROMPT_POOL
    n = min(PROMPT_POOL * 4, per_level * len(config.levels) + config.warmup)
    if tokenizer is not None:
        pool = [prompts.exact_prompt(tokenizer, config.input_len, rng) for _ in range(n)]
        lengths = {length for _, length in pool}
        exact = lengths == {config.input_len}
        state.prompt_method = (f"exact: {config.input_len} tokens by the tokenizer of {tokenizer.source}" if exact
                               else f"tokenizer {tokenizer.source}: lengths {sorted(lengths)} (exact not reached)")
        return [(text, length) for text, length in pool]
    words = config.input_len
    probe = bench_client.Target(base_url=target.base_url, endpoint=target.endpoint, model=target.model,
                                output_len=1, timeout_s=target.timeout_s)
    record = await send(prompts.word_prompt(words, rng), -1, None, probe)
    if record.ok and record.input_tokens:
        words = prompts.scale_words(words, record.input_tokens, config.input_len)
        state.prompt_method = (f"by usage: {words} words, scaled so the server counts about {config.input_len} "
                               f"prompt tokens (a probe of {config.input_len} words counted {record.input_tokens})")
    else:
        state.prompt_method = (f"by length: {words} words (the server reported no prompt tokens; "
                               "pass --tokenizer FOLDER for exact lengths)")
    return [(prompts.word_prompt(words, rng), None) for _ in range(n)]


async def _level(state: _State, send: Any, pool: list[tuple[str, int | None]], concurrency: int | None,
                 rate: float | None, position: int, progress: Progress, sampler: Any, origin: float) -> Level:
    config = state.config
    run = load.LevelRun()
    offset = config.warmup + position * (config.requests or PROMPT_POOL)
    label = f"concurrency {concurrency}" if concurrency is not None else f"rate {rate:g}/s"
    progress(f"{label}: {config.requests or '...'} requests" + (f" or {config.duration_s:g} s" if config.duration_s else ""))

    def send_indexed(index: int) -> Any:
        text, tokens = pool[(offset + index) % len(pool)]
        return send(text, index, tokens)

    def summary(complete: bool) -> Level:
        level = summarize_level(list(run.records), concurrency=concurrency, rate=rate, ttft_slo_s=config.ttft_slo_s,
                                tpot_slo_s=config.tpot_slo_s, complete=complete, stop_reason=run.stop_reason)
        window = None
        if sampler is not None and state.deployment is not None:
            window = nvml_window(sampler.snapshot(), level.records, sampler.status.source, sampler.status.reason,
                                 origin_s=origin)
        return with_placement(level, state.deployment, window)

    def on_record(_: RequestRecord) -> None:
        state.unsaved += 1
        if state.unsaved >= config.save_every:
            state.save(summary(complete=False), complete=False, wait=False)

    kwargs = dict(requests=config.requests, duration_s=config.duration_s,
                  stop_after_failures=config.stop_after_failures, on_record=on_record)
    try:
        if concurrency is not None:
            await load.closed_loop(send_indexed, run, concurrency=concurrency, **kwargs)
        else:
            times = [r.arrival_s for r in config.trace] if config.trace else None
            await load.open_loop(send_indexed, run, rate=rate, seed=config.seed + position, times=times, **kwargs)
    except asyncio.CancelledError:  # Ctrl-C: keep every finished request
        state.save(summary(complete=False), complete=False)
        raise
    return summary(complete=not run.stop_reason)
