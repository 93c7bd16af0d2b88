"""Stream one request to a serving engine (httpx, async) and time every chunk.

Every failure becomes a request's ``error`` (``kind: message``), never an exception out of :func:`send`:
``connect`` (refused, unreachable), ``http_NNN`` (the status), ``timeout`` (the whole request outlived its
deadline, a stalled stream included), ``malformed`` (an event that is not the protocol's JSON),
``disconnected`` (the server closed the stream early, or died), ``server`` (an error event in the stream),
``empty`` (a stream that ended with no output).

The server is untrusted input: the stream is read as UTF-8 whatever charset it claims (SSE always is), a line
longer than :data:`MAX_LINE_BYTES` is malformed, every field of every event is type-checked
(:func:`llmroof.bench.protocols.parse_line`), and token counts it reports are checked against the local
count (an impossible completion count, or a prompt count far off the tokenizer's, is replaced by the local
one and reported through ``doubt``). Whatever else goes wrong reading a response is that request's
``malformed`` error: one request, never the run.

Timestamps: ``time.perf_counter()`` read as soon as each line is decoded, minus the run's origin.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from llmroof.bench import protocols
from llmroof.labels import plain_text
from llmroof.results.records.bench import RequestRecord

ERROR_BODY_CHARS = 200
MAX_LINE_BYTES = 1 << 20
"""An SSE line longer than this (1 MiB) is a malformed event, not something to hold in memory."""


class ExtrasRejected(Exception):
    """The server answered 400 or 422 naming an optional field sent (``ignore_eos``, ``min_tokens``,
    ``stream_options``): retry without it. ``fields``: the ones it named."""

    def __init__(self, detail: str, fields: tuple[str, ...]) -> None:
        super().__init__(detail)
        self.fields = fields


@dataclass(frozen=True, kw_only=True, slots=True)
class Target:
    """Where and what to send."""

    base_url: str
    endpoint: str
    model: str
    output_len: int
    timeout_s: float


def plausible_prompt_tokens(reported: int, local: int) -> bool:
    """Whether a server's prompt count can be the same prompt as ``local`` tokens by the local tokenizer:
    within half to twice it, plus 64 tokens a chat template may add."""
    return local / 2 <= reported <= 2 * local + 64


def make_client(
    concurrency: int | None, timeout_s: float, auth: tuple[str, str] | None = None
) -> Any:
    """One pooled client for the run: a connection for every request in flight (``None``: no limit, for an
    open loop, whose requests must never queue in the client); no proxies from the environment (a benchmark
    must reach the server it names). ``auth``: the URL's credentials, sent as HTTP basic auth (the URL the
    client sees has none, so no message can show them)."""
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency or 256)
    return httpx.AsyncClient(
        limits=limits, timeout=httpx.Timeout(timeout_s), trust_env=False, auth=auth
    )


async def send(
    client: Any,
    target: Target,
    prompt: str,
    *,
    index: int,
    origin_s: float,
    extras: bool,
    usage: bool = True,
    count_tokens: Callable[[str], int] | None = None,
    input_tokens: int | None = None,
    clock: Callable[[], float] = time.perf_counter,
    doubt: Callable[[str], None] = lambda _: None,
) -> RequestRecord:
    """Send one streamed request; returns its record (successful or not). Raises :class:`ExtrasRejected`
    only when the server refused an optional field it names (ignore_eos, min_tokens, stream_options).
    ``doubt`` hears of a count of the server's replaced by the local one."""
    import httpx

    url = target.base_url + protocols.path(target.endpoint, target.model)
    payload = protocols.body(
        target.endpoint, target.model, prompt, target.output_len, extras, usage
    )
    optional = tuple(f for f in (*protocols.EXTRAS, protocols.USAGE) if f in payload)
    start = clock()
    chunks: list[float] = []
    text: list[str] = []
    counts: dict[str, int | None] = {"prompt": None, "completion": None}

    async def exchange() -> str | None:
        async with client.stream("POST", url, json=payload) as response:
            if response.status_code != 200:
                detail = (await response.aread()).decode("utf-8", "replace")[:ERROR_BODY_CHARS]
                named = tuple(f for f in optional if f in detail)
                if named and response.status_code in (400, 422):
                    raise ExtrasRejected(detail, named)
                return f"http_{response.status_code}: {' '.join(detail.split())}"
            return await _read_stream(response, target.endpoint, chunks, text, counts, clock)

    try:
        # The deadline of the whole request (httpx's timeouts are per read: a trickling stream resets them).
        error = await asyncio.wait_for(exchange(), target.timeout_s)
    except ExtrasRejected:
        raise
    except (TimeoutError, asyncio.TimeoutError):  # distinct classes before Python 3.11
        error = f"timeout: no complete response within {target.timeout_s:g} s"
    except httpx.ConnectError as exc:
        error = f"connect: {exc}"
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
        error = f"disconnected: {type(exc).__name__}: {exc}"
    except httpx.TimeoutException as exc:
        error = f"timeout: {type(exc).__name__}"
    except httpx.HTTPError as exc:
        error = f"http: {type(exc).__name__}: {exc}"
    except Exception as exc:
        error = f"malformed: {type(exc).__name__}: {str(exc)[:ERROR_BODY_CHARS]}"
    end = clock()
    if error is None and not chunks:
        error = "empty: the stream ended without output"
    output, source = _output_tokens(
        counts["completion"], "".join(text), len(chunks), count_tokens, target.output_len, doubt
    )
    return RequestRecord(
        index=index,
        start_s=start - origin_s,
        first_token_s=chunks[0] - origin_s if chunks else None,
        end_s=end - origin_s,
        chunk_times_s=tuple(t - origin_s for t in chunks),
        input_tokens=_input_tokens(counts["prompt"], input_tokens, doubt),
        output_tokens=output if error is None else None,
        token_source=source if error is None else None,
        error=None if error is None else plain_text(error),
    )


