"""Background shipping: bounded queue → batches → gzip POST → retries → counted drops.

Delivery guarantee: at least once from the SDK's side. A batch keeps its ``batch_id`` on
every retry and each event keeps its ``request_id``, so the ingest stores it exactly once.
Memory is bounded twice: ``max_queue_events`` calls waiting to be serialised (the hot path
only appends to a deque) and ``max_buffer_bytes`` of serialised events waiting to be sent.
What does not fit, is refused by the ingest, or outlives its retries is dropped and counted
by reason (``costobs.stats().dropped``). No thread exists before the first event; after
``fork`` the child starts empty with a fresh lock and a thread of its own on first use.

Recovery: while a batch waits to be retried the worker keeps serialising new events (the
queue does not fill behind a sleeping thread), and while more than one batch waits it probes
the ingest every ``PROBE_S`` (``PROBE_DROPPING_S`` once events are being dropped) instead of
waiting out a long backoff; a ``Retry-After`` still sets the floor. The first success sends
the backlog back to back. Only waits of the full backoff count towards ``max_retries``.
With ``spill_dir`` set (``_spill``), batches that cannot be sent go to disk instead of being
dropped: those waiting while the ingest is down, those past their retries, and what is still
in memory at shutdown; they are sent, oldest first, once the ingest answers again.
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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from costobs import _config, _spill
from costobs._event import Call, price, to_wire
from costobs._guard import report
from costobs._stats import COUNTERS, Stats
from costobs._version import VERSION

if TYPE_CHECKING:
    import http.client

logger = logging.getLogger("costobs")

_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
PROBE_S = 0.5
"""Longest wait between attempts while more than one batch is waiting."""
PROBE_DROPPING_S = 0.1
"""... and once events were dropped (queue or buffer full) since the last accepted batch."""
_SPILL_RECHECK_S = 1.0
STASH_GRACE_S = 3.0
"""With a spill: how much longer than ``shutdown_timeout`` exit may take to write what is
left in memory to disk (serialising it first)."""


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
        self._dropping = False
        self._spilling = 0
        self._spill: _spill.Spill | None = None
        self._spill_key: tuple[str, int] | None = None
        self._next_spill_check = 0.0

    # -- hot path -------------------------------------------------------------------------
    def submit(self, call: Call) -> None:
        settings = _config.current()
        with self._cond:
            if self._closed:
                COUNTERS.drop("shutdown")
                return
            if len(self._queue) >= settings.max_queue_events:
                COUNTERS.drop("queue_full")
                if not self._dropping:  # a waiting worker probes sooner from now on
                    self._dropping = True
                    self._cond.notify_all()
                return
            self._queue.append(call)
            if self._first_at is None:
                self._first_at = time.monotonic()
            if self._thread is None:
                self._start_thread()
            elif len(self._queue) == settings.max_batch_events:
                self._cond.notify_all()

    def _start_thread(self) -> None:
        self._thread = threading.Thread(target=self._run, name="costobs-shipper", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Start shipping now (not on the first event): a spill dir may hold earlier batches."""
        with self._cond:
            if self._thread is None and not self._closed:
                self._start_thread()
            self._cond.notify_all()

    # -- control --------------------------------------------------------------------------
    def _in_memory(self) -> int:
        return len(self._queue) + self._taken + len(self._buffer) + self._inflight + self._spilling

    def pending(self) -> int:
        """Events not yet accepted by the ingest: in memory, and spilled to disk."""
        spill = self._spill_for(_config.current())  # not only once the worker looked
        return self._in_memory() + (spill.pending_events() if spill is not None else 0)

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
            if thread.is_alive() and self._spill is not None:
                thread.join(STASH_GRACE_S)  # writing the rest to disk is quick; losing it is not
        with self._cond:
            left = self._in_memory()
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
            spill = self._spill_for(settings)
            with self._cond:
                while True:
                    waiting = len(self._queue) + len(self._buffer)
                    spill_due = self._spill_due(spill)
                    if self._stopping and (not (waiting or spill_due) or self._past_deadline()):
                        break
                    if waiting or spill_due:
                        age = time.monotonic() - (self._first_at or 0.0)
                        if (
                            self._stopping
                            or self._flush_requests
                            or spill_due
                            or waiting >= settings.max_batch_events
                            or age >= settings.flush_interval
                        ):
                            break
                        self._cond.wait(settings.flush_interval - age)
                    else:
                        self._cond.wait(_SPILL_RECHECK_S if spill is not None else None)
                stop = self._stopping and (not (waiting or spill_due) or self._past_deadline())
                calls = list(self._queue)
                self._queue.clear()
                self._taken = len(calls)
                self._first_at = None
            try:
                self._serialise(calls, settings)
                if stop or (not self._send_buffer(settings) and self._stopping):
                    self._stash(settings)  # the ingest is unreachable: keep the rest on disk
                    return
            except Exception as exc:  # a bug here must not kill shipping for good
                _worker_report(exc)
            finally:
                with self._cond:
                    self._cond.notify_all()

    def _spill_for(self, settings: _config.Settings) -> _spill.Spill | None:
        if not settings.spill_dir or not _spill.AVAILABLE:
            return None
        key = (settings.spill_dir, settings.spill_max_bytes)
        if self._spill is None or self._spill_key != key:
            try:
                self._spill = _spill.Spill(*key)
            except OSError as exc:
                _worker_report(exc)
                return None
            self._spill_key = key
            self._next_spill_check = 0.0
        return self._spill

    def _spill_due(self, spill: _spill.Spill | None) -> bool:
        """Spilled batches wait and no recent look found them all locked by others."""
        return (
            spill is not None
            and time.monotonic() >= self._next_spill_check
            and spill.pending_events() > 0
        )

    def _stash(self, settings: _config.Settings) -> None:
        """Stopping: what is still in memory goes to the spill (when there is one)."""
        spill = self._spill_for(settings)
        if spill is not None:
            self._housekeep(settings)
            self._spill_memory(spill, settings, everything=True)

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
                self._dropping = True
                return
            self._buffer.append(data)
            self._buffer_bytes += len(data)

    def _take_batch(self, settings: _config.Settings) -> list[bytes]:
        """The next batch's events from the buffer (call with the lock held)."""
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
        return items

    def _send_buffer(self, settings: _config.Settings) -> bool:
        """Spilled batches (oldest first), then the buffer; False if the ingest stayed down."""
        spill = self._spill_for(settings)
        while True:
            if self._past_deadline():
                return True
            if spill is not None and self._spill_due(spill):
                claimed = spill.claim_oldest()
                if claimed is None:  # all locked by other processes sending them
                    self._next_spill_check = time.monotonic() + _SPILL_RECHECK_S
                else:
                    if not self._send_spilled(claimed, settings):
                        return False
                    continue
            with self._cond:
                items = self._take_batch(settings)
                if not items:
                    return True
                self._inflight = len(items)
            try:
                if not self._send_batch(items, settings):
                    return False
            finally:
                with self._cond:
                    self._inflight = 0
                    self._cond.notify_all()

    def _send_batch(self, items: list[bytes], settings: _config.Settings) -> bool:
        """Send one batch to a final answer; False if it went to the spill or was dropped
        because the ingest stayed unreachable."""
        if not settings.api_key:
            COUNTERS.drop("no_api_key", len(items))
            logger.warning("costobs: no api_key configured (COSTOBS_API_KEY); events dropped")
            return True
        body = _request_body(str(uuid.uuid4()), items)
        wire = gzip.compress(body, compresslevel=5) if settings.gzip else body
        status, answer, gave_up = self._deliver(wire, settings)
        if status is None:
            spill = self._spill_for(settings)
            if spill is None:
                COUNTERS.drop(gave_up, len(items))
            else:
                self._put(spill, wire if settings.gzip else gzip.compress(body, 5), len(items))
            return False
        self._answered(status, answer, lambda: items, settings)
        return True

    def _send_spilled(self, claimed: _spill.Claimed, settings: _config.Settings) -> bool:
        """One spilled batch, with the batch_id it was given; deleted only once answered."""
        wire = claimed.body if settings.gzip else gzip.decompress(claimed.body)
        status, answer, _ = self._deliver(wire, settings)
        if status is None:
            claimed.release()
            return False
        try:
            self._answered(status, answer, lambda: _events_of(claimed.body), settings)
        finally:
            claimed.done()
        return True

    def _answered(
        self,
        status: int,
        answer: bytes,
        items: Callable[[], list[bytes]],
        settings: _config.Settings,
    ) -> None:
        """A final answer: accepted, split on 413, or refused for good (counted)."""
        if status in (200, 201, 202):
            self._accepted(answer, len(items()))
            return
        events = items()
        if status == 413 and len(events) > 1:
            half = len(events) // 2
            self._send_batch(events[:half], settings)
            self._send_batch(events[half:], settings)
            return
        reason = {401: "unauthorized", 403: "unauthorized", 413: "too_large"}.get(
            status, "bad_request" if status == 400 else f"http_{status}"
        )
        logger.warning("costobs: ingest answered %s; %d events dropped", status, len(events))
        COUNTERS.drop(reason, len(events))

    def _deliver(self, wire: bytes, settings: _config.Settings) -> tuple[int | None, bytes, str]:
        """POST until the ingest gives a final answer: (status, body, ""), or
        (None, b"", why) when giving up (retries exhausted, or stopping)."""
        retries = 0
        due = 0.0  # when the next retry of the full backoff is due; probes may come sooner
        spill = self._spill_for(settings)
        while True:
            status, retry_after, answer = self._post(wire, settings)
            if status is not None and status not in _RETRY_STATUSES:
                return status, answer, ""
            now = time.monotonic()
            if now >= due:  # this attempt was a retry step, not a probe
                if retries >= settings.max_retries:
                    return None, b"", "retries_exhausted"
                due = now + backoff_delay(
                    retries, settings.backoff_base, settings.backoff_max, retry_after
                )
                retries += 1
            if self._stopping and spill is not None:
                return None, b"", "shutdown"  # no time to wait: the spill keeps it
            floor = min(retry_after, settings.backoff_max) if retry_after is not None else 0.0
            COUNTERS.add("retried")
            if not self._pause(due, floor, settings):
                return None, b"", "shutdown"  # stopping and out of time

    def _backlog(self, settings: _config.Settings) -> bool:
        """More than one batch waits (or events are being dropped): worth probing sooner."""
        if self._dropping or len(self._queue) + len(self._buffer) > settings.max_batch_events:
            return True
        spill = self._spill
        return spill is not None and spill.pending_events() > 0

    def _pause(self, due: float, floor: float, settings: _config.Settings) -> bool:
        """Wait for the next attempt: until ``due``, or a probe interval (at least ``floor``)
        once a backlog waits. Meanwhile new events are serialised (and spilled), so the
        queue does not fill behind this wait. False when stopping ran out of time."""
        start = time.monotonic()
        while True:
            self._housekeep(settings)
            with self._cond:
                now = time.monotonic()
                if self._past_deadline():
                    return False
                end = due
                if self._backlog(settings):
                    probe = PROBE_DROPPING_S if self._dropping else PROBE_S
                    end = min(due, start + max(probe, floor))
                if now >= end:
                    return True
                limit = min(end, now + settings.flush_interval)
                if self._stopping:
                    limit = min(limit, self._stop_deadline)
                if len(self._queue) < settings.max_batch_events:
                    self._cond.wait(max(0.0, limit - now))

    def _housekeep(self, settings: _config.Settings) -> None:
        """While waiting to retry: serialise what was queued; spill full batches."""
        with self._cond:
            calls = list(self._queue)
            self._queue.clear()
            self._taken = len(calls)
            self._first_at = None
        if calls:
            self._serialise(calls, settings)
        spill = self._spill_for(settings)
        if spill is not None:
            self._spill_memory(spill, settings, everything=False)

    def _spill_memory(
        self, spill: _spill.Spill, settings: _config.Settings, everything: bool
    ) -> None:
        """Move buffered events to disk: full batches, or ``everything`` (stopping)."""
        while True:
            with self._cond:
                full = len(self._buffer) >= settings.max_batch_events or (
                    self._buffer_bytes >= settings.max_batch_bytes
                )
                if not (full or everything):
                    return
                items = self._take_batch(settings)
                if not items:
                    return
                self._spilling += len(items)
            try:
                body = _request_body(str(uuid.uuid4()), items)
                self._put(spill, gzip.compress(body, compresslevel=5), len(items))
            finally:
                with self._cond:
                    self._spilling -= len(items)

    def _put(self, spill: _spill.Spill, body_gz: bytes, events: int) -> None:
        try:
            stored = spill.put(body_gz, events)
        except OSError as exc:  # disk full, directory gone: counted, never raised
            logger.warning("costobs: could not spill %d events: %r", events, exc)
            stored = False
        if stored:
            COUNTERS.add("spilled", events)
        else:
            COUNTERS.drop("spill_full", events)

    def _accepted(self, answer: bytes, count: int) -> None:
        self._dropping = False  # "dropping" means: since the last batch the ingest took
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


def _request_body(batch_id: str, items: list[bytes]) -> bytes:
    return b'{"batch_id":"' + batch_id.encode() + b'","events":[' + b",".join(items) + b"]}"


def _events_of(body_gz: bytes) -> list[bytes]:
    """A spilled batch's events, each serialised again (for a 413 split)."""
    events = json.loads(gzip.decompress(body_gz))["events"]
    return [json.dumps(e, separators=(",", ":"), ensure_ascii=False).encode() for e in events]


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


def resume_spilled(spill_dir: str) -> None:
    """Batches left in ``spill_dir`` by an earlier process: start sending them now."""
    try:
        names = os.listdir(spill_dir)
    except OSError:
        return
    if not _spill.AVAILABLE:
        logger.warning("costobs: spill_dir needs fcntl (POSIX); the spill is off")
    elif any(n.endswith(_spill.SUFFIX) for n in names):
        get().wake()


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
