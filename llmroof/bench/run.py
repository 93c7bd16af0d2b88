"""``llmroof bench`` as one library function, :func:`run_bench`: check the options, then the server, build
prompts, warm up, run every level, place each on the roofline, and write the results record atomically after
every ``save_every`` finished requests and every level, so an interrupted run (Ctrl-C, the server gone, a
failure of llmroof's own) keeps every request that finished.

Everything that can be checked without the server is checked before the first request (:func:`preflight`):
the URL (credentials kept out of every record and message, control characters refused), the output folder,
``--config`` and ``--tokenizer``, and whether ``--tp``/``--pp`` divide the model's shapes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from llmroof.bench import client as bench_client
from llmroof.bench import load, profiler, prompts, protocols
from llmroof.bench.metrics import summarize_level
from llmroof.bench.roofline import (
    Deployment,
    nvml_window,
    resolve_hardware,
    resolve_model,
    with_placement,
)
from llmroof.bench.traffic import TraceRequest
from llmroof.errors import LlmroofError, shorten
from llmroof.results.records.bench import (
    BenchResult,
    BenchSettings,
    Level,
    LevelProfile,
    RequestRecord,
)
from llmroof.specs.model import ModelSpec

Progress = Callable[[str], None]
PROMPT_POOL = 512
"""Distinct prompts built ahead of a duration-bound level (reused in turn beyond that)."""
MAX_CONCURRENCY = 10_000
"""More requests in flight than this are no benchmark of one server (and more sockets than a process has)."""
MIN_RATE = 1e-3
"""Open-loop rates below this (one request per 17 minutes) are refused: the level would not end."""
MAX_REQUESTS = 10_000_000
MAX_PROMPT_TOKENS = 1 << 20
"""Longest prompt and output asked for (a million tokens)."""
WORDS_PER_TOKEN = (1 / 8, 4.0)
"""Plausible words per token in a server's count of a word prompt; outside it, the count is not used."""
REACH_DEADLINE_S = 5.0
INTERRUPTED_STOP_S = 10.0
"""How long an interrupted run waits for the server's /stop_profile."""
MAX_LEVEL_S = 86_400.0
"""An open-loop level expected to take longer than a day (``--requests`` / ``--rate``) is refused."""


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
    profile: bool = False
    """Ask the server's profiler for a trace of each level (``POST /start_profile``, ``/stop_profile``)."""
    profile_dir: Path | None = None
    """The folder the server writes its traces to: the files that appear in it during a level are named
    in that level's record (implies ``profile``)."""
    save_every: int = 64
    stop_after_failures: int = 8

    def __post_init__(self) -> None:
        if self.endpoint not in protocols.ENDPOINTS:
            raise LlmroofError(
                f"--endpoint {self.endpoint!r}: expected one of {', '.join(protocols.ENDPOINTS)}"
            )
        if self.trace and (self.concurrency or self.rates):
            raise LlmroofError(
                "--trace-file replays its own arrivals: give it without --concurrency or --rate"
            )
        if self.concurrency and self.rates:
            raise LlmroofError("--concurrency and --rate are two kinds of load: give one")
        for c in self.concurrency:
            _check_number(
                "--concurrency",
                c,
                1,
                MAX_CONCURRENCY,
                integer=True,
                hint="requests in flight, e.g. --concurrency 1,8,32",
            )
        for r in self.rates:
            _check_number(
                "--rate",
                r,
                MIN_RATE,
                1e6,
                hint="requests per second, e.g. --rate 2,4; a slower rate would not end the level",
            )
        if self.requests is None and self.duration_s is None:
            raise LlmroofError("give --requests N or --duration S")
        if self.requests is not None:
            _check_number("--requests", self.requests, 1, MAX_REQUESTS, integer=True)
        if self.duration_s is not None:
            _check_number("--duration", self.duration_s, 1e-3, 1e7)
        slowest = min(self.rates, default=None)
        if (
            slowest is not None
            and self.duration_s is None
            and self.requests is not None
            and self.requests / slowest > MAX_LEVEL_S
        ):
            raise LlmroofError(
                f"--rate {slowest:g} with --requests {self.requests}: the level would take about "
                f"{self.requests / slowest / 3600:.0f} hours",
                "raise --rate, lower --requests, or bound each level with --duration S",
            )
        for name in ("input_len", "output_len"):
            _check_number(
                f"--{name.replace('_', '-')}",
                getattr(self, name),
                1,
                MAX_PROMPT_TOKENS,
                integer=True,
            )
        for name in ("tp", "pp", "save_every", "stop_after_failures"):
            _check_number(
                f"--{name.replace('_', '-')}", getattr(self, name), 1, MAX_CONCURRENCY, integer=True
            )
        _check_number("--timeout", self.timeout_s, 1e-3, 1e7)
        _check_number("--warmup", self.warmup, 0, MAX_CONCURRENCY, integer=True)
        for name, value in (("--ttft-slo", self.ttft_slo_s), ("--tpot-slo", self.tpot_slo_s)):
            if value is not None:
                _check_number(name, value, 0, 1e7)
        base_url(self.url)  # a malformed URL is refused here, before anything runs

    @property
    def levels(self) -> list[tuple[int | None, float | None]]:
        if self.trace:  # one level, labelled by the trace's mean rate
            span = self.trace[-1].arrival_s - self.trace[0].arrival_s
            return [(None, (len(self.trace) - 1) / span if span > 0 else float(len(self.trace)))]
        if self.rates:
            return [(None, r) for r in self.rates]
        return [(c, None) for c in (self.concurrency or (1,))]

    def settings(self) -> BenchSettings:
        return BenchSettings(
            url=base_url(self.url),
            endpoint=self.endpoint,
            model=self.model,
            input_len=self.input_len,
            output_len=self.output_len,
            requests=self.requests,
            duration_s=self.duration_s,
            timeout_s=self.timeout_s,
            warmup=self.warmup,
            seed=self.seed,
            ttft_slo_s=self.ttft_slo_s,
            tpot_slo_s=self.tpot_slo_s,
            tp=self.tp,
            pp=self.pp,
            dtype=self.dtype,
            weight_dtype=self.weight_dtype,
            kv_dtype=self.kv_dtype,
        )

    def precision(self) -> Any:
        from llmroof.specs.dtypes import Precision, get_dtype

        try:
            return Precision(
                weight=get_dtype(self.weight_dtype or self.dtype),
                activation=get_dtype(self.dtype),
                kv=get_dtype(self.kv_dtype or self.dtype),
            )
        except ValueError as exc:
            raise LlmroofError(f"--dtype/--weight-dtype/--kv-dtype: {exc}") from None


