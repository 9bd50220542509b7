"""Loopback fakes: an ingest receiver and a scripted provider HTTP server (127.0.0.1 only)."""

from __future__ import annotations

import binascii
import gzip
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import costobs
import httpx


def _httpx_errors(name: str) -> tuple[type[BaseException], ...]:
    """``httpx.<name>`` and, where provider SDKs moved to it, ``httpx2.<name>``: the transport
    error a provider SDK lets through when a stream breaks, whichever HTTP library it uses."""
    found: list[type[BaseException]] = [getattr(httpx, name)]
    try:
        import httpx2  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # pragma: no cover - older provider SDKs use httpx only
        pass
    else:
        found.append(getattr(httpx2, name))
    return tuple(found)


BROKEN_STREAM = _httpx_errors("RemoteProtocolError")
"""What a stream cut off mid-body raises in the provider SDKs (the SDK re-raises it untouched)."""
READ_TIMEOUT = _httpx_errors("ReadTimeout")


def _wire_validator() -> Callable[[Any], Any] | None:
    """The real wire contract (costobs_server.wire), whichever shape it has today."""
    try:
        from costobs_server import wire
    except ImportError:  # pragma: no cover
        return None
    if hasattr(wire, "validate_event"):
        return wire.validate_event  # type: ignore[no-any-return]
    return wire.Event.model_validate  # type: ignore[no-any-return]


validate_wire_event = _wire_validator()


@dataclass
class Reply:
    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    abort: bool = False
    """Stream the chunks, then drop the connection without finishing the body."""


def json_reply(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(
        status, json.dumps(obj).encode(), {"Content-Type": "application/json", **(headers or {})}
    )


def sse(events: Iterable[tuple[str | None, Any]]) -> list[bytes]:
    """SSE frames: (event name or None, data object or raw string)."""
    frames = []
    for name, data in events:
        text = data if isinstance(data, str) else json.dumps(data)
        frames.append(((f"event: {name}\n" if name else "") + f"data: {text}\n\n").encode())
    return frames


def sse_reply(events: Iterable[tuple[str | None, Any]], abort: bool = False) -> Reply:
    return Reply(200, sse(events), {"Content-Type": "text/event-stream"}, abort)


def eventstream_message(event_type: str, payload: Any) -> bytes:
    """One AWS event-stream message (binary framing with CRCs), as ConverseStream sends."""
    headers = b""
    for name, value in (
        (":event-type", event_type),
        (":content-type", "application/json"),
        (":message-type", "event"),
    ):
        raw = value.encode()
        headers += bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(raw)) + raw
    body = json.dumps(payload).encode()
    total = 12 + len(headers) + len(body) + 4
    prelude = struct.pack(">II", total, len(headers))
    prelude += struct.pack(">I", binascii.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + headers + body
    return message + struct.pack(">I", binascii.crc32(message) & 0xFFFFFFFF)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeProvider:
    """Answers each request with ``handler(method, path, body) -> Reply``; records requests."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.replies: list[Reply] = []
        self.handler: Callable[[str, str, bytes], Reply] | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": body,
                    }
                )
                if outer.handler is not None:
                    reply = outer.handler(self.command, self.path, body)
                elif outer.replies:
                    reply = outer.replies.pop(0)
                else:
                    reply = Reply(500, b'{"error": "no scripted reply"}')
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                if isinstance(reply.body, bytes) and not reply.abort:
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                    return
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunks = [reply.body] if isinstance(reply.body, bytes) else reply.body
                try:
                    for chunk in chunks:
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                        self.wfile.flush()
                    if reply.abort:
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                        return
                    self.wfile.write(b"0\r\n\r\n")
                except ConnectionError:  # the client closed a stream early (tested)
                    self.close_connection = True

            do_POST = do_GET = _any

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def json_body(self, index: int = -1) -> Any:
        return json.loads(self.requests[index]["body"])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Receiver:
    """A fake ``POST /v1/events``: scripted statuses, dedup by request_id, wire validation."""

    def __init__(self, api_key: str = "test-key", validate: bool = True) -> None:
        self.api_key = api_key
        self.validate = validate
        self.down = False
        """True: answer every batch 503 (an ingest outage), storing nothing."""
        self.accepted_at: list[float] = []
        """monotonic time of each 2xx answer"""
        self.received = 0
        """events in batches answered 2xx, re-sends included (exactly once: == len(stored))"""
        self.lock = threading.Lock()
        self.batches: list[dict[str, Any]] = []
        self.script: list[tuple[int, dict[str, str]]] = []
        self.stored: dict[str, dict[str, Any]] = {}
        self.invalid: list[str] = []
        self.delay = 0.0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path != "/v1/events":
                    return self._send(404, {})
                if self.headers.get("Authorization") != f"Bearer {outer.api_key}":
                    return self._send(401, {"error": "bad key"})
                if outer.down:
                    return self._send(503, {"error": "ingest is down"})
                body = (
                    gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
                )
                batch = json.loads(body)
                with outer.lock:
                    outer.batches.append(
                        {
                            "batch_id": batch["batch_id"],
                            "events": batch["events"],
                            "headers": dict(self.headers),
                            "bytes": len(raw),
                        }
                    )
                    scripted = outer.script.pop(0) if outer.script else None
                if outer.delay:
                    time.sleep(outer.delay)
                if scripted is not None:
                    status, headers = scripted
                    return self._send(status, {"error": "scripted"}, headers)
                accepted = duplicates = 0
                rejected = []
                with outer.lock:
                    for index, event in enumerate(batch["events"]):
                        if outer.validate and validate_wire_event is not None:
                            try:
                                validate_wire_event(event)
                            except Exception as exc:
                                outer.invalid.append(str(exc))
                                rejected.append({"index": index, "error": str(exc)[:200]})
                                continue
                        if event["request_id"] in outer.stored:
                            duplicates += 1
                        else:
                            outer.stored[event["request_id"]] = event
                            accepted += 1
                    outer.received += len(batch["events"])
                    outer.accepted_at.append(time.monotonic())
                self._send(
                    202, {"accepted": accepted, "duplicates": duplicates, "rejected": rejected}
                )

            def _send(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    @property
    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.stored.values())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def shipped(receiver: Receiver, count: int | None = None) -> list[dict[str, Any]]:
    """Flush and return what the receiver stored (in arrival order)."""
    import gc

    gc.collect()
    assert costobs.flush(5.0)
    events = receiver.events
    if count is not None:
        assert len(events) == count, events
    return events
