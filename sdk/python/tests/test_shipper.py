"""Shipping against a loopback receiver: batching, gzip, retries, Retry-After, drops."""

from __future__ import annotations

import os
import threading
import time

import costobs
import pytest
from _fakes import Receiver, shipped
from costobs import _shipper


def _record(n: int, **kw: object) -> None:
    for i in range(n):
        costobs.record(
            provider="deepgram", model="nova-3", operation="audio", audio_seconds=f"{i}.5", **kw
        )


def test_no_thread_before_first_event_then_one_batch(receiver: Receiver) -> None:
    assert _shipper._shipper is None or _shipper._shipper._thread is None
    _record(3, customer_id="c1")
    events = shipped(receiver, 3)
    assert [b["headers"].get("Content-Encoding") for b in receiver.batches] == ["gzip"]
    assert sorted(e["usage"]["audio_seconds"] for e in events) == ["0.5", "1.5", "2.5"]
    for event in events:
        assert event["provider"] == "deepgram" and event["operation"] == "audio"
        assert event["customer_id"] == "c1" and event["sdk_language"] == "python"
        assert event["timestamp"].endswith("+00:00")
        assert "cost_usd" not in event or isinstance(event["cost_usd"], str)
    assert len({e["request_id"] for e in events}) == 3
    stats = costobs.stats()
    assert (stats.sent, stats.dropped, stats.queued, stats.batches) == (3, {}, 0, 1)


def test_batches_split_by_size(receiver: Receiver) -> None:
    costobs.configure(
        ingest_url=receiver.url, api_key="test-key", max_batch_events=10, flush_interval=5
    )
    _record(25)
    shipped(receiver, 25)
    assert sorted(len(b["events"]) for b in receiver.batches) == [5, 10, 10]


def test_retries_keep_batch_id_and_honour_retry_after(receiver: Receiver) -> None:
    receiver.script = [(503, {"Retry-After": "0.3"}), (429, {"Retry-After": "0"}), (500, {})]
    costobs.configure(
        ingest_url=receiver.url,
        api_key="test-key",
        flush_interval=0.05,
        backoff_base=0.01,
        backoff_max=1.0,
    )
    start = time.monotonic()
    _record(2)
    events = shipped(receiver, 2)
    assert time.monotonic() - start >= 0.3  # waited at least Retry-After
    assert len(receiver.batches) == 4
    assert len({b["batch_id"] for b in receiver.batches}) == 1
    assert {e["request_id"] for e in events} == {
        e["request_id"] for e in receiver.batches[0]["events"]
    }
    stats = costobs.stats()
    assert (stats.sent, stats.retried, stats.dropped) == (2, 3, {})


def test_transport_errors_are_retried_until_the_ingest_is_back() -> None:
    late = Receiver()
    port = late.port
    late.close()  # nothing listens on the port for now
    costobs.configure(
        ingest_url=f"http://127.0.0.1:{port}",
        api_key="test-key",
        flush_interval=0.01,
        backoff_base=0.05,
        backoff_max=0.1,
        max_retries=50,
    )
    t0 = time.perf_counter()
    _record(4)
    assert time.perf_counter() - t0 < 0.05  # the caller is never blocked by shipping
    time.sleep(0.3)
    assert costobs.stats().retried >= 1
    back = Receiver()
    back.server.server_close()
    from _fakes import _Server

    handler = back.server.RequestHandlerClass
    back.server = _Server(("127.0.0.1", port), handler)
    threading.Thread(target=back.server.serve_forever, daemon=True).start()
    try:
        assert costobs.flush(5.0)
        assert len(back.events) == 4
        assert costobs.stats().dropped == {}
    finally:
        back.close()


def test_retries_exhausted_are_counted(receiver: Receiver) -> None:
    costobs.configure(
        ingest_url=receiver.url,
        api_key="test-key",
        max_retries=2,
        backoff_base=0.01,
        flush_interval=0.01,
    )
    receiver.script = [(502, {})] * 3
    _record(3)
    assert costobs.flush(5.0)
    assert costobs.stats().dropped == {"retries_exhausted": 3}
    assert costobs.stats().retried == 2
    assert receiver.events == []