def _check_number(
    option: str,
    value: float,
    low: float,
    high: float,
    *,
    integer: bool = False,
    hint: str | None = None,
) -> None:
    """One numeric option of bench: a finite number (an integer where ``integer``) within [low, high]."""
    whole = isinstance(value, int) and not isinstance(value, bool)
    if (
        (integer and not whole)
        or not (whole or isinstance(value, float))
        or not low <= value <= high
    ):
        kind = "an integer" if integer else "a number"
        shown = (
            value
            if whole and abs(value) < 10**20
            else (f"{value:g}" if isinstance(value, float) else "that")
        )
        raise LlmroofError(f"{option} {shown}: expected {kind} from {low:g} to {high:g}", hint)


def redact(text: str) -> str:
    """``text`` with the credentials of every URL in it (``//user:password@``) masked: for messages."""
    return re.sub(r"(?<=//)[^/@\s]*@", "***@", text)


def _url_parts(url: str) -> Any:
    if any(ord(c) < 32 or ord(c) == 127 for c in url):
        raise LlmroofError(
            f"--url {shorten(redact(repr(url)))}: a control character (a line break?) in the URL",
            "e.g. --url http://127.0.0.1:8000",
        )
    import httpx

    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises on a malformed port
        httpx.URL(url.strip()).host  # noqa: B018 - raises on a host the client cannot use (xn--, bad IDNA)
    except Exception as exc:
        raise LlmroofError(
            f"--url {shorten(redact(url))!r}: not a URL ({shorten(redact(str(exc)), 80)})",
            "e.g. --url http://127.0.0.1:8000",
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LlmroofError(
            f"--url {shorten(redact(url))!r}: expected http://HOST:PORT",
            "e.g. --url http://127.0.0.1:8000",
        )
    return parts


def base_url(url: str) -> str:
    """``http://host:port`` from what the user gave, without credentials (see :func:`credentials`);
    :class:`LlmroofError` for anything else (control characters included: a URL with a line break would
    inject headers)."""
    parts = _url_parts(url)
    host = parts.netloc.rpartition("@")[2]
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[:-3]
    return f"{parts.scheme}://{host}{path}"


def credentials(url: str) -> tuple[str, str] | None:
    """The URL's ``user:password``, for HTTP basic auth; never stored or shown."""
    from urllib.parse import unquote

    parts = _url_parts(url)
    if parts.username is None:
        return None
    return unquote(parts.username), unquote(parts.password or "")


def check_reachable(
    url: str, timeout_s: float = REACH_DEADLINE_S, auth: tuple[str, str] | None = None
) -> None:
    """Any HTTP answer will do (a 404 too), its status line and headers within ``timeout_s`` in all (a
    server that drips its reply is no answer); no answer is the user's error, raised before any load."""
    import httpx

    async def probe() -> None:
        async with (
            httpx.AsyncClient(timeout=timeout_s, trust_env=False, auth=auth) as client,
            client.stream("GET", url + "/"),
        ):
            pass  # the status and headers are the answer; the body is not read

    try:
        asyncio.run(asyncio.wait_for(probe(), timeout_s))
    except (TimeoutError, asyncio.TimeoutError):
        raise LlmroofError(
            f"the server at {url} did not answer within {timeout_s:g} s",
            "is it the server's port, and is the server up?",
        ) from None
    except httpx.HTTPError as exc:
        raise LlmroofError(
            f"cannot reach the server at {url}: {type(exc).__name__}: {redact(str(exc))}",
            "is it running, and is the port right? (--url http://HOST:PORT)",
        ) from None


def preflight(config: BenchConfig, out_path: Path | None) -> tuple[ModelSpec | None, str]:
    """What can be checked before any request: the output folder, ``--config`` and ``--tokenizer``, and
    whether the deployment's ``--tp``/``--pp`` divide the model. Returns the roofline's model (or None and
    why not)."""
    from llmroof.analytic.sharding import shard_model, stage_layers

    if config.tokenizer is not None and prompts.load_tokenizer(config.tokenizer) is None:
        raise LlmroofError(
            f"--tokenizer {shorten(config.tokenizer)!r}: no tokenizer there (a folder with "
            "tokenizer.json, tokenizer.model or vocab.json, and transformers installed)",
            "pass a local model folder, or leave --tokenizer out",
        )
    if config.config is not None:
        from llmroof.specs.model import get_model

        try:
            spec: ModelSpec | None = get_model(config.config)
        except LlmroofError as exc:
            raise LlmroofError(f"--config: {exc.message}", exc.hint) from None
        why = ""
    else:
        spec, why = resolve_model(config.model)
    if spec is not None:
        shard_model(spec, config.tp)
        try:
            stage_layers(spec.num_layers, config.pp)
        except ValueError as exc:
            raise LlmroofError(f"--pp {config.pp}: {exc}") from None
    if config.profile_dir is not None and not config.profile_dir.is_dir():
        raise LlmroofError(
            f"--profile-dir {shorten(str(config.profile_dir))!r}: not a folder",
            "give the folder the server writes its traces to (its VLLM_TORCH_PROFILER_DIR or "
            "SGLANG_TORCH_PROFILER_DIR)",
        )
    if out_path is not None:
        from llmroof.results.io import check_writable

        check_writable(out_path)
    return spec, why


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
    profiling: bool = False
    """Bracket each level with /start_profile and /stop_profile (until the server refuses)."""
    warn: Progress = print
    """Where a warning goes (one line), whatever ``progress`` does."""

    def result(self, current: Level | None = None, complete: bool = True) -> BenchResult:
        d = self.deployment
        return BenchResult(
            settings=self.settings,
            levels=tuple(self.levels + ([current] if current else [])),
            prompt_method=self.prompt_method,
            extras_sent=self.extras_sent(),
            model_spec=None if d is None else _model_dict(d),
            hardware=None if d is None else d.hardware.to_dict(),
            hardware_method=self.hardware_method,
            notes=tuple(self.notes),
            complete=complete,
        )

    writer: Any = None
    """One worker thread that writes the results file: writes keep their order, and a save mid-level never
    holds the event loop (and the timestamps of the streams in flight) while the disk syncs."""

    def extras_sent(self) -> tuple[str, ...]:
        """The optional fields the run kept sending (the server accepted them)."""
        if self.config.endpoint == "generate":
            return ("ignore_eos",) if self.extras else ()
        return (
            *(protocols.EXTRAS if self.extras else ()),
            *((protocols.USAGE,) if self.usage else ()),
        )

    def save(self, current: Level | None = None, complete: bool = True, wait: bool = True) -> None:
        self.unsaved = 0
        if self.out_path is None:
            return
        from concurrent.futures import ThreadPoolExecutor

        from llmroof.results.io import write_json_atomic

        if self.writer is None:
            self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llmroof-bench-save")
        done = self.writer.submit(
            write_json_atomic, self.out_path, self.result(current, complete).to_dict()
        )
        if wait:
            done.result()


def _model_dict(d: Deployment) -> dict[str, Any]:
    import dataclasses

    from llmroof.analytic.memory import param_count

    scalars = {
        k: v
        for k, v in dataclasses.asdict(d.model).items()
        if isinstance(v, (int, float, str, bool, type(None)))
    }
    return {"name": d.model.name, "params": param_count(d.model), **scalars}


def run_bench(
    config: BenchConfig,
    out_path: Path | None = None,
    progress: Progress = lambda _: None,
    nvml_module: Any = "auto",
    warn: Progress | None = None,
) -> BenchResult:
    """Benchmark the server and place every level on the roofline; the record is also written to ``out_path``.
    ``warn`` hears each warning as one line (default: ``progress``)."""
    url, auth = base_url(config.url), credentials(config.url)
    precision = config.precision()
    spec, why = preflight(config, out_path)
    check_reachable(url, auth=auth)
    notes: list[str] = []
    deployment, method = None, "none"
    if why:
        notes.append(why)
    if spec is not None:
        hardware, method = resolve_hardware(
            config.hardware, url, config.dtype, config.hardware_file, nvml_module, progress
        )
        if hardware is None:
            notes.append(f"no roofline: {method}")
        else:
            deployment = Deployment(
                model=spec, hardware=hardware, precision=precision, tp=config.tp, pp=config.pp
            )
    state = _State(
        config=config,
        settings=config.settings(),
        out_path=out_path,
        deployment=deployment,
        hardware_method=method,
        notes=notes,
        profiling=config.profile or config.profile_dir is not None,
        warn=progress if warn is None else warn,
    )
    sampler = _start_sampler(config, method, nvml_module, notes)
    try:
        asyncio.run(_run(state, url, auth, progress, sampler))
    except Exception:  # a failure of llmroof's own: what finished is kept before it is reported
        state.save(complete=False)
        raise
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


async def _run(
    state: _State, url: str, auth: tuple[str, str] | None, progress: Progress, sampler: Any
) -> None:
    config = state.config
    tokenizer = prompts.load_tokenizer(config.tokenizer or config.model)
    top = None if config.rates else max(*config.concurrency, config.warmup, 1)
    target = bench_client.Target(
        base_url=url,
        endpoint=config.endpoint,
        model=config.model,
        output_len=config.output_len,
        timeout_s=config.timeout_s,
    )
    origin = time.perf_counter()
    async with bench_client.make_client(top, config.timeout_s, auth) as http:
        count = tokenizer.count if tokenizer is not None else None
        doubted: set[str] = set()

        def doubt(note: str) -> None:
            """A server's count replaced by the local one: noted once per kind of count."""
            kind = note.split("usage.", 1)[-1].split(" ", 1)[0]
            if kind not in doubted:
                doubted.add(kind)
                state.notes.append(note + " (noted once)")

        async def send(
            prompt: str, index: int, tokens: int | None, t: bench_client.Target = target
        ) -> RequestRecord:
            if (
                config.trace and 0 <= index < len(config.trace) and t is target
            ):  # each request its own length
                t = dataclasses.replace(target, output_len=config.trace[index].output_tokens)
            for _ in range(
                3
            ):  # at most: with everything, without the extras, without stream_options too
                extras, usage = state.extras, state.usage
                try:
                    return await bench_client.send(
                        http,
                        t,
                        prompt,
                        index=index,
                        origin_s=origin,
                        extras=extras,
                        usage=usage,
                        count_tokens=count,
                        input_tokens=tokens,
                        doubt=doubt,
                    )
                except bench_client.ExtrasRejected as exc:
                    _refused(state, exc, extras, usage)
            return await bench_client.send(
                http,
                t,
                prompt,
                index=index,
                origin_s=origin,
                extras=False,
                usage=False,
                count_tokens=count,
                input_tokens=tokens,
                doubt=doubt,
            )

        pool = await _prompts(state, tokenizer, send, target)
        if config.warmup:
            progress(f"warm-up: {config.warmup} requests")
            first = await send(
                pool[0][0], -1, pool[0][1]
            )  # alone: learns whether extras are accepted
            rest = [send(text, -1, n) for text, n in pool[1 : config.warmup]]
            warm = [first, *await asyncio.gather(*rest)]
            failed = [r for r in warm if not r.ok]
            if failed:
                state.notes.append(
                    f"{len(failed)} of {len(warm)} warm-up requests failed (first: {failed[0].error})"
                )
        for position, (concurrency, rate) in enumerate(config.levels):
            started = await _start_profile(state, http, url, progress)
            try:
                level = await _level(
                    state, send, pool, concurrency, rate, position, progress, sampler, origin
                )
            except BaseException:  # Ctrl-C or a failure: the server's profiler is not left running
                if started is not None and started[0].ok:
                    await _stop_interrupted(state, http, url, started)
                raise
            if started is not None:
                level = dataclasses.replace(
                    level, profile=await _stop_profile(state, http, url, started, progress)
                )
            state.levels.append(level)
            roof = level.roofline
            if roof is not None and roof.tpot_fraction is not None and roof.tpot_fraction > 1:
                state.notes.append(
                    f"{level.label}: measured TPOT is {roof.tpot_fraction:.2f}x faster than the "
                    "roofline allows: check --hardware, --dtype/--weight-dtype, --tp and --pp"
                )
            if level.stop_reason:
                state.notes.append(f"{level.label}: {level.stop_reason}; later levels not run")
            state.save()
            if level.stop_reason:
                break


async def _start_profile(
    state: _State, http: Any, url: str, progress: Progress
) -> tuple[profiler.Reply, profiler.Listing] | None:
    """/start_profile before a level, when profiling: the reply and the trace folder's files before it;
    None when not profiling. A refusal (a server with no profiler) is one warning, and the run goes on
    without profiling."""
    if not state.profiling:
        return None
    config = state.config
    before = profiler.listing(config.profile_dir)
    reply = await profiler.call(http, url, "start_profile", config.timeout_s)
    if not reply.ok:
        state.profiling = False
        warning = (
            f"--profile: the server refused POST /start_profile ({reply.detail}): no traces "
            "(start vLLM with --profiler-config or VLLM_TORCH_PROFILER_DIR, SGLang with "
            "SGLANG_TORCH_PROFILER_DIR)"
        )
        state.notes.append(warning)
        state.warn(warning)
    return reply, before


async def _stop_profile(
    state: _State,
    http: Any,
    url: str,
    started: tuple[profiler.Reply, profiler.Listing],
    progress: Progress,
) -> LevelProfile:
    """/stop_profile after a level whose profiler started; the files that appeared in the trace folder."""
    start, before = started
    folder = state.config.profile_dir
    trace_dir = None if folder is None else str(folder)
    if not start.ok:
        return LevelProfile(started=False, trace_dir=trace_dir, note=start.detail)
    progress("stopping the server's profiler (it writes its trace)")
    stop = await profiler.call(http, url, "stop_profile", state.config.timeout_s)
    files = await profiler.settled(folder, before)
    note = "; ".join(
        part
        for part in (
            start.detail and f"start: {start.detail}",
            stop.detail and f"stop: {stop.detail}",
            "no new file in --profile-dir" if folder is not None and not files else "",
        )
        if part
    )
    if not stop.ok:
        state.notes.append(f"--profile: POST /stop_profile failed ({stop.detail})")
    return LevelProfile(
        started=True, stopped=stop.ok, trace_dir=trace_dir, trace_files=files, note=note
    )


async def _stop_interrupted(
    state: _State, http: Any, url: str, started: tuple[profiler.Reply, profiler.Listing]
) -> None:
    """/stop_profile after a level that ended early (within :data:`INTERRUPTED_STOP_S`), its profile
    added to the level kept (the last one) and saved; never raises over the failure that ended it."""
    config = state.config
    try:
        stop = await profiler.call(
            http, url, "stop_profile", min(config.timeout_s, INTERRUPTED_STOP_S)
        )
        files = await profiler.settled(config.profile_dir, started[1], settle_s=1.0)
        if state.levels and state.levels[-1].profile is None:
            state.levels[-1] = dataclasses.replace(
                state.levels[-1],
                profile=LevelProfile(
                    started=True,
                    stopped=stop.ok,
                    trace_dir=None if config.profile_dir is None else str(config.profile_dir),
                    trace_files=files,
                    note="the level was interrupted"
                    + (f"; stop: {stop.detail}" if stop.detail else ""),
                ),
            )
            state.save(complete=False)
    except BaseException:  # a second Ctrl-C: the first failure is what is reported
        pass


def _refused(state: _State, exc: Exception, extras: bool, usage: bool) -> None:
    """Stop sending the fields the server named, noting it once (several requests in flight may be refused)."""
    fields = getattr(exc, "fields", ())
    detail = " ".join(str(exc).split())[:120]
    if extras and state.extras and any(f in protocols.EXTRAS for f in fields):
        state.extras = False
        state.notes.append(
            f"the server refused ignore_eos/min_tokens ({detail}): sent without them, so outputs "
            "may end early at an end-of-sequence token"
        )
    if usage and state.usage and protocols.USAGE in fields:
        state.usage = False
        state.notes.append(
            f"the server refused stream_options ({detail}): token counts from the tokenizer or "
            "the chunks instead of its usage"
        )


async def _prompts(
    state: _State, tokenizer: prompts.Tokenizer | None, send: Any, target: bench_client.Target
) -> list[tuple[str, int | None]]:
    """Distinct prompts for every request of the run (a pool reused in turn for duration-bound levels)."""
    config = state.config
    rng = random.Random(config.seed)
    if (
        config.trace
    ):  # warm-up prompts, then one prompt of its recorded length per request of the trace
        lengths = [config.input_len] * config.warmup + [r.prompt_tokens for r in config.trace]
        state.prompt_method = "trace: " + (
            "exact lengths by the tokenizer"
            if tokenizer is not None
            else "a word per token (pass --tokenizer FOLDER for exact lengths)"
        )
        if tokenizer is not None:
            return [prompts.exact_prompt(tokenizer, n, rng) for n in lengths]
        return [(prompts.word_prompt(n, rng), None) for n in lengths]
    per_level = config.requests if config.requests is not None else PROMPT_POOL
    n = min(PROMPT_POOL * 4, per_level * len(config.levels) + config.warmup)
    if tokenizer is not None:
        pool = [prompts.exact_prompt(tokenizer, config.input_len, rng) for _ in range(n)]
        reached = {length for _, length in pool}
        exact = reached == {config.input_len}
        state.prompt_method = (
            f"exact: {config.input_len} tokens by the tokenizer of {tokenizer.source}"
            if exact
            else f"tokenizer {tokenizer.source}: lengths {sorted(reached)} (exact not reached)"
        )
        return [(text, length) for text, length in pool]
    words = config.input_len
    probe = bench_client.Target(
        base_url=target.base_url,
        endpoint=target.endpoint,
        model=target.model,
        output_len=1,
        timeout_s=target.timeout_s,
    )
    record = await send(prompts.word_prompt(words, rng), -1, None, probe)
    low, high = WORDS_PER_TOKEN
    plausible = (
        record.input_tokens is not None and low <= words / max(1, record.input_tokens) <= high
    )
    if record.ok and record.input_tokens and not plausible:
        state.notes.append(
            f"the server counted usage.prompt_tokens {record.input_tokens} for a probe of {words} "
            "words, which no tokenizer does: prompts not scaled by it"
        )
    if record.ok and record.input_tokens and plausible:
        words = prompts.scale_words(words, record.input_tokens, config.input_len)
        state.prompt_method = (
            f"by usage: {words} words, scaled so the server counts about {config.input_len} "
            f"prompt tokens (a probe of {config.input_len} words counted {record.input_tokens})"
        )
    else:
        state.prompt_method = (
            f"by length: {words} words (the server reported no prompt tokens; "
            "pass --tokenizer FOLDER for exact lengths)"
        )
    return [(prompts.word_prompt(words, rng), None) for _ in range(n)]


async def _level(
    state: _State,
    send: Any,
    pool: list[tuple[str, int | None]],
    concurrency: int | None,
    rate: float | None,
    position: int,
    progress: Progress,
    sampler: Any,
    origin: float,
) -> Level:
    config = state.config
    run = load.LevelRun()
    offset = config.warmup + position * (config.requests or PROMPT_POOL)
    label = f"concurrency {concurrency}" if concurrency is not None else f"rate {rate:g}/s"
    progress(
        f"{label}: {config.requests or '...'} requests"
        + (f" or {config.duration_s:g} s" if config.duration_s else "")
    )

    def send_indexed(index: int) -> Any:
        text, tokens = pool[(offset + index) % len(pool)]
        return send(text, index, tokens)

    def summary(complete: bool) -> Level:
        level = summarize_level(
            list(run.records),
            concurrency=concurrency,
            rate=rate,
            ttft_slo_s=config.ttft_slo_s,
            tpot_slo_s=config.tpot_slo_s,
            complete=complete,
            stop_reason=run.stop_reason,
        )
        window = None
        if sampler is not None and state.deployment is not None:
            window = nvml_window(
                sampler.snapshot(),
                level.records,
                sampler.status.source,
                sampler.status.reason,
                origin_s=origin,
            )
        return with_placement(level, state.deployment, window)

    def on_record(_: RequestRecord) -> None:
        state.unsaved += 1
        if state.unsaved >= config.save_every:
            state.save(summary(complete=False), complete=False, wait=False)

    requests, duration_s, stop = config.requests, config.duration_s, config.stop_after_failures
    try:
        if concurrency is not None:
            await load.closed_loop(
                send_indexed,
                run,
                concurrency=concurrency,
                requests=requests,
                duration_s=duration_s,
                stop_after_failures=stop,
                on_record=on_record,
            )
        else:
            times = [r.arrival_s for r in config.trace] if config.trace else None
            await load.open_loop(
                send_indexed,
                run,
                rate=rate or 0.0,
                seed=config.seed + position,
                times=times,
                requests=requests,
                duration_s=duration_s,
                stop_after_failures=stop,
                on_record=on_record,
            )
    except (
        BaseException
    ):  # Ctrl-C (a cancellation), or a failure of llmroof's own: keep every finished request
        state.levels.append(summary(complete=False))
        state.save(complete=False)
        raise
    return summary(complete=not run.stop_reason)
