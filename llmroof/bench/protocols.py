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


def body(
    endpoint: str, model: str, prompt: str, output_len: int, extras: bool, usage: bool = True
) -> dict[str, Any]:
    """The request body: greedy (temperature 0), streamed, ``output_len`` tokens at most; ``extras``:
    ignore_eos and min_tokens; ``usage``: stream_options.include_usage (OpenAI endpoints)."""
    if endpoint == "generate":
        data: dict[str, Any] = {
            "text_input": prompt,
            "max_tokens": output_len,
            "stream": True,
            "temperature": 0.0,
        }
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


MAX_TOKENS = 2**31
"""Token counts above this are no count at all (a 5,000-digit integer, say)."""
EXCERPT_CHARS = 80


def parse_line(endpoint: str, line: str) -> Event | None:
    """One line of an SSE stream: None for blank lines, comments and fields other than ``data``.

    The server is untrusted input: every field is checked for its type before use, and anything else (JSON
    nested past the recursion limit, NaN or Infinity, a number no float holds, ``choices`` that is not a list,
    text that is not a string) raises :class:`MalformedEvent`, the error of that request only."""
    if not line.startswith("data:"):
        return None
    payload = line[5:].strip()
    if payload == "[DONE]":
        return Event(output=False, done=True)
    data = _json(payload)
    if "error" in data:
        return Event(output=False, error=_error_text(data["error"]))
    if endpoint == "generate":
        if "text_output" not in data:
            raise MalformedEvent(f"no text_output: {_excerpt(payload)}")
        return Event(output=True, text=_text(data["text_output"], "text_output", payload))
    usage = data.get("usage")
    if usage is not None and not isinstance(usage, dict):
        raise MalformedEvent(f"usage is not an object: {_excerpt(payload)}")
    usage = usage or {}
    prompt_tokens = _count(usage.get("prompt_tokens"), "prompt_tokens", payload)
    completion_tokens = _count(usage.get("completion_tokens"), "completion_tokens", payload)
    choices = data.get("choices")
    if choices is not None and not isinstance(choices, list):
        raise MalformedEvent(f"choices is not a list: {_excerpt(payload)}")
    if choices is None and not usage:
        raise MalformedEvent(f"neither choices nor usage: {_excerpt(payload)}")
    if not choices:
        return Event(output=False, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
    choice = choices[0]
    if not isinstance(choice, dict):
        raise MalformedEvent(f"a choice that is not an object: {_excerpt(payload)}")
    if endpoint == "chat":
        delta = choice.get("delta")
        if delta is not None and not isinstance(delta, dict):
            raise MalformedEvent(f"delta is not an object: {_excerpt(payload)}")
        content = (delta or {}).get("content")
        # A chat stream's first chunk carries only the role; it is no output yet.
        return Event(
            output=content is not None,
            text=_text(content, "delta.content", payload),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )
    return Event(
        output=True,
        text=_text(choice.get("text"), "text", payload),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
    )


def _json(payload: str) -> dict[str, Any]:
    """The event's JSON object; NaN and Infinity (no JSON at all) refused, as is nesting past the
    recursion limit and an integer of more digits than Python converts."""

    def constant(name: str) -> Any:
        raise MalformedEvent(f"{name} in the JSON: {_excerpt(payload)}")

    try:
        data = json.loads(payload, parse_constant=constant)
    except json.JSONDecodeError as exc:
        raise MalformedEvent(f"not JSON: {_excerpt(payload)} ({exc.msg})") from None
    except RecursionError:
        raise MalformedEvent(f"JSON nested too deeply: {_excerpt(payload)}") from None
    except MalformedEvent:
        raise
    except ValueError as exc:  # an integer past Python's digit limit
        raise MalformedEvent(f"{_excerpt(str(exc))}: {_excerpt(payload)}") from None
    if not isinstance(data, dict):
        raise MalformedEvent(f"not a JSON object: {_excerpt(payload)}")
    return data


def _count(value: Any, name: str, payload: str) -> int | None:
    """A token count: absent, or an integer (whether it is plausible, a negative one say, is for the caller
    to judge against its own count)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_TOKENS:
        raise MalformedEvent(f"usage.{name} is not a token count: {_excerpt(payload)}")
    return value


def _text(value: Any, name: str, payload: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedEvent(f"{name} is not a string: {_excerpt(payload)}")
    return value


def _error_text(error: Any) -> str:
    """An error the server reported, as one line of printable text."""
    from llmroof.labels import plain_text

    message = error.get("message", error) if isinstance(error, dict) else error
    return plain_text(message if isinstance(message, str) else json.dumps(message))[:200]


def _excerpt(text: str) -> str:
    """The start of what the server sent, printable and short."""
    from llmroof.labels import plain_text

    return repr(plain_text(text[:EXCERPT_CHARS]))
