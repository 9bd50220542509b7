"""Added latency of a costobs-wrapped provider call vs the same unwrapped call.

    .venv/bin/python bench/sdk_overhead.py [--calls 3000] [--json]

A loopback fake OpenAI server (127.0.0.1, its own process) answers chat completions (JSON,
and SSE for streams); a loopback sink answers the SDK's batches with 202, so shipping runs as in
production. Wrapped and unwrapped calls are interleaved so drift hits both equally, and the
added latency is reported at p50 and p99 for sync, async and streamed calls. The same is
measured once more over an in-process transport (no sockets), and finally for the SDK's hot
path alone: the real adapter around a provider method that returns an already parsed result
at once, which isolates the added work from network and parsing noise (on a shared 2-core
machine the end-to-end p50 differences move by tens of µs from run to run). Also reports
``import costobs`` time in a fresh interpreter. Targets: < 20 µs added at p50, import < 150 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COMPLETION = json.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hi"}}
        ],
        "usage": {
            "prompt_tokens": 12,
            "completion_tokens": 3,
            "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 0},
        },
    }
).encode()


def _chunk(delta: dict[str, Any] | None, usage: dict[str, Any] | None = None) -> bytes:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": None}]
    body = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o",
        "choices": choices,
        "usage": usage,
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


STREAM = (
    _chunk({"role": "assistant", "content": ""})
    + _chunk({"content": "Hel"})
    + _chunk({"content": "lo"})
    + _chunk(None, {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15})
    + b"data: [DONE]\n\n"
)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/v1/events":
            count = len(json.loads(gzip.decompress(body))["events"])
            data = json.dumps({"accepted": count, "duplicates": 0, "rejected": []}).encode()
            ctype, status = "application/json", 202
        elif b'"stream":true' in body.replace(b" ", b""):
            data, ctype, status = STREAM, "text/event-stream", 200
        else:
            data, ctype, status = COMPLETION, "application/json", 200
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _serve_forever() -> None:
    """``--serve``: the fake provider + ingest sink, in its own process (no shared GIL)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    sys.stdin.read()  # until the benchmark closes our stdin
    server.shutdown()


def _serve() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    return proc, f"http://127.0.0.1:{port}"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _report(name: str, plain: list[float], wrapped: list[float]) -> dict[str, float]:
    row = {
        "plain_p50_us": _pct(plain, 0.5) * 1e6,
        "wrapped_p50_us": _pct(wrapped, 0.5) * 1e6,
        "added_p50_us": (_pct(wrapped, 0.5) - _pct(plain, 0.5)) * 1e6,
        "plain_p99_us": _pct(plain, 0.99) * 1e6,
        "wrapped_p99_us": _pct(wrapped, 0.99) * 1e6,
        "added_p99_us": (_pct(wrapped, 0.99) - _pct(plain, 0.99)) * 1e6,
    }
    print(
        f"{name:<28} plain p50 {row['plain_p50_us']:8.1f} µs  "
        f"wrapped p50 {row['wrapped_p50_us']:8.1f} µs  "
        f"added p50 {row['added_p50_us']:+7.1f} µs  added p99 {row['added_p99_us']:+8.1f} µs"
    )
    return row


def _interleave(
    calls: int, plain: Callable[[], Any], wrapped: Callable[[], Any]
) -> tuple[list[float], list[float]]:
    for _ in range(200):  # warm up connections, caches, lazy imports
        plain()
        wrapped()
    a: list[float] = []
    b: list[float] = []
    clock = time.perf_counter
    for i in range(calls):
        first, second, fa, fb = (plain, wrapped, a, b) if i % 2 else (wrapped, plain, b, a)
        t0 = clock()
        first()
        t1 = clock()
        second()
        t2 = clock()
        fa.append(t1 - t0)
        fb.append(t2 - t1)
    return a, b


async def _ainterleave(
    calls: int, plain: Callable[[], Any], wrapped: Callable[[], Any]
) -> tuple[list[float], list[float]]:
    for _ in range(200):
        await plain()
        await wrapped()
    a: list[float] = []
    b: list[float] = []
    clock = time.perf_counter
    for i in range(calls):
        first, second, fa, fb = (plain, wrapped, a, b) if i % 2 else (wrapped, plain, b, a)
        t0 = clock()
        await first()
        t1 = clock()
        await second()
        t2 = clock()
        fa.append(t1 - t0)
        fb.append(t2 - t1)
    return a, b


def _per_call(fn: Callable[[], Any], calls: int) -> float:
    runs = []
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        runs.append((time.perf_counter() - t0) / calls)
    return statistics.median(runs) * 1e6


