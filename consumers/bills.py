"""The bills writer: provider bills from ``costobs.bills.<org>`` into ``billed_daily``.

Idempotent by key: ``billed_daily`` is a ReplacingMergeTree on (org, provider, date, source,
line_item), so a re-synced day replaces its row, while an API sync and a manual import of the
same provider-day (different ``source``) stay side by side. Acked after the insert.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from decimal import Decimal
from typing import Any

import orjson
from nats.aio.client import Client as NATS
from nats.errors import TimeoutError as NatsTimeout

from costobs_server.store import EventStore
from costobs_server.streams import BILLS_DURABLE, BILLS_STREAM

log = logging.getLogger(__name__)


def bill_rows(payload: bytes) -> list[tuple[Any, ...]]:
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


class BillsWriter:
    def __init__(self, nc: NATS, store: EventStore) -> None:
        self.js = nc.jetstream()
        self.store = store
        self._stop = asyncio.Event()
        self.written = 0

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        sub = await self.js.pull_subscribe_bind(BILLS_DURABLE, stream=BILLS_STREAM)
        try:
            while not self._stop.is_set():
                try:
                    messages = await sub.fetch(batch=50, timeout=0.5)
                except (TimeoutError, NatsTimeout):
                    continue
                for msg in messages:
                    try:
                        rows = bill_rows(msg.data)
                    except (ValueError, KeyError, TypeError) as exc:
                        log.error("dropping malformed bills message: %r", exc)
                        await msg.term()
                        continue
                    try:
                        await asyncio.to_thread(self.store.insert_billed, rows)
                    except Exception:
                        log.exception("inserting bills failed; will retry")
                        await msg.nak(delay=2)
                        continue
                    await msg.ack()
                    self.written += len(rows)
        finally:
            await sub.unsubscribe()
