"""The bench client's own cost: how many streamed chunks per second it can take in, and how closely its
timestamps follow the moment each chunk was sent.

Run: python benchmarks/bench_client.py [--json]

A replay server (this script with ``--serve PORT``, a separate process with a bare asyncio HTTP/1.1 server,
no framework, so its own cost stays small) streams OpenAI completion chunks. Each chunk carries the
server's ``time.perf_counter()`` at the moment it was written; on Linux that clock is CLOCK_MONOTONIC,
shared by every process of the machine, so the client's timestamp minus the server's is the lag the
client adds (loopback, kernel, httpx, SSE parsing), i.e. its timestamp error.

- throughput: ``--streams`` concurrent requests of ``--chunks`` chunks sent back to back, through
  ``llmroof.bench.client.send`` (the function llmroof bench uses): chunks received / wall time;
- accuracy: one stream paced at one chunk every ``--pace-ms``: lag p50 / p99 / max.
Best of ``--repeats`` for throughput; all paced chunks for the lag.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import machine  # noqa: E402


# --- the replay server ---------------------------------------------------------------------------------

async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            body = json.loads(await reader.readexactly(length)) if length else {}
            chunks, pace_s = int(body.get("max_tokens", 1)), float(body.get("pace_s", 0.0) or 0.0)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
            next_s = time.perf_counter()
            for i in range(chunks):
                if pace_s:
                    next_s += pace_s
                    delay = next_s - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                event = b'data: {"choices": [{"index": 0, "text": "%.9f"}]}\n\n' % time.perf_counter()
                writer.write(b"%x\r\n%s\r\n" % (len(event), event))
                if pace_s or i % 16 == 15:
                    await writer.drain()
            tail = (b'data: {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": %d}}\n\n'
                    b"data: [DONE]\n\n" % chunks)
            writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(tail), tail))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


async def _serve(port: int) -> None:
    server = await asyncio.start_server(_handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


# --- the client side -----------------------------------------------------------------------------------

async def _throughput(port: int, streams: int, chunks: int) -> float:
    from llmroof.bench import client

    target = client.Target(base_url=f"http://127.0.0.1:{port}", endpoint="completions", model="replay",
                           output_len=chunks, timeout_s=60)
    async with client.make_client(streams, 60) as http:
        start = time.perf_counter()
        records = await asyncio.gather(*(client.send(http, target, "p", index=i, origin_s=0.0, extras=False)
                                         for i in range(streams)))
        wall = time.perf_counter() - start
    assert all(r.ok and len(r.chunk_times_s) == chunks for r in records), [r.error for r in records]
    return streams * chunks / wall


async def _lags(port: int, chunks: int, pace_s: float) -> list[float]:
    """Client arrival time - server send time of every paced chunk (the client's parse path, timestamps kept)."""
    import httpx

    from llmroof.bench import protocols

    body = {"model": "replay", "prompt": "p", "max_tokens": chunks, "stream": True, "pace_s": pace_s}
    lags = []
    async with httpx.AsyncClient(trust_env=False) as http:
        async with http.stream("POST", f"http://127.0.0.1:{port}/v1/completions", json=body) as response:
            async for line in response.aiter_lines():
                now = time.perf_counter()
                event = protocols.parse_line("completions", line)
                if event is not None and event.output and event.text:
                    lags.append(now - float(event.text))
    return lags


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--pace-ms", type=float, default=2.0)
    parser.add_argument("--paced-chunks", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args.serve))
        return

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from bench_servers import free_port

    port = free_port()
    server = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve", str(port)],
                              start_new_session=True, cwd=tempfile.gettempdir())  # outside the checkout
    try:
        for _ in range(100):  # bounded wait for the port
            try:
                with __import__("socket").create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        rates = [asyncio.run(_throughput(port, args.streams, args.chunks)) for _ in range(args.repeats)]
        lags = asyncio.run(_lags(port, args.paced_chunks, args.pace_ms / 1e3))
    finally:
        os.killpg(server.pid, 9)
        server.wait()
    result = {
        "machine": machine(), "streams": args.streams, "chunks_per_stream": args.chunks,
        "chunks_per_s_best": max(rates), "chunks_per_s_median": statistics.median(rates),
        "paced_chunks": len(lags), "pace_ms": args.pace_ms,
        "lag_p50_ms": _quantile(lags, 0.5) * 1e3, "lag_p99_ms": _quantile(lags, 0.99) * 1e3,
        "lag_max_ms": max(lags) * 1e3,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['machine']}")
    print(f"throughput: {result['chunks_per_s_best']:,.0f} chunks/s best, {result['chunks_per_s_median']:,.0f} median "
          f"({args.streams} streams x {args.chunks} chunks, {args.repeats} repeats)   target >= 5,000")
    print(f"timestamp lag ({len(lags)} chunks, one every {args.pace_ms:g} ms): p50 {result['lag_p50_ms']:.3f} ms, "
          f"p99 {result['lag_p99_ms']:.3f} ms, max {result['lag_max_ms']:.3f} ms   target <= 0.5 ms")


if __name__ == "__main__":
    main()
