"""The bills writer: bills into ``billed_daily`` and, like events, dead letters for what it
cannot store (they used to be terminated and vanish)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import orjson
import pytest
from nats.aio.msg import Msg

from consumers.bills import BillsWriter, bill_rows
from costobs_server.broker import make_broker
from costobs_server.nats_server import NatsServer
from costobs_server.settings import load_settings
from costobs_server.store import EventStore
from costobs_server.streams import (
    BILLS_DLQ_SUBJECT,
    BILLS_STREAM,
    DLQ_STREAM,
    bills_subject,
    ensure_streams,
)
from tests.helpers import eventually, nats_client


def bills(org: str, *rows: dict[str, str]) -> bytes:
    return orjson.dumps({"org_id": org, "bills": list(rows)})


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b'{"org_id": "o"}',
        bills("o", {"provider": "openai", "date": "2026-13-01", "billed_usd": "1"}),
        bills("o", {"provider": "openai", "date": "2026-06-01", "billed_usd": "a lot"}),
    ],
    ids=["not-json", "no-bills", "bad-date", "bad-amount"],
)
def test_what_is_not_a_bills_envelope_raises_a_known_error(payload: bytes) -> None:
    with pytest.raises((ValueError, KeyError, TypeError, ArithmeticError)):
        bill_rows(payload)


async def test_malformed_bills_are_dead_lettered_and_good_ones_stored(
    nats_server: NatsServer, store: EventStore
) -> None:
    settings = load_settings(nats_url=nats_server.url)
    nc = await nats_client(nats_server)
    js = nc.jetstream()
    await ensure_streams(js, settings)
    org = f"b{uuid.uuid4().hex[:8]}"
    bad = bills(org, {"provider": "openai", "date": "2026-06-01", "billed_usd": "a lot"})
    bad_ack = await js.publish(bills_subject(org), bad)
    good = bills(org, {"provider": "openai", "date": "2026-06-01", "billed_usd": "12.345"})
    await js.publish(bills_subject(org), good)
    dead: list[Msg] = []

    async def collect(msg: Msg) -> None:
        if msg.headers and msg.headers.get("CostObs-Stream-Seq") == str(bad_ack.seq):
            dead.append(msg)

    dlq = await js.subscribe(
        BILLS_DLQ_SUBJECT, stream=DLQ_STREAM, ordered_consumer=True, cb=collect
    )
    broker = make_broker(settings, "writer", auth=nats_server.auth("writer"))  # its own user
    writer = BillsWriter(await broker.connect(), store, max_deliveries=2)
    writer.subscribe(broker)
    try:
        async with broker:
            await broker.start()
            await eventually(lambda: bool(dead) and writer.written >= 1, within=30)
    finally:
        await dlq.unsubscribe()
        await nc.close()
    (letter,) = dead
    assert letter.data == bad
    assert "not a bills envelope" in letter.headers["CostObs-Reason"]
    assert "InvalidOperation" in letter.headers["CostObs-Reason"]
    assert letter.headers["CostObs-Stream"] == BILLS_STREAM
    assert letter.headers["CostObs-Subject"] == bills_subject(org)
    assert letter.headers["CostObs-Deliveries"] == "2"
    first = datetime.fromisoformat(letter.headers["CostObs-First-Failure"])
    assert first < datetime.fromisoformat(letter.headers["CostObs-Last-Failure"])
    assert writer.dead_lettered == 1
    rows = store.query(
        "SELECT toString(billed_usd) FROM billed_daily FINAL WHERE org_id={o:String}", {"o": org}
    )
    assert rows == [("12.345",)]
    assert Decimal(rows[0][0]) == Decimal("12.345")
