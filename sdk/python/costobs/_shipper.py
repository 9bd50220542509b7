"""Background shipping: bounded queue → batches → gzip POST → retries → counted drops.

Delivery guarantee: at least once from the SDK's side. A batch keeps its ``batch_id`` on
every retry and each event keeps its ``request_id``, so the ingest stores it exactly once.
Memory is bounded twice: ``max_queue_events`` calls waiting to be serialised (the hot path
only appends to a deque) and ``max_buffer_bytes`` of serialised events waiting to be sent.
What does not fit, is refused by the ingest, or outlives its retries is dropped and counted
by reason (``costobs.stats().dropped``). No thread exists before the first event; after
``fork`` the child starts empty with a fresh lock and a thread of its own on first use.
"""

from __future__ import annotations

import atexit
import contextlib
import email.utils
import gzip
import json
import logging
import os
import random
import threading
import time
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from costobs import _config
from costobs._event import Call, price, to_wire
from costobs._guard import report
from costobs._stats import COUNTERS, Stats
from costobs._version import VERSION

if TYPE_CHECKING:
    import http.client

logger = logging.getLogger("costobs")

_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def _worker_report(exc: BaseException) -> None:
    with contextlib.suppress(BaseException):  # a re-raising debug hook must not kill the worker
        report(exc)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None) -> float:
    """Jittered exponential backoff (attempt 0 is the first retry); Retry-After is a floor."""
    ceiling = min(cap, base * (2.0**attempt))
    delay = ceiling * (0.5 + random.random() / 2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap) * (1 + random.random() / 10))
    return delay


