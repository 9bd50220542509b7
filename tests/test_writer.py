"""The writer: pure re-pricing of messages, dead-lettering, retrying a failing insert, and
applying an org's price overrides."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from consumers.flush_log import FlushLog
from consumers.intake import BrokerIntake
from consumers.pricer import Pricer
from consumers.processor import PoisonMessage, merge, rows_from_message, transform
from consumers.writer import Writer
from costobs_server.broker import make_broker
from costobs_server.metadata.db import MetadataDB
from costobs_server.nats_server import NatsServer
from costobs_server.settings import load_settings
from costobs_server.store import EventStore, failures
from costobs_server.streams import (
    DLQ_STREAM,
    DLQ_SUBJECT,
    EVENTS_STREAM,
    ensure_streams,
    events_subject,
)
from costobs_server.wire import validate_event
from tests.helpers import Running, event, eventually, nats_client


@asynccontextmanager
async def started_writer(
    server: NatsServer, store: Any, intake: str = "faststream", **kw: Any
) -> AsyncIterator[tuple[Writer, asyncio.Task[None]]]:
    """A writer running as the writer role: as ``costobs`` runs it (its role's FastStream
    broker, ``BrokerIntake``) or on nats-py's pull subscription (``intake="nats-py"``, the
    bench's baseline). Stopped (flush, acks, broker) on exit."""
    broker = make_broker(load_settings(nats_url=server.url), "writer", auth=server.auth("writer"))
    nc = await broker.connect()
    source = BrokerIntake(broker) if intake == "faststream" else None
    writer = Writer(nc, store, Pricer(), intake=source, **kw)
    await broker.start()
    task = asyncio.create_task(writer.run())
    try:
        yield writer, task
    finally:
        writer.stop()
        await task
        await broker.stop()


def envelope(org: str, events: list[dict[str, Any]]) -> bytes:
    checked = [validate_event(e) for e in events]
    return orjson.dumps(
        {"org_id": org, "received_at": "2026-11-20T10:00:01.000+00:00", "events": checked}
    )


def test_message_becomes_rows_with_the_writers_exact_cost() -> None:
    e = event(
        0,
        usage={"input_tokens": 1000, "cached_input_tokens": 2000, "output_tokens": 500},
        cost_usd="9.99",
        pricing_version="sdk-1",
        tags={"pr": "7"},
    )
    rows = rows_from_message(envelope("acme", [e]), 42, Pricer())
    assert (rows.org_id, rows.request_ids, rows.unpriced) == ("acme", [e["request_id"]], 0)
    line = orjson.loads(rows.lines[0])
    # gpt-4o: input $2.50/M, cached input $1.25/M, output $10/M → 0.0025 + 0.0025 + 0.005
    assert line["cost_usd"] == "0.01"
    assert line["sdk_cost_usd"] == "9.99"  # the SDK's estimate is kept beside it
    assert line["sdk_pricing_version"] == "sdk-1"
    assert line["pricing_version"] == Pricer().table.version
    assert line["unpriced"] is False
    assert line["price_entry"]
    assert line["tags"] == {"pr": "7"}
    assert (line["input_tokens"], line["cached_input_tokens"]) == (1000, 2000)
    assert "usage" not in line and "schema_version" not in line
    assert line["timestamp"] == "2026-11-20T10:00:00+00:00"
    assert (line["org_id"], line["stream_seq"], line["status"]) == ("acme", 42, "ok")


def test_unknown_model_is_kept_at_zero_and_flagged() -> None:
    rows = rows_from_message(envelope("acme", [event(model="my-finetune-xyz")]), 1, Pricer())
    assert orjson.loads(rows.lines[0])["cost_usd"] == "0"
    assert orjson.loads(rows.lines[0])["unpriced"] is True
    assert rows.unpriced == 1


