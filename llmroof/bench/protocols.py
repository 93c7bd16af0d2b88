"""The wire protocols ``llmroof bench`` speaks, as pure functions: the request body for an endpoint, and what
one streamed event says.

- ``completions``: OpenAI ``POST /v1/completions``, SSE ``data: {...}`` lines, ``data: [DONE]`` at the end;
  output in ``choices[0].text``.
- ``chat``: OpenAI ``POST /v1/chat/completions``; output in ``choices[0].delta.content``.
- ``generate``: the KServe/Triton generate extension, ``POST /v2/models/NAME/generate_stream``, SSE events
  whose ``text_output`` holds the new text.

Both OpenAI endpoints are asked for ``stream_options.include_usage``, so servers that support it report the
token counts in a last chunk. ``ignore_eos`` and ``min_tokens`` (vLLM, SGLang, TensorRT-LLM extensions) hold
the output length; servers that reject unknown fields (``transformers serve``: HTTP 422) are retried without
them, and without ``stream_options`` where a server names that one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

ENDPOINTS = ("completions", "chat", "generate")
EXTRAS = ("ignore_eos", "min_tokens")
USAGE = "stream_options"


class MalformedEvent(ValueError):
    """A stream event that is not the JSON its protocol promises."""


@dataclass(frozen=True, slots=True)
class Event:
    """What one SSE event carries."""

    output: bool
    """Carries generated output (a choice, even with empty text, as vLLM counts chunks)."""
    text: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    done: bool = False
    error: str | None = None
    """An error the server reported inside the stream."""


def path(endpoint: str, model: str) -> str:
    if endpoint == "completions":
        return "/v1/completions"
    if endpoint == "chat":
        return "/v1/chat/completions"
    return f"/v2/models/{model}/generate_stream"


def body(endpoint: str, model: str, prompt: str, output_len: int, extras: bool, usage: bool = True) -> dict[str, Any]:
    """The request body: greedy (temperature 0), streamed, ``output_len`` tokens at most; ``extras``:
    ignore_eos and min_tokens; ``usage``: stream_options.include_usage (OpenAI endpoints)."""
    if endpoint == "generate":
        data: dict[str, Any] = {"text_input": prompt, "max_tokens": output_len, "stream": True,
                                "temperature": 0.0}
        if extras:
            data["ignore_eos"] = True
        return data
    data = {"model": model, "max_tokens": output_len, "temperature": 0.0, "stream": True}
    if usage:
        data["stream_options"] = {"include_usage": True}
    if endpoint == "chat":
        data["messages"] = [{"role": "user", "content": prompt}]
    else:
        data["prompt"] = prompt
    if extras:
        data["ignore_eos"] = True
        data["min_tokens"] = output_len
    return data


def parse_line(endpoint: str, line: str) -> Event | None:
    """One line of an SSE stream: None for blank lines, comments and fields other than ``data``."""
    if not line.startswith("data:"):
        return None
    payload = line[5:].strip()
    if payload == "[DONE]":
        return Event(output=False, done=True)
    try:
        data = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise MalformedEvent(f"not JSON: {payload[:80]!r} ({exc.msg})") from None
    if not isinstance(data, dict):
        raise MalformedEvent(f"not a JSON object: {payload[:80]!r}")
    if "error" in data:
        error = data["error"]
        return Event(output=False, error=str(error.get("message", error) if isinstance(error, dict) else error))
    if endpoint == "generate":
        if "text_output" not in data:
            raise MalformedEvent(f"no text_output: {payload[:80]!r}")
        return Event(output=True, text=str(data["text_output"] or ""))
    usage = data.get("usage") or {}
    prompt_tokens, completion_tokens = usage.get("prompt_tokens"), usage.get("completion_tokens")
    choices = data.get("choices")
    if choices is None and not usage:
        raise MalformedEvent(f"neither choices nor usage: {payload[:80]!r}")
    text: str | None = ""
    if choices:
        choice = choices[0]
        if not isinstance(choice, dict):
            raise MalformedEvent(f"a choice that is not an object: {payload[:80]!r}")
        text = (choice.get("delta") or {}).get("content") if endpoint == "chat" else choice.get("text")
        # A chat stream's first chunk carries only the role; it is no output yet.
        has_output = text is not None if endpoint == "chat" else True
        return Event(output=has_output, text=text or "", prompt_tokens=prompt_tokens,
                      completion_tokens=completion_tokens)
    return Event(output=False, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