def test_unauthorized_and_rejections_are_dropped_with_reason(receiver: Receiver) -> None:
    costobs.configure(ingest_url=receiver.url, api_key="wrong", flush_interval=0.01)
    _record(2)
    assert costobs.flush(5.0)
    assert costobs.stats().dropped == {"unauthorized": 2}
    assert len(receiver.batches) == 0  # 401 is not retried


def test_413_splits_the_batch(receiver: Receiver) -> None:
    receiver.script = [(413, {})]
    _record(4)
    shipped(receiver, 4)
    assert [len(b["events"]) for b in receiver.batches] == [4, 2, 2]


def test_queue_bound_drops_new_events_and_counts_them(receiver: Receiver) -> None:
    costobs.configure(
        ingest_url=receiver.url,
        api_key="test-key",
        max_queue_events=5,
        flush_interval=60,
        max_batch_events=1000,
    )
    _record(8)
    stats = costobs.stats()
    assert stats.dropped == {"queue_full": 3}
    shipped(receiver, 5)


def test_buffer_bytes_bound(receiver: Receiver) -> None:
    costobs.configure(
        ingest_url=receiver.url, api_key="test-key", max_buffer_bytes=1200, flush_interval=0.01
    )
    receiver.script = [(503, {})] * 2
    _record(6)
    assert costobs.flush(5.0)
    stats = costobs.stats()
    assert stats.dropped.get("buffer_full", 0) >= 1
    assert stats.sent + stats.dropped["buffer_full"] == 6


def test_flush_times_out_and_shutdown_counts_what_is_left(receiver: Receiver) -> None:
    receiver.script = [(503, {"Retry-After": "30"})]
    costobs.configure(
        ingest_url=receiver.url, api_key="test-key", backoff_max=30, flush_interval=0.01
    )
    _record(3)
    t0 = time.monotonic()
    assert costobs.flush(0.3) is False
    assert 0.25 < time.monotonic() - t0 < 2
    assert costobs.shutdown(0.2) is False
    assert costobs.stats().dropped == {"shutdown": 3}
    _record(1)  # after shutdown a new shipper starts on first use
    assert costobs.flush(5.0), costobs.stats()
    assert len(receiver.events) == 1, (costobs.stats(), receiver.batches)


def test_no_api_key_drops_with_reason(receiver: Receiver) -> None:
    costobs.configure(ingest_url=receiver.url, api_key=None, flush_interval=0.01)
    _shipper.shutdown(0.1)
    from costobs import _config

    _config.set_current(
        _config.Settings(
            ingest_url=receiver.url,
            flush_interval=0.01,
            on_internal_error=_config.current().on_internal_error,
        )
    )
    _record(1)
    assert costobs.flush(2.0)
    assert costobs.stats().dropped == {"no_api_key": 1}


def test_backoff_and_retry_after_parsing() -> None:
    assert _shipper.parse_retry_after("2") == 2.0
    assert _shipper.parse_retry_after("garbage") is None
    assert 0 <= _shipper.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # type: ignore[operator]
    delays = [_shipper.backoff_delay(a, 0.5, 30, None) for a in range(8)]
    assert 0.25 <= delays[0] <= 0.5 and 15 <= delays[6] <= 30 and delays[7] <= 30
    assert _shipper.backoff_delay(0, 0.5, 30, 10) >= 10
    assert _shipper.backoff_delay(0, 0.5, 30, 999) <= 33


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_child_ships_its_own_events_only(receiver: Receiver) -> None:
    _record(1, feature="parent")
    assert costobs.flush(5.0)
    pid = os.fork()
    if pid == 0:  # child: a fresh shipper, a thread of its own
        code = 1
        try:
            _record(1, feature="child")
            code = 0 if costobs.flush(5.0) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert sorted(e["feature"] for e in shipped(receiver)) == ["child", "parent"]