async def _read_stream(
    response: Any,
    endpoint: str,
    chunks: list[float],
    text: list[str],
    usage: dict[str, int | None],
    clock: Callable[[], float],
) -> str | None:
    """Read SSE lines until ``[DONE]`` or the end; returns an error or None."""
    async for line in _lines(response):
        now = clock()
        if line is None:
            return f"malformed: a line longer than {MAX_LINE_BYTES} bytes"
        try:
            event = protocols.parse_line(endpoint, line)
        except protocols.MalformedEvent as exc:
            return f"malformed: {exc}"
        if event is None:
            continue
        if event.error is not None:
            return f"server: {event.error}"
        if event.done:
            return None
        if event.output:
            chunks.append(now)
            text.append(event.text)
        if event.prompt_tokens is not None:
            usage["prompt"] = event.prompt_tokens
        if event.completion_tokens is not None:
            usage["completion"] = event.completion_tokens
    return None


async def _lines(response: Any) -> AsyncIterator[str | None]:
    """The stream's lines, decoded as UTF-8 (SSE's only encoding, whatever the charset header says) with
    undecodable bytes replaced; None for a line past :data:`MAX_LINE_BYTES` (and the stream ends there).
    Lines end at LF, CRLF or CR, as SSE allows."""
    pending = b""
    async for piece in response.aiter_bytes():
        pending += piece
        *complete, pending = pending.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        for raw in complete:
            if len(raw) > MAX_LINE_BYTES:
                yield None
                return
            yield raw.decode("utf-8", "replace")
        if len(pending) > MAX_LINE_BYTES:
            yield None
            return
    if pending:
        yield pending.decode("utf-8", "replace")


def _input_tokens(
    reported: int | None, local: int | None, doubt: Callable[[str], None]
) -> int | None:
    """The server's prompt count, unless the local tokenizer's differs beyond a chat template's tokens (or
    the server's is negative)."""
    if reported is None:
        return local
    if reported < 0 or (local is not None and not plausible_prompt_tokens(reported, local)):
        if local is None:
            doubt(f"the server reported usage.prompt_tokens {reported}: not used")
        else:
            doubt(
                f"the server reported usage.prompt_tokens {reported} for a prompt of {local} tokens by the "
                "local tokenizer: the local count is used"
            )
        return local
    return reported


def _output_tokens(
    usage: int | None,
    text: str,
    chunks: int,
    count_tokens: Callable[[str], int] | None,
    max_tokens: int,
    doubt: Callable[[str], None],
) -> tuple[int, str]:
    """The server's usage when reported and possible (0 to the ``max_tokens`` asked for), else the local
    tokenizer's count of the text, else the chunks."""
    if usage is not None and 0 <= usage <= max_tokens:
        return usage, "usage"
    if usage is not None:
        doubt(
            f"the server reported usage.completion_tokens {usage} for at most {max_tokens} tokens asked "
            "for: counted locally instead"
        )
    if count_tokens is not None:
        return count_tokens(text), "tokenizer"
    return chunks, "chunks"
