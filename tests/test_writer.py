"""The writer: pure re-pricing of messages, dead-lettering, retrying a failing insert, and
applying an org's price overrides."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest

from consumers.pricer import Pricer
from consumers.processor import PoisonMessage, merge, rows_from_message, transform
from consumers.writer import Writer
from costobs_server.metadata.db import MetadataDB
from costobs_server.nats_server import NatsServer
from costobs_server.settings import load_settings
from costobs_server.store import EventStore
from costobs_server.streams import DLQ_STREAM, DLQ_SUBJECT, ensure_streams, events_subject
from costobs_server.wire import validate_event
from tests.helpers import Running, event, eventually


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


async def test_poison_message_goes_to_dead_letter_after_n_deliveries(
    nats_server: NatsServer, store: EventStore
) -> None:
    settings = load_settings(nats_url=nats_server.url, writer_ack_wait_s=60)
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await ensure_streams(js, settings)
    org = f"p{uuid.uuid4().hex[:8]}"
    ack = await js.publish(events_subject(org), b'{"org_id": "broken"')
    writer = Writer(
        nc, store, Pricer(), flush_ms=50, max_deliveries=2, staging_table="events_staging_poison"
    )
    task = asyncio.create_task(writer.run())
    dlq = await js.subscribe(DLQ_SUBJECT, stream=DLQ_STREAM, ordered_consumer=True)
    try:
        while True:  # the DLQ may hold earlier tests' messages: find this one
            msg = await dlq.next_msg(timeout=30)
            if msg.headers and msg.headers.get("CostObs-Stream-Seq") == str(ack.seq):
                break
        assert msg.data == b'{"org_id": "broken"'
        assert "not an ingest envelope" in msg.headers["CostObs-Reason"]
        assert msg.headers["CostObs-Deliveries"] == "2"
        assert msg.headers["CostObs-Subject"] == events_subject(org)
    finally:
        writer.stop()
        await task
        await nc.close()


class FlakyStore:
    """The real store, with its first inserts failing as when ClickHouse is unreachable."""

    def __init__(self, store: EventStore, failures: int) -> None:
        self.store, self.failures, self.calls = store, failures, 0

    def prepare_staging(self, name: str) -> None:
        self.store.prepare_staging(name)

    def write_events(self, block: bytes, staging: str) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("ClickHouse is down")
        return self.store.write_events(block, staging)


async def test_failing_insert_is_retried_without_loss_or_dead_letter(
    nats_server: NatsServer, store: EventStore
) -> None:
    settings = load_settings(nats_url=nats_server.url)
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await ensure_streams(js, settings)
    org = f"f{uuid.uuid4().hex[:8]}"
    flaky = FlakyStore(store, failures=2)
    writer = Writer(nc, flaky, Pricer(), flush_ms=50, staging_table="events_staging_flaky")  # type: ignore[arg-type]
    await js.publish(events_subject(org), envelope(org, [event(0), event(1)]))
    task = asyncio.create_task(writer.run())

    def stored() -> bool:
        rows = store.query("SELECT count() FROM events WHERE org_id={o:String}", {"o": org})
        return bool(rows[0][0] == 2)

    try:
        await eventually(stored, within=30)
        assert flaky.calls >= 3
        assert writer.stats.dead_lettered == 0
    finally:
        writer.stop()
        await task
        await nc.close()


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
