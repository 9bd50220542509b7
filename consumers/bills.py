"""The bills writer: provider bills from ``costobs.bills.<org>`` into ``billed_daily``.

Idempotent by key: ``billed_daily`` is a ReplacingMergeTree on (org, provider, date, source,
line_item), so a re-synced day replaces its row, while an API sync and a manual import of the
same provider-day (different ``source``) stay side by side. Acked after the insert.

A FastStream subscriber (durable ``bills-writer``) with manual acks. A message that is not a
bills envelope, or whose rows ClickHouse refuses, is dead-lettered like an event (retried
with backoff, then ``costobs.dlq.bills`` with the reason: consumers/dead_letter.py); a store
failure is retried until it succeeds and never dead-letters.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from decimal import Decimal
from typing import Any

import orjson
from faststream.nats.subscriber.usecases.basic import LogicSubscriber
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from consumers.dead_letter import DeadLetters
from costobs_server import metrics
from costobs_server.broker import BatchHandler, RoleBroker, durable_batches
from costobs_server.store import EventStore, failures
from costobs_server.streams import BILLS_DLQ_SUBJECT, BILLS_DURABLE, BILLS_STREAM

log = logging.getLogger(__name__)

STORE_RETRY_S = 2.0


def bill_rows(payload: bytes) -> list[tuple[Any, ...]]:
    """Rows of ``billed_daily``; ValueError/KeyError/TypeError/ArithmeticError when the
    payload is not a bills envelope (``{"org_id", "bills": [{provider, date, billed_usd}]}``)."""
    envelope = orjson.loads(payload)
    org_id = envelope["org_id"]
    return [
        (
            org_id,
            b["provider"],
            date.fromisoformat(b["date"]),
            Decimal(b["billed_usd"]),
            b.get("source") or "import",
            b.get("line_item") or "",
        )
        for b in envelope["bills"]
    ]


def bills_subscriber(broker: RoleBroker, handler: BatchHandler) -> LogicSubscriber[Any]:
    """The bills writer's subscriber (durable ``bills-writer``) with ``handler``."""
    return durable_batches(
        broker,
        stream=BILLS_STREAM,
        durable=BILLS_DURABLE,
        subject="costobs.bills.>",
        batch_size=50,
        timeout_s=0.5,
        title="bills-writer",
        description=(
            "The bills writer (durable `bills-writer`): provider bills into billed_daily, "
            "acked after the insert; malformed ones dead-lettered to costobs.dlq.bills. "
            "Payload: BillsMessage (see the publishers of costobs.bills.{org_id})."
        ),
    )(handler)


class BillsWriter:
    def __init__(self, nc: NATS, store: EventStore, *, max_deliveries: int = 5) -> None:
        self.store = store
        self.dead_letters = DeadLetters(
            nc.jetstream(), BILLS_STREAM, BILLS_DLQ_SUBJECT, max_deliveries
        )
        self.written = 0
        self.dead_lettered = 0

    def subscribe(self, broker: RoleBroker) -> LogicSubscriber[Any]:
        """Register on the process's broker; its ``start()`` starts consuming."""
        return bills_subscriber(broker, self.handle)

    async def handle(self, messages: list[Msg]) -> None:
        for msg in messages:
            await self._one(msg)

    async def _one(self, msg: Msg) -> None:
        try:
            rows = bill_rows(msg.data)
        except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
            await self._reject(msg, f"not a bills envelope: {exc!r}")
            return
        try:
            await asyncio.to_thread(self.store.insert_billed, rows)
        except Exception as exc:
            if failures.refused(exc):
                await self._reject(msg, f"ClickHouse refused the rows: {exc}")
                return
            log.warning("inserting bills failed (%s); will retry", failures.describe(exc))
            await msg.nak(delay=STORE_RETRY_S)
            return
        await msg.ack()
        self.written += len(rows)

    async def _reject(self, msg: Msg, reason: str) -> None:
        if await self.dead_letters.reject(msg, reason):
            self.dead_lettered += 1
            metrics.BILLS_DEAD_LETTERED.inc()