class Shipper:
    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[Call] = deque()
        self._buffer: deque[bytes] = deque()
        self._buffer_bytes = 0
        self._inflight = 0
        self._taken = 0
        self._first_at: float | None = None
        self._flush_requests = 0
        self._closed = False
        self._stopping = False
        self._stop_deadline = 0.0
        self._thread: threading.Thread | None = None
        self._conn: http.client.HTTPConnection | None = None
        self._conn_key: tuple[str, str, int | None] | None = None

    # -- hot path -------------------------------------------------------------------------
    def submit(self, call: Call) -> None:
        settings = _config.current()
        with self._cond:
            if self._closed:
                COUNTERS.drop("shutdown")
                return
            if len(self._queue) >= settings.max_queue_events:
                COUNTERS.drop("queue_full")
                return
            self._queue.append(call)
            if self._first_at is None:
                self._first_at = time.monotonic()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="costobs-shipper", daemon=True
                )
                self._thread.start()
            elif len(self._queue) == settings.max_batch_events:
                self._cond.notify_all()

    # -- control --------------------------------------------------------------------------
    def pending(self) -> int:
        return len(self._queue) + self._taken + len(self._buffer) + self._inflight

    def flush(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            if not self.pending():
                return True
            self._flush_requests += 1
            self._cond.notify_all()
            try:
                while self.pending():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self._thread is None or not self._thread.is_alive():
                        break
                    self._cond.wait(remaining)
                return not self.pending()
            finally:
                self._flush_requests -= 1

    def shutdown(self, timeout: float) -> bool:
        """True when everything was delivered (or refused by the ingest) before ``timeout``."""
        dropped_before = COUNTERS.dropped["shutdown"]
        with self._cond:
            self._closed = True
            self._stopping = True
            self._stop_deadline = time.monotonic() + timeout
            thread = self._thread
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout + 0.5)
        with self._cond:
            left = self.pending()
            if left:
                COUNTERS.drop("shutdown", left)
                self._queue.clear()
                self._buffer.clear()
                self._buffer_bytes = 0
                self._inflight = 0
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        return COUNTERS.dropped["shutdown"] == dropped_before

    # -- worker ---------------------------------------------------------------------------
    def _past_deadline(self) -> bool:
        return self._stopping and time.monotonic() >= self._stop_deadline

    def _run(self) -> None:
        while True:
            settings = _config.current()
            with self._cond:
                while True:
                    waiting = len(self._queue) + len(self._buffer)
                    if self._stopping and (not waiting or self._past_deadline()):
                        return
                    if waiting:
                        age = time.monotonic() - (self._first_at or 0.0)
                        if (
                            self._stopping
                            or self._flush_requests
                            or waiting >= settings.max_batch_events
                            or age >= settings.flush_interval
                        ):
                            break
                        self._cond.wait(settings.flush_interval - age)
                    else:
                        self._cond.wait()
                calls = list(self._queue)
                self._queue.clear()
                self._taken = len(calls)
                self._first_at = None
            try:
                self._serialise(calls, settings)
                self._send_buffer(settings)
            except Exception as exc:  # a bug here must not kill shipping for good
                _worker_report(exc)
            with self._cond:
                self._cond.notify_all()

    def _serialise(self, calls: list[Call], settings: _config.Settings) -> None:
        try:
            for call in calls:
                self._serialise_one(call, settings)
        finally:
            with self._cond:
                self._taken = 0

    def _serialise_one(self, call: Call, settings: _config.Settings) -> None:
        data: bytes | None = None
        try:
            event = to_wire(call)
            try:
                price(event)
            except ImportError:
                pass  # no pricing engine importable: the writer prices on arrival
            except Exception as exc:
                _worker_report(exc)  # ships unpriced; the writer prices on arrival
            data = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
        except Exception as exc:
            COUNTERS.drop("serialise_error")
            _worker_report(exc)
        with self._cond:
            self._taken -= 1  # in the same critical section as the append: flush sees no gap
            if data is None:
                return
            if self._buffer_bytes + len(data) > settings.max_buffer_bytes:
                COUNTERS.drop("buffer_full")
                return
            self._buffer.append(data)
            self._buffer_bytes += len(data)

    def _send_buffer(self, settings: _config.Settings) -> None:
        while True:
            with self._cond:
                if not self._buffer:
                    return
                if self._past_deadline():
                    return
                items: list[bytes] = []
                size = 0
                while self._buffer and len(items) < settings.max_batch_events:
                    nxt = len(self._buffer[0]) + 1
                    if items and size + nxt > settings.max_batch_bytes:
                        break
                    data = self._buffer.popleft()
                    items.append(data)
                    size += nxt
                    self._buffer_bytes -= len(data)
                self._inflight = len(items)
            try:
                self._send_batch(items, settings)
            finally:
                with self._cond:
                    self._inflight = 0
                    self._cond.notify_all()

    def _send_batch(self, items: list[bytes], settings: _config.Settings) -> None:
        if not settings.api_key:
            COUNTERS.drop("no_api_key", len(items))
            logger.warning("costobs: no api_key configured (COSTOBS_API_KEY); events dropped")
            return
        batch_id = str(uuid.uuid4())
        body = b'{"batch_id":"' + batch_id.encode() + b'","events":[' + b",".join(items) + b"]}"
        if settings.gzip:
            body = gzip.compress(body, compresslevel=5)
        attempt = 0
        while True:
            status, retry_after, answer = self._post(body, settings)
            if status in (200, 201, 202):
                self._accepted(answer, len(items))
                return
            if status == 413 and len(items) > 1:
                half = len(items) // 2
                self._send_batch(items[:half], settings)
                self._send_batch(items[half:], settings)
                return
            if status is not None and status not in _RETRY_STATUSES:
                reason = {401: "unauthorized", 403: "unauthorized", 413: "too_large"}.get(
                    status, "bad_request" if status == 400 else f"http_{status}"
                )
                logger.warning("costobs: ingest answered %s; %d events dropped", status, len(items))
                COUNTERS.drop(reason, len(items))
                return
            if attempt >= settings.max_retries:
                COUNTERS.drop("retries_exhausted", len(items))
                return
            delay = backoff_delay(attempt, settings.backoff_base, settings.backoff_max, retry_after)
            attempt += 1
            COUNTERS.add("retried")
            if not self._sleep(delay):
                COUNTERS.drop("shutdown", len(items))  # stopping and out of time
                return

    def _sleep(self, delay: float) -> bool:
        end = time.monotonic() + delay
        with self._cond:
            while True:
                now = time.monotonic()
                if self._past_deadline():
                    return False
                if now >= end:
                    return True
                limit = end if not self._stopping else min(end, self._stop_deadline)
                self._cond.wait(max(0.0, limit - now))

    def _accepted(self, answer: bytes, count: int) -> None:
        try:
            result: dict[str, Any] = json.loads(answer) if answer else {}
        except ValueError:
            result = {}
        accepted = int(result.get("accepted", count))
        duplicates = int(result.get("duplicates", 0))
        rejected = result.get("rejected") or []
        COUNTERS.add("sent", accepted + duplicates)
        COUNTERS.add("duplicates", duplicates)
        COUNTERS.add("batches")
        if rejected:
            COUNTERS.drop("rejected", len(rejected))
            logger.warning("costobs: ingest rejected %d event(s): %s", len(rejected), rejected[0])

    def _post(
        self, body: bytes, settings: _config.Settings
    ) -> tuple[int | None, float | None, bytes]:
        import http.client

        url = urlsplit(settings.ingest_url)
        key = (url.scheme, url.hostname or "", url.port)
        timeout = settings.request_timeout
        if self._stopping:
            timeout = max(0.05, min(timeout, self._stop_deadline - time.monotonic()))
        if self._conn is None or self._conn_key != key:
            if self._conn is not None:
                self._conn.close()
            cls = (
                http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
            )
            self._conn = cls(url.hostname or "", url.port, timeout=timeout)
            self._conn_key = key
        conn = self._conn
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        headers = {
            "Authorization": f"Bearer {settings.api_key}",
            "Content-Type": "application/json",
            "User-Agent": f"costobs-python/{VERSION}",
        }
        if settings.gzip:
            headers["Content-Encoding"] = "gzip"
        try:
            conn.request("POST", url.path.rstrip("/") + "/v1/events", body, headers)
            response = conn.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException) as exc:
            logger.debug("costobs: ingest unreachable: %r", exc)
            conn.close()
            return None, None, b""
        if response.getheader("Connection", "").lower() == "close":
            conn.close()
        return response.status, parse_retry_after(response.getheader("Retry-After")), answer