def test_gateway_and_cross_cloud_events_are_attributed_as_the_sdk_does() -> None:
    """An old SDK's ``openai_compatible`` event, a new SDK's gateway event and record()'s
    Bedrock profile all end up with the provider, cost and canonical model a direct call has."""
    usage = {"input_tokens": 2000, "output_tokens": 100}
    events = [
        event(0, provider="anthropic", model="claude-sonnet-4-5-20250929", usage=usage),
        event(1, provider="openai_compatible", model="claude-sonnet-4-5", usage=usage),
        event(
            2,
            provider="anthropic",
            model="anthropic/claude-sonnet-4-5",
            gateway_host="llm-gw.internal:4000",
            gateway="litellm",
            usage=usage,
        ),
        event(3, provider="bedrock", model="global.anthropic.claude-sonnet-4-5-20250929-v1:0"),
        event(4, provider="openai_compatible", model="in-house-llama", usage=usage),
    ]
    rows = rows_from_message(envelope("acme", events), 1, Pricer())
    lines = [orjson.loads(line) for line in rows.lines]
    assert [(r["provider"], r["canonical_model"]) for r in lines] == [
        ("anthropic", "claude-sonnet-4-5"),
        ("anthropic", "claude-sonnet-4-5"),
        ("anthropic", "claude-sonnet-4-5"),
        ("bedrock", "claude-sonnet-4-5"),
        ("openai_compatible", "in-house-llama"),
    ]
    assert {r["cost_usd"] for r in lines[:3]} == {"0.0075"}
    assert (lines[2]["gateway_host"], lines[2]["gateway"]) == ("llm-gw.internal:4000", "litellm")
    assert lines[4]["unpriced"] is True


@pytest.mark.parametrize("payload", [b"not json", b'{"org_id": "a"}', b'{"events": []}'])
def test_malformed_messages_are_poison(payload: bytes) -> None:
    with pytest.raises(PoisonMessage):
        rows_from_message(payload, 1, Pricer())


def test_repeats_inside_a_flush_are_dropped_across_messages() -> None:
    a, b = event(0), event(1)
    first = rows_from_message(envelope("o", [a, b, a]), 1, Pricer())
    second = rows_from_message(envelope("o", [b]), 2, Pricer())
    other_org = rows_from_message(envelope("p", [a]), 3, Pricer())
    merged = merge([first, second, other_org])
    assert (merged.rows, merged.repeats) == (3, 2)
    lines = [orjson.loads(x) for x in merged.block.split(b"\n")]
    assert [(x["org_id"], x["request_id"]) for x in lines] == [
        ("o", a["request_id"]),
        ("o", b["request_id"]),
        ("p", a["request_id"]),
    ]


def test_transform_reports_poison_per_message() -> None:
    good = envelope("o", [event(0)])
    out = transform([(good, 1), (b"{", 2)], Pricer())
    assert not isinstance(out[0], str) and out[0].request_ids
    assert isinstance(out[1], str) and "not an ingest envelope" in out[1]


@pytest.mark.parametrize("intake", ["faststream", "nats-py"])
async def test_poison_message_goes_to_dead_letter_after_n_deliveries(
    nats_server: NatsServer, store: EventStore, intake: str
) -> None:
    settings = load_settings(nats_url=nats_server.url, writer_ack_wait_s=60)
    nc = await nats_client(nats_server)
    js = nc.jetstream()
    await ensure_streams(js, settings)
    org = f"p{uuid.uuid4().hex[:8]}"
    ack = await js.publish(events_subject(org), b'{"org_id": "broken"')
    dlq = await js.subscribe(DLQ_SUBJECT, stream=DLQ_STREAM, ordered_consumer=True)
    try:
        async with started_writer(  # the writer's own, limited user
            nats_server,
            store,
            intake,
            flush_ms=50,
            max_deliveries=2,
            staging_table="events_staging_poison",
        ):
            while True:  # the DLQ may hold earlier tests' messages: find this one
                msg = await dlq.next_msg(timeout=30)
                if msg.headers and msg.headers.get("CostObs-Stream-Seq") == str(ack.seq):
                    break
        assert msg.data == b'{"org_id": "broken"'
        assert "not an ingest envelope" in msg.headers["CostObs-Reason"]
        assert msg.headers["CostObs-Deliveries"] == "2"
        assert msg.headers["CostObs-Subject"] == events_subject(org)
        assert msg.headers["CostObs-Stream"] == EVENTS_STREAM
        first = datetime.fromisoformat(msg.headers["CostObs-First-Failure"])
        last = datetime.fromisoformat(msg.headers["CostObs-Last-Failure"])
        assert first.tzinfo is not None and first < last  # two deliveries, 2 s backoff apart
    finally:
        await nc.close()


