"""A fake OpenAI-compatible streaming engine for llmroof bench's fault tests (run as a subprocess:
``python tests/fake_engine.py PORT MODE``). Every request streams ``max_tokens`` one-token chunks
``DELAY_S`` apart, then a usage chunk and ``[DONE]`` (completions and chat; the generate extension's
stream has neither); MODE breaks every other request (odd ones):

- ok: nothing broken; strict: also answers 422 to ignore_eos/min_tokens, as ``transformers serve`` does;
  strictest: to stream_options too (then no usage is reported);
- http500: status 500; stall: two chunks, then silence; malformed: a chunk that is not JSON;
- die: the third request kills the whole server (SIGKILL) after its second chunk;
- chunk:NAME: the second chunk is the hostile one of :data:`HOSTILE_CHUNKS` (a field of the wrong type, a
  number JSON cannot hold, nesting past Python's recursion limit);
- utf16: the response says ``charset=utf-16`` but its bytes are UTF-8, as SSE always is;
- usage:NAME: every request reports the token counts of :data:`HOSTILE_USAGE`; drip: the reply to GET /
  (the reachability check) comes a byte every half second, for ever;
- profile: nothing broken, and a profiler: ``POST /start_profile`` answers 200 with a line of text (as
  SGLang does, with a terminal escape in it), ``POST /stop_profile`` writes a trace file into ``traces/``
  of the working folder, then answers 200 with an empty body (as vLLM does). Without it, both are 404.

Every request's method and path is appended to ``paths.log`` in the working folder, in arrival order.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

DELAY_S = 0.002
COUNT = {"n": 0}
HOSTILE_CHUNKS = {
    "choices-object": b'{"choices": {"0": {"index": 0, "text": "x"}}}',
    "usage-nan": b'{"choices": [], "usage": {"prompt_tokens": NaN, "completion_tokens": 3}}',
    "usage-infinity": b'{"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": Infinity}}',
    "usage-string": b'{"choices": [], "usage": {"prompt_tokens": "3", "completion_tokens": 3}}',
    "usage-list": b'{"choices": [], "usage": [3, 3]}',
    "usage-huge": b'{"choices": [], "usage": {"completion_tokens": ' + b"9" * 5000 + b"}}",
    "deep": b"[" * 200_000 + b"]" * 200_000,
    "text-number": b'{"choices": [{"index": 0, "text": 5}]}',
    "text-object": b'{"choices": [{"index": 0, "text": {"a": 1}}]}',
    "delta-list": b'{"choices": [{"index": 0, "delta": ["x"]}]}',
    "delta-content-number": b'{"choices": [{"index": 0, "delta": {"content": 7}}]}',
    "choice-string": b'{"choices": ["x"]}',
    "error-deep-message": b'{"error": {"message": {"a": {"b": [1, 2, {"c": "\\u001b]0;pwned\\u0007"}]}}}}',
}
"""Second chunks of a broken request (mode ``chunk:NAME``)."""
HOSTILE_USAGE = {
    "negative": {"completion_tokens": -14},
    "prompt-one": {"prompt_tokens": 1},
    "too-many": {"completion_tokens": 10**9},
}
"""Token counts every request reports (mode ``usage:NAME``), over the true ones."""


def _chunk(text: str, usage: dict | None = None, path: str = "/v1/completions") -> bytes:
    if path.endswith("generate_stream"):
        data: dict = {"model_name": "fake", "text_output": text}
    elif path == "/v1/chat/completions":
        data = {"choices": [{"index": 0, "delta": {"content": text}}]}
    else:
        data = {"choices": [{"index": 0, "text": text}]}
    if usage:
        data = {"choices": [], "usage": usage}
    return f"data: {json.dumps(data)}\n\n".encode()


async def app(scope, receive, send):  # noqa: ANN001 - the ASGI signature
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    path = scope["path"]
    mode = sys.argv[2]
    with open("paths.log", "a") as log:
        log.write(f"{scope['method']} {path}\n")
    if mode == "profile" and path in ("/start_profile", "/stop_profile"):
        await _profiler(send, path)
        return
    if mode == "drip" and path == "/":
        await _drip(send)
        return
    if path not in ("/v1/completions", "/v1/chat/completions") and not path.endswith("/generate_stream"):
        await _plain(send, 404 if scope["path"] != "/health" else 200, b"{}")
        return
    request = json.loads(body)
    n = COUNT["n"]
    COUNT["n"] += 1
    unknown = {"ignore_eos", "min_tokens"} | ({"stream_options"} if mode == "strictest" else set())
    if mode in ("strict", "strictest") and unknown & set(request):  # named, as transformers serve names them
        detail = f"Unexpected fields in the request: {sorted(unknown & set(request))}"
        await _plain(send, 422, json.dumps({"detail": detail}).encode())
        return
    broken = n % 2 == 1
    if mode == "http500" and broken:
        await _plain(send, 500, b'{"error": "boom"}')
        return
    content_type = b"text/event-stream; charset=utf-16" if mode == "utf16" and broken else b"text/event-stream"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", content_type)]})
    tokens = int(request["max_tokens"])
    if path == "/v1/chat/completions":  # the role comes first, with no output
        role = {"choices": [{"index": 0, "delta": {"role": "assistant"}}]}
        await send({"type": "http.response.body", "body": f"data: {json.dumps(role)}\n\n".encode(), "more_body": True})
    for i in range(tokens):
        if i == 2 and mode == "stall" and broken:
            await asyncio.sleep(3600)
        if i == 2 and mode == "die" and n == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        if i == 1 and mode == "malformed" and broken:
            await send({"type": "http.response.body", "body": b"data: {not json\n\n", "more_body": True})
            continue
        if i == 1 and mode.startswith("chunk:") and broken:
            chunk = HOSTILE_CHUNKS[mode.partition(":")[2]]
            await send({"type": "http.response.body", "body": b"data: " + chunk + b"\n\n", "more_body": True})
            continue
        await asyncio.sleep(DELAY_S)
        await send({"type": "http.response.body", "body": _chunk("x", path=path), "more_body": True})
    if path.endswith("generate_stream"):  # no usage, no [DONE]: the stream just ends
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    if "stream_options" not in request:  # usage only when asked for, as OpenAI's API
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})
        return
    prompt = request.get("prompt") or request.get("messages", [{}])[0].get("content", "")
    prompt_tokens = len(str(prompt).split())
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": tokens, "total_tokens": prompt_tokens + tokens}
    if mode.startswith("usage:"):
        usage.update(HOSTILE_USAGE[mode.partition(":")[2]])
    await send({"type": "http.response.body", "body": _chunk("", usage), "more_body": True})
    await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})


async def _profiler(send, path: str) -> None:
    if path == "/start_profile":
        await _plain(send, 200, b"Start profiling.\x1b]0;pwned\x07\n")
        return
    os.makedirs("traces", exist_ok=True)
    name = f"traces/dp0_pp0_tp0_rank0.{COUNT['n']}.pt.trace.json"
    with open(name, "w") as trace:
        json.dump({"traceEvents": [], "deviceProperties": []}, trace)
    await _plain(send, 200, b"")


async def _drip(send) -> None:  # noqa: ANN001
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    while True:
        await send({"type": "http.response.body", "body": b".", "more_body": True})
        await asyncio.sleep(0.5)


async def _plain(send, status: int, body: bytes) -> None:  # noqa: ANN001
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="error")