_lock = threading.Lock()
_shipper: Shipper | None = None
_atexit_registered = False


def get() -> Shipper:
    global _shipper, _atexit_registered
    shipper = _shipper
    if shipper is None:
        with _lock:
            if _shipper is None:
                _shipper = Shipper()
                if not _atexit_registered:
                    _atexit_registered = True
                    atexit.register(_drain_at_exit)
            shipper = _shipper
    return shipper


def submit(call: Call) -> None:
    (_shipper or get()).submit(call)


def flush(timeout: float = 5.0) -> bool:
    shipper = _shipper
    return True if shipper is None else shipper.flush(timeout)


def shutdown(timeout: float | None = None) -> bool:
    global _shipper
    from costobs import _pending

    _pending.release_all()  # background responses never retrieved: shipped without tokens
    with _lock:
        shipper, _shipper = _shipper, None
    if shipper is None:
        return True
    return shipper.shutdown(_config.current().shutdown_timeout if timeout is None else timeout)


def stats() -> Stats:
    shipper = _shipper
    return COUNTERS.snapshot(shipper.pending() if shipper else 0)


def _drain_at_exit() -> None:
    try:
        shutdown()
    except Exception as exc:
        logger.debug("costobs: drain at exit failed: %r", exc)


def _after_fork_in_child() -> None:
    # The parent keeps shipping what it queued; the child starts empty, with a new lock.
    global _shipper, _lock
    _shipper = None
    _lock = threading.Lock()
    from costobs import _pending

    _pending.forget()
    COUNTERS._lock = threading.Lock()  # a lock held by another thread at fork stays held
    _config._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