class FailingStore:
    """The real store, whose first ``failures`` inserts fail with ``error`` (as ClickHouse
    raises it), before any row is written."""

    def __init__(self, store: EventStore, failures: int, error: Exception) -> None:
        self.store, self.failures, self.error, self.calls = store, failures, error, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def _fail(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error

    def insert_events(self, block: bytes, token: str) -> None:
        self._fail()
        self.store.insert_events(block, token)


def clickhouse_error(code: int, name: str, text: str) -> DatabaseError:
    """An error as clickhouse-connect raises it from chDB or a server."""
    return DatabaseError(f"Code: {code}. DB::Exception: {text}. ({name})", code=code, name=name)


def count_events(store: EventStore, org: str) -> int:
    rows = store.query("SELECT count() FROM events WHERE org_id={o:String}", {"o": org})
    return int(rows[0][0])


async def run_writer(
    server: NatsServer, store: Any, org: str, messages: list[bytes], **kw: Any
) -> Writer:
    """A writer over ``store`` until it has written (and acked) ``messages``."""
    settings = load_settings(nats_url=server.url)
    nc = await nats_client(server)
    js = nc.jetstream()
    await ensure_streams(js, settings)
    for m in messages:
        await js.publish(events_subject(org), m)
    expected = sum(len(orjson.loads(m)["events"]) for m in messages)
    try:
        async with started_writer(
            server,
            store,
            flush_ms=50,
            staging_table=f"events_staging_{org}",
            retry_delay_s=0.05,
            **kw,
        ) as (writer, _):
            await eventually(
                lambda: writer.stats.inserted + writer.stats.duplicates >= expected, within=30
            )
            assert count_events(store, org) == expected
    finally:
        await nc.close()
    return writer


@pytest.mark.parametrize(
    "error",
    [
        ConnectionError("ClickHouse is down"),
        clickhouse_error(243, "NOT_ENOUGH_SPACE", "Cannot reserve 1.00 MiB, not enough space"),
        clickhouse_error(241, "MEMORY_LIMIT_EXCEEDED", "Memory limit (total) exceeded"),
    ],
    ids=["down", "disk-full", "memory"],
)
async def test_store_failures_pause_the_writer_and_never_dead_letter(
    nats_server: NatsServer, store: EventStore, error: Exception
) -> None:
    """Finding 1 of issue 11: NOT_ENOUGH_SPACE dead-lettered acknowledged events. Now any store
    failure (by ClickHouse code) is retried, past the dead-letter limit, until it succeeds."""
    org = f"f{uuid.uuid4().hex[:8]}"
    failing = FailingStore(store, failures=6, error=error)
    messages = [envelope(org, [event(0), event(1)]), envelope(org, [event(2)])]
    writer = await run_writer(nats_server, failing, org, messages, max_deliveries=2)
    assert failing.calls >= 7
    assert writer.stats.dead_lettered == 0
    assert count_events(store, org) == 3


def test_errors_are_classified_by_code_not_text() -> None:
    assert failures.error_code(clickhouse_error(243, "NOT_ENOUGH_SPACE", "x")) == 243
    chdb_text = RuntimeError("Code: 252. DB::Exception: Too many parts (300). (TOO_MANY_PARTS)")
    assert failures.error_code(chdb_text) == 252 and not failures.refused(chdb_text)
    refusal = DatabaseError("Code: 27. DB::Exception: Cannot parse input: expected '\"'")
    assert failures.refused(refusal)
    # a message mentioning a full disk is not classified by its words
    assert not failures.refused(DatabaseError("not enough space"))
    assert failures.error_code(DatabaseError("not enough space")) is None
    assert failures.describe(chdb_text) == "TOO_MANY_PARTS (252)"


async def test_org_discount_override_is_applied_by_the_writer(running: Running) -> None:
    org = running.org
    org.db.add_price_override(org.id, {"kind": "discount", "multiplier": "0.8"})
    r = await running.post([event(0, usage={"input_tokens": 1_000_000, "output_tokens": 0})])
    assert r.status_code == 202

    async def priced() -> bool:
        return (await running.summary("2026-11-20", "2026-11-20"))["requests"] == 1

    await eventually(priced)
    assert (await running.summary("2026-11-20", "2026-11-20"))["cost_usd"] == "2"  # 2.5 × 0.8


async def test_transform_pool_gives_the_same_rows_as_in_process(tmp_path: Path) -> None:
    from consumers.transform_pool import TransformPool

    db = MetadataDB.connect(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    db.migrate()
    db.ensure_org("o")
    db.add_price_override("o", {"kind": "discount", "multiplier": "0.5"})
    batch = [(envelope("o", [event(0), event(1)]), 7), (b"nope", 8)]
    pool = TransformPool(2, str(db.engine.url))
    try:
        remote = await pool.transform(batch)
    finally:
        pool.close()
    local = transform(batch, Pricer(overrides=db.price_overrides))
    assert remote == local
    # (1000 × $2.50 + 100 × $10.00) / 1M × 0.5 discount
    assert orjson.loads(remote[0].lines[0])["cost_usd"] == "0.00175"  # type: ignore[union-attr]


class RollupFailsUntil:
    """The real store with ClickHouse's own TOO_MANY_PARTS raised by one rollup table
    (``parts_to_throw_insert``) for the first ``failures`` inserts: ``events`` is written,
    the rollups are not. Lifted before insert number ``failures + 1``."""

    def __init__(self, store: EventStore, failures: int, table: str = "cost_model_hourly") -> None:
        self.store, self.failures, self.table, self.calls = store, failures, table, 0
        client = store.client
        client.command(f"SYSTEM STOP MERGES {table}")
        for _ in range(2):  # parts in the partition the test events go to
            client.command(
                f"INSERT INTO {table} (org_id, hour, provider, model) "
                "VALUES ('zz-parts', '2026-11-20 00:00:00', '', '')",
                settings=store.no_dedup,
            )
        client.command(f"ALTER TABLE {table} MODIFY SETTING parts_to_throw_insert = 1")

    def lift(self) -> None:
        self.store.client.command(f"ALTER TABLE {self.table} RESET SETTING parts_to_throw_insert")
        self.store.client.command(f"SYSTEM START MERGES {self.table}")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def _count(self) -> None:
        self.calls += 1
        if self.calls == self.failures + 1:
            self.lift()

    def insert_events(self, block: bytes, token: str) -> None:
        self._count()
        self.store.insert_events(block, token)


def rollups_match_events(store: EventStore, org: str) -> list[Any]:
    """Every rollup's mismatches with events for ``org`` (none when exact)."""
    from costobs_server.store.verify import check, rollups

    found = [rollup for rollup in rollups(store)]
    assert len(found) >= 10  # every view-fed rollup is checked
    return [m for rollup in found for m in check(store, rollup, org)[1]]


async def test_a_flush_failing_after_events_were_written_completes_every_rollup(
    nats_server: NatsServer, store: EventStore
) -> None:
    """Finding 2 of issue 11: the retry's duplicate check skipped rows that had reached
    ``events`` but not every rollup, leaving rollups short for ever."""
    org = f"r{uuid.uuid4().hex[:8]}"
    failing = RollupFailsUntil(store, failures=2)
    try:
        messages = [envelope(org, [event(i) for i in range(5)]), envelope(org, [event(9)])]
        await run_writer(nats_server, failing, org, messages)
        assert failing.calls >= 3
        await eventually(lambda: not rollups_match_events(store, org), within=10)
        ((n,),) = store.query(
            "SELECT sum(requests) FROM cost_model_hourly WHERE org_id={o:String}", {"o": org}
        )
        assert n == 6
    finally:
        failing.lift()


async def test_a_flush_cut_short_by_a_crash_is_completed_from_the_flush_log(
    nats_server: NatsServer, store: EventStore, tmp_path: Path
) -> None:
    """The writer stops (as if killed) while a rollup fails: the next writer first repeats the
    logged insert, and the redelivered messages are found stored; every rollup is exact."""
    org = f"c{uuid.uuid4().hex[:8]}"
    log_dir = tmp_path / "flushes"
    failing = RollupFailsUntil(store, failures=1_000_000)
    settings = load_settings(nats_url=nats_server.url, writer_ack_wait_s=1)
    nc = await nats_client(nats_server)
    js = nc.jetstream()
    await ensure_streams(js, settings)
    try:
        await js.publish(events_subject(org), envelope(org, [event(i) for i in range(4)]))
        async with started_writer(
            nats_server,
            failing,
            flush_ms=50,
            staging_table=f"events_staging_{org}",
            flush_log=FlushLog(log_dir),
            retry_delay_s=0.05,
        ):
            await eventually(lambda: failing.calls >= 2 and count_events(store, org) == 4)
        assert len(FlushLog(log_dir).pending()) == 1
        assert rollups_match_events(store, org)  # events written, rollups not
    finally:
        failing.lift()
    try:
        async with started_writer(
            nats_server,
            store,
            flush_ms=50,
            staging_table=f"events_staging_{org}",
            flush_log=FlushLog(log_dir),
        ) as (second, _):
            await eventually(lambda: second.stats.duplicates == 4, within=30)  # redelivered
            assert not FlushLog(log_dir).pending()
            assert not rollups_match_events(store, org)
            assert count_events(store, org) == 4
    finally:
        await nc.close()


async def test_a_failed_dead_letter_publish_keeps_the_message_and_the_writer(
    nats_server: NatsServer, store: EventStore
) -> None:
    """Finding 3 of issue 11: a failed dead-letter publish stopped the writer (and with it
    `costobs up`). Now the message stays in the stream and is dead-lettered once it can be."""
    settings = load_settings(nats_url=nats_server.url)
    nc = await nats_client(nats_server)
    js = nc.jetstream()
    await ensure_streams(js, settings)
    org = f"d{uuid.uuid4().hex[:8]}"
    await js.delete_stream(DLQ_STREAM)  # nothing takes costobs.dlq.events now
    ack = await js.publish(events_subject(org), b"not an envelope")
    try:
        async with started_writer(
            nats_server, store, flush_ms=50, max_deliveries=1, staging_table=f"events_staging_{org}"
        ) as (writer, task):
            await asyncio.sleep(1.5)
            assert not task.done(), task
            await ensure_streams(js, settings)  # the dead-letter stream is back
            dlq = await js.subscribe(DLQ_SUBJECT, stream=DLQ_STREAM, ordered_consumer=True)
            msg = await dlq.next_msg(timeout=45)
            assert msg.headers and msg.headers["CostObs-Stream-Seq"] == str(ack.seq)
            assert writer.stats.dead_lettered == 1
    finally:
        await nc.close()


async def test_transform_pool_restarts_a_killed_worker_then_gives_up_past_its_limit(
    tmp_path: Path,
) -> None:
    import os
    import signal

    from consumers.transform_pool import TransformPool
    from costobs_server import metrics
    from costobs_server.errors import CostObsError

    batch = [(envelope("o", [event(0)]), 1)]
    restarts = metrics.CHILD_RESTARTS.labels("transform_worker")
    pool = TransformPool(1, None, restart_limit=1)
    try:
        first = await pool.transform(batch)

        def kill_worker() -> None:
            for process in list(pool._executor._processes.values()):  # type: ignore[union-attr]
                os.kill(process.pid, signal.SIGKILL)
                process.join()

        before = restarts._value.get()
        kill_worker()
        assert await pool.transform(batch) == first  # restarted, same rows
        assert pool.restarts == 1 and restarts._value.get() == before + 1
        pool.restart_limit = 0
        kill_worker()
        with pytest.raises(CostObsError, match="keep dying"):
            await pool.transform(batch)
    finally:
        pool.close()