def _hot_path(costobs: Any, openai: Any) -> dict[str, float]:
    from costobs._observe import wrap_async, wrap_sync
    from costobs.integrations.openai import _Adapter
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

    completion = ChatCompletion.model_validate_json(COMPLETION)
    chunks = [
        ChatCompletionChunk.model_validate_json(line[6:])
        for line in STREAM.split(b"\n\n")
        if line.startswith(b"data: {")
    ]
    client = costobs.wrap(openai.OpenAI(api_key="sk", base_url="http://127.0.0.1:9/v1"), team="b")
    state = client.__costobs_state__

    def create(**kwargs: Any) -> Any:
        return completion

    def create_stream(**kwargs: Any) -> Any:
        stream = openai.Stream.__new__(openai.Stream)
        stream._iterator = iter(chunks)
        return stream

    async def acreate(**kwargs: Any) -> Any:
        return completion

    wrapped = wrap_sync(create, _Adapter("chat", "chat", False), state)
    wrapped_stream = wrap_sync(create_stream, _Adapter("chat", "chat", False), state)
    awrapped = wrap_async(acreate, _Adapter("chat", "chat", True), state)
    messages = [{"role": "user", "content": "hi"}]
    n = 5000
    row = {
        "sync_plain": _per_call(lambda: create(model="gpt-4o", messages=messages), n),
        "sync_wrapped": _per_call(lambda: wrapped(model="gpt-4o", messages=messages), n),
        "stream_plain": _per_call(
            lambda: list(create_stream(model="gpt-4o", messages=messages, stream=True)), n
        ),
        "stream_wrapped": _per_call(
            lambda: list(wrapped_stream(model="gpt-4o", messages=messages, stream=True)), n
        ),
    }

    async def loop(fn: Callable[..., Any]) -> None:
        for _ in range(n):
            await fn(model="gpt-4o", messages=messages)

    for name, fn in (("async_plain", acreate), ("async_wrapped", awrapped)):
        runs = []
        for _ in range(7):
            t0 = time.perf_counter()
            asyncio.run(loop(fn))
            runs.append((time.perf_counter() - t0) / n)
        row[name] = statistics.median(runs) * 1e6
    for kind in ("sync", "async", "stream"):
        added = row[f"{kind}_wrapped"] - row[f"{kind}_plain"]
        row[f"{kind}_added"] = added
        print(f"  {kind:<7} added {added:6.1f} µs per call")
    return row


def import_time(runs: int = 7) -> float:
    code = "import time; t = time.perf_counter(); import costobs; print(time.perf_counter() - t)"
    samples = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(runs)
    ]
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve_forever()
        return 0

    imported = import_time()
    print(
        f"import costobs: {imported * 1000:.1f} ms "
        "(median of 7 fresh interpreters; target < 150 ms)"
    )

    import costobs
    import httpx2
    import openai

    server, url = _serve()
    costobs.configure(ingest_url=url, api_key="bench", flush_interval=0.5)
    messages = [{"role": "user", "content": "hi"}]
    results: dict[str, Any] = {"import_ms": imported * 1000}

    def clients(**kw: Any) -> tuple[Any, Any, Any, Any]:
        plain = openai.OpenAI(api_key="sk", base_url=url + "/v1", max_retries=0, **kw)
        wrapped = costobs.wrap(
            openai.OpenAI(api_key="sk", base_url=url + "/v1", max_retries=0, **kw), team="bench"
        )
        aplain = openai.AsyncOpenAI(api_key="sk", base_url=url + "/v1", max_retries=0)
        awrapped = costobs.wrap(
            openai.AsyncOpenAI(api_key="sk", base_url=url + "/v1", max_retries=0), team="bench"
        )
        return plain, wrapped, aplain, awrapped

    plain, wrapped, aplain, awrapped = clients()

    def call(c: Any) -> Callable[[], Any]:
        return lambda: c.chat.completions.create(model="gpt-4o", messages=messages)

    def stream(c: Any) -> Callable[[], Any]:
        return lambda: list(
            c.chat.completions.create(model="gpt-4o", messages=messages, stream=True)
        )

    print(f"\nloopback HTTP fake provider, {args.calls} interleaved calls each:")
    results["sync"] = _report(
        "sync chat.completions", *_interleave(args.calls, call(plain), call(wrapped))
    )
    results["stream"] = _report(
        "streamed chat (4 chunks)", *_interleave(args.calls, stream(plain), stream(wrapped))
    )

    async def run_async() -> tuple[list[float], list[float]]:
        return await _ainterleave(
            args.calls,
            lambda: aplain.chat.completions.create(model="gpt-4o", messages=messages),
            lambda: awrapped.chat.completions.create(model="gpt-4o", messages=messages),
        )

    results["async"] = _report("async chat.completions", *asyncio.run(run_async()))

    def mock(request: Any) -> Any:
        if b'"stream":true' in request.content.replace(b" ", b""):
            return httpx2.Response(
                200, content=STREAM, headers={"Content-Type": "text/event-stream"}
            )
        return httpx2.Response(
            200, content=COMPLETION, headers={"Content-Type": "application/json"}
        )

    transport = httpx2.MockTransport(mock)
    mplain = openai.OpenAI(
        api_key="sk",
        base_url=url + "/v1",
        max_retries=0,
        http_client=openai.DefaultHttpxClient(transport=transport),
    )
    mwrapped = costobs.wrap(
        openai.OpenAI(
            api_key="sk",
            base_url=url + "/v1",
            max_retries=0,
            http_client=openai.DefaultHttpxClient(transport=transport),
        ),
        team="bench",
    )
    print(f"\nin-process transport (no sockets), {args.calls} interleaved calls each:")
    results["sync_inprocess"] = _report(
        "sync chat.completions", *_interleave(args.calls, call(mplain), call(mwrapped))
    )
    results["stream_inprocess"] = _report(
        "streamed chat (4 chunks)", *_interleave(args.calls, stream(mplain), stream(mwrapped))
    )

    print("\nSDK hot path alone (real adapter around an instant provider method), µs per call:")
    results["hot_path"] = _hot_path(costobs, openai)

    delivered = costobs.flush(10)
    stats = costobs.stats()
    print("(the hot-path section floods the bounded queue on purpose: queue_full drops expected)")
    print(
        f"\nshipped: {stats.sent} events, dropped {stats.dropped or 'none'}, "
        f"all delivered: {delivered}"
    )
    costobs.shutdown(2)
    assert server.stdin is not None
    server.stdin.close()
    server.wait(10)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
