"""A loopback HTTP server for tests: records every request and answers with a handler.

Used as a webhook/Slack receiver by the alert tests and as fake provider admin APIs by the
billing tests. Binds 127.0.0.1 on a free port only."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return orjson.loads(self.body)


Reply = tuple[int, dict[str, str], bytes]
Handler = Callable[[Request], Reply]


def ok(_: Request) -> Reply:
    return 200, {}, b"ok"


def json_reply(status: int, body: Any, headers: dict[str, str] | None = None) -> Reply:
    text = body if isinstance(body, bytes) else orjson.dumps(body)
    return status, {"Content-Type": "application/json", **(headers or {})}, text


@dataclass
class FakeServer:
    handler: Handler = ok
    requests: list[Request] = field(default_factory=list)
    url: str = ""

    def wait_for(self, count: int, within: float = 5.0) -> list[Request]:
        deadline = time.monotonic() + within
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.requests)} requests within {within}s, not {count}")
            time.sleep(0.01)
        return self.requests


@contextmanager
def fake_server(handler: Handler = ok) -> Iterator[FakeServer]:
    fake = FakeServer(handler)

    class _Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            parts = urlsplit(self.path)
            request = Request(
                self.command,
                parts.path,
                parse_qs(parts.query),
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length) if length else b"",
                time.monotonic(),
            )
            fake.requests.append(request)
            status, headers, body = fake.handler(request)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _serve

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
