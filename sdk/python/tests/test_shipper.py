"""Shipping against a loopback receiver: batching, gzip, retries, Retry-After, drops."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

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
        flush_interval=5,
        max_batch_events=3,  # one batch of the three, however slowly they are recorded
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


# -- recovery after an outage, and the on-disk spill ------------------------------------------


def _produce(rate: int, seconds: float, on_tick: Callable[[], None] | None = None) -> None:
    """``rate`` events/s in real time, in 10 ms ticks, as a busy application records them."""
    per_tick = rate // 100
    start = time.monotonic()
    for tick in range(int(seconds * 100)):
        _record(per_tick)
        if on_tick is not None:
            on_tick()
        time.sleep(max(0.0, start + (tick + 1) / 100 - time.monotonic()))


def _dropped() -> int:
    return costobs.stats().dropped_total


def test_after_an_outage_the_backlog_drains_at_once_and_nothing_is_dropped(
    receiver: Receiver,
) -> None:
    """The finding: 15 s of outage at 1,000 events/s dropped ~11,500 events *after* the
    ingest was back, because the worker slept out a long backoff behind a full queue.
    Scaled down (5 s outage, small queue and buffer, the default backoff of 0.5 s → 30 s):
    drops are allowed while the ingest is down, none once it answers again."""
    costobs.configure(
        ingest_url=receiver.url,
        api_key="test-key",
        flush_interval=0.05,
        max_queue_events=1000,
        max_buffer_bytes=300_000,
        backoff_base=0.5,
        backoff_max=30.0,
        max_retries=8,
    )
    receiver.down = True
    _produce(1000, 5.0)
    dropped_while_down = _dropped()
    assert dropped_while_down > 0  # the outage is long enough to overflow queue and buffer
    receiver.down = False
    back = time.monotonic()
    at_first_success: list[int] = []
    backlog_at_recovery = costobs.stats().queued
    cleared_after: list[float] = []

    def note() -> None:
        if receiver.accepted_at and not at_first_success:
            at_first_success.append(_dropped())
        if at_first_success and not cleared_after and costobs.stats().queued < 300:
            cleared_after.append(time.monotonic() - back)

    _produce(1000, 3.0, note)
    assert receiver.accepted_at, "nothing was accepted after the ingest came back"
    first_ok = receiver.accepted_at[0] - back
    assert costobs.flush(10)
    stats = costobs.stats()
    print(
        f"first 202 {first_ok * 1000:.0f} ms after recovery; dropped while down "
        f"{dropped_while_down}, between recovery and first 202 "
        f"{at_first_success[0] - dropped_while_down}, after it "
        f"{stats.dropped_total - at_first_success[0]}; sent {stats.sent}; backlog of "
        f"{backlog_at_recovery} sent within {(cleared_after or [float('nan')])[0] * 1000:.0f} ms"
    )
    assert first_ok < 0.5  # probed within PROBE_DROPPING_S, not a 30 s backoff
    assert at_first_success[0] - dropped_while_down <= 200  # the probe gap, at most ~0.1 s
    assert stats.dropped_total == at_first_success[0]  # none once the ingest answered again
    assert stats.sent + stats.dropped_total == 8000
    assert cleared_after and cleared_after[0] < 1.0  # the backlog went out back to back


def _spill_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.batch"))


def _disk_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.iterdir() if p.is_file())


def _produce_fast(count: int, directory: Path, limit: int) -> int:
    """``count`` events as fast as the worker takes them (no real time); returns the
    largest on-disk size seen meanwhile."""
    shipper = _shipper.get()
    largest = 0
    for start in range(0, count, 1000):
        _record(min(1000, count - start))
        while len(shipper._queue) > 4000:  # back-pressure instead of wall-clock pacing
            time.sleep(0.002)
        if start % 20_000 == 0:
            largest = max(largest, _disk_bytes(directory))
            assert largest <= limit
    return largest


SPILL_TEST_EVENTS = int(os.environ.get("COSTOBS_TEST_SPILL_EVENTS", "60000"))


def test_spill_rides_out_an_outage_with_no_drops_and_sends_each_event_once(
    tmp_path: Path,
) -> None:
    """A long outage at 1,000 events/s (SPILL_TEST_EVENTS events = that many seconds of it,
    generated fast; bench/sdk_spill.py runs the full 10 minutes = 600,000), spilled gzipped
    under the size limit, then the ingest comes back: every event arrives exactly once."""
    receiver = Receiver(validate=False)
    limit = 64 * 1024 * 1024
    try:
        costobs.configure(
            ingest_url=receiver.url,
            api_key="test-key",
            flush_interval=0.05,
            max_batch_events=1000,
            spill_dir=str(tmp_path / "spill"),
            spill_max_bytes=limit,
        )
        receiver.down = True
        largest = _produce_fast(SPILL_TEST_EVENTS, tmp_path / "spill", limit)
        deadline = time.monotonic() + 30
        while costobs.stats().spilled < SPILL_TEST_EVENTS - 1000:
            assert time.monotonic() < deadline, costobs.stats()
            time.sleep(0.05)
        on_disk = _disk_bytes(tmp_path / "spill")
        stats = costobs.stats()
        assert stats.dropped == {} and stats.queued == SPILL_TEST_EVENTS
        assert on_disk <= limit and not list((tmp_path / "spill").glob(".*.tmp"))
        receiver.down = False
        t0 = time.monotonic()
        assert costobs.flush(60), costobs.stats()
        drained = time.monotonic() - t0
        print(
            f"{SPILL_TEST_EVENTS} events spilled into {max(largest, on_disk) / 1e6:.1f} MB, "
            f"sent {SPILL_TEST_EVENTS / drained:,.0f} events/s once the ingest was back"
        )
        assert len(receiver.stored) == SPILL_TEST_EVENTS
        assert receiver.received == SPILL_TEST_EVENTS  # exactly once: nothing sent twice
        assert costobs.stats().dropped == {}
        assert _spill_files(tmp_path / "spill") == []  # deleted once accepted
    finally:
        _shipper.shutdown(1.0)
        receiver.close()


def test_spill_is_bounded_and_counts_what_does_not_fit(receiver: Receiver, tmp_path: Path) -> None:
    limit = 40_000
    costobs.configure(
        ingest_url=receiver.url,
        api_key="test-key",
        flush_interval=0.01,
        max_batch_events=100,
        spill_dir=str(tmp_path),
        spill_max_bytes=limit,
    )
    receiver.down = True
    _record(3000)
    deadline = time.monotonic() + 20
    while costobs.stats().spilled + costobs.stats().dropped.get("spill_full", 0) < 2900:
        assert time.monotonic() < deadline, costobs.stats()
        time.sleep(0.02)
    assert _disk_bytes(tmp_path) <= limit
    stats = costobs.stats()
    assert stats.dropped.get("spill_full", 0) > 0 and stats.spilled > 0
    receiver.down = False
    assert costobs.flush(10)
    stats = costobs.stats()
    assert stats.sent + stats.dropped_total == 3000
    assert len(receiver.stored) == stats.sent and receiver.received == stats.sent


def _gz_batch_ids(directory: Path) -> list[str]:
    return [
        json.loads(gzip.decompress(p.read_bytes()))["batch_id"] for p in _spill_files(directory)
    ]


_CHILD = """
import sys, costobs
costobs.configure()  # everything from COSTOBS_* variables
for i in range(int(sys.argv[1])):
    costobs.record(provider="deepgram", model="nova-3", operation="audio", audio_seconds="1")
costobs.flush(float(sys.argv[2]))
costobs.shutdown()  # as at exit: what is still unsent goes to the spill
print(costobs.stats())
"""


def _child(receiver: Receiver, spill: Path, events: int, flush_s: float) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSTOBS_")}
    env |= {
        "COSTOBS_INGEST_URL": receiver.url,
        "COSTOBS_API_KEY": "test-key",
        "COSTOBS_SPILL_DIR": str(spill),
        "COSTOBS_FLUSH_INTERVAL": "0.02",
        "COSTOBS_MAX_BATCH_EVENTS": "50",
        "COSTOBS_SHUTDOWN_TIMEOUT": "0.5",
    }
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(events), str(flush_s)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_spilled_batches_survive_the_process_and_keep_their_batch_id(
    receiver: Receiver, tmp_path: Path
) -> None:
    """A process exits while the ingest is down: what it could not send is on disk (written
    atomically), and the next process using the same spill_dir sends it, same batch_ids,
    without recording anything itself."""
    spill = tmp_path / "spill"
    receiver.down = True
    out, _ = _child(receiver, spill, 500, 0.3).communicate(timeout=60)
    assert "spilled=500" in out and "dropped={}" in out, out
    ids = _gz_batch_ids(spill)
    assert len(ids) == 10 and not list(spill.glob(".*.tmp"))
    (spill / ".00000000000000000001-7-1-1.tmp").write_bytes(b"half a batch")  # a crashed write
    receiver.down = False
    costobs.configure(ingest_url=receiver.url, api_key="test-key", spill_dir=str(spill))
    deadline = time.monotonic() + 10
    while len(receiver.stored) < 500:
        assert time.monotonic() < deadline, costobs.stats()
        time.sleep(0.02)
    assert costobs.flush(10)  # the last 202 is in: wait for its file to be deleted too
    assert sorted(b["batch_id"] for b in receiver.batches) == sorted(ids)
    assert receiver.received == 500 and _spill_files(spill) == []


@pytest.mark.slow  # four processes spilling and draining one directory (~20 s)
def test_processes_sharing_a_spill_dir_never_send_a_batch_twice(
    receiver: Receiver, tmp_path: Path
) -> None:
    spill = tmp_path / "spill"
    receiver.down = True
    out, _ = _child(receiver, spill, 2000, 0.3).communicate(timeout=60)
    assert "spilled=2000" in out, out
    ids = _gz_batch_ids(spill)
    receiver.down = False
    receiver.delay = 0.01  # slow answers: the senders overlap on the same files
    senders = [_child(receiver, spill, 0, 20) for _ in range(3)]
    costobs.configure(ingest_url=receiver.url, api_key="test-key", spill_dir=str(spill))
    for p in senders:
        p.communicate(timeout=60)
    assert costobs.flush(20)
    sent_ids = [b["batch_id"] for b in receiver.batches]
    assert sorted(sent_ids) == sorted(ids)  # each spilled batch exactly once
    assert receiver.received == 2000 and len(receiver.stored) == 2000


def test_spill_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from costobs import _config

    monkeypatch.setenv("COSTOBS_SPILL_DIR", "/var/tmp/costobs-spill")
    monkeypatch.setenv("COSTOBS_SPILL_MAX_BYTES", "1048576")
    settings = _config.resolve()
    assert (settings.spill_dir, settings.spill_max_bytes) == ("/var/tmp/costobs-spill", 1048576)
    monkeypatch.setenv("COSTOBS_SPILL_MAX_BYTES", "lots")
    with pytest.raises(costobs.ConfigError, match="COSTOBS_SPILL_MAX_BYTES"):
        _config.resolve()
