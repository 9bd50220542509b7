"""The ClickHouse writer: pull from JetStream, flush on size or time, deduplicate, re-price,
insert, and only then acknowledge.

Delivery guarantee, and where it comes from:
- A message is acked only after the ClickHouse insert holding its events returned. A crash
  before the ack means JetStream redelivers it after ``ack_wait``.
- Before every insert the writer asks ClickHouse which (org, timestamp, request_id) of the
  flush are stored already, and drops those (plus repeats inside the flush). A redelivery
  after a crash between insert and ack, an event re-sent in another batch, or a restart
  therefore never stores an event twice, and the rollups (materialized views fed by the
  insert) count it once.
- A message that cannot be processed (not an envelope, an event the pricing engine rejects)
  is negatively acked; after ``COSTOBS_WRITER_MAX_DELIVERIES`` deliveries it goes to
  ``costobs.dlq.events`` with the reason, and is acked so it stops blocking nothing.
- A failing insert (ClickHouse down) is retried with backoff, keeping the messages in
  progress; it never counts towards the dead-letter limit.
Known limit: two writer processes given the same re-sent event in the same instant can both
find it absent; run one writer per stream (50k+ events/s on two cores) or accept that race.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from dataclasses import dataclass, field

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext

from consumers.processor import PoisonMessage, Price, Row, columns, rows_from_message
from consumers.processor import without_duplicates as drop_duplicates
from costobs_server import metrics
from costobs_server.store import EventStore
from costobs_server.streams import DLQ_SUBJECT, EVENTS_STREAM, WRITER_DURABLE

log = logging.getLogger(__name__)

# Fault injection for the crash tests: SIGKILL this process right after an insert, before
# its ack. Never set in production.
FAILPOINT = os.environ.get("COSTOBS_FAILPOINT", "")


@dataclass
class WriterStats:
    inserted: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    flushes: int = 0
    last_flush: float = field(default=0.0)


class Writer:
    def __init__(
        self,
        nc: NATS,
        store: EventStore,
        price: Price,
        *,
        batch_size: int = 5000,
        flush_ms: int = 500,
        max_deliveries: int = 5,
    ) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.store = store
        self.price = price
        self.batch_size = batch_size
        self.flush_s = flush_ms / 1000
        self.max_deliveries = max_deliveries
        self.stats = WriterStats()
        self._stop = asyncio.Event()

    def stop(self) -> None:
        """Stop fetching; the current buffer is still flushed and acked."""
        self._stop.set()

    async def run(self) -> None:
        sub = await self.js.pull_subscribe_bind(WRITER_DURABLE, stream=EVENTS_STREAM)
        try:
            while not self._stop.is_set():
                messages = await self._collect(sub)
                if messages:
                    await self.flush(messages)
        finally:
            await sub.unsubscribe()

    async def _collect(self, sub: JetStreamContext.PullSubscription) -> list[Msg]:
        """Messages until about ``batch_size`` events or ``flush_ms`` passed, or stop."""
        messages: list[Msg] = []
        events = 0
        deadline = time.monotonic() + self.flush_s
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                got = await sub.fetch(batch=256, timeout=min(left, 0.25))
            except (TimeoutError, NatsTimeout):
                if messages:
                    continue
                deadline = time.monotonic() + self.flush_s  # idle: nothing to flush yet
                continue
            messages.extend(got)
            # one ingest chunk holds up to a full batch; count messages × a typical size
            events += sum(max(1, len(m.data) // 400) for m in got)
            if events >= self.batch_size:
                break
        return messages

    async def flush(self, messages: list[Msg]) -> None:
        started = time.perf_counter()
        rows: list[Row] = []
        good: list[Msg] = []
        for msg in messages:
            try:
                rows.extend(rows_from_message(msg.data, msg.metadata.sequence.stream, self.price))
                good.append(msg)
            except PoisonMessage as exc:
                await self._reject(msg, str(exc))
            except Exception as exc:  # a bug in pricing must not stop the stream either
                log.exception("processing message %s failed", msg.metadata.sequence.stream)
                await self._reject(msg, f"processing failed: {exc!r}")
        kept = await self._insert(rows, good)
        if FAILPOINT == "writer_after_insert" and kept:
            os.kill(os.getpid(), signal.SIGKILL)
        for msg in good:
            await msg.ack()
        self.stats.inserted += len(kept)
        self.stats.duplicates += len(rows) - len(kept)
        self.stats.flushes += 1
        self.stats.last_flush = time.time()
        metrics.WRITER_INSERTED.inc(len(kept))
        metrics.WRITER_DUPLICATES.inc(len(rows) - len(kept))
        metrics.WRITER_UNPRICED.inc(sum(1 for r in kept if r.unpriced))
        metrics.WRITER_FLUSH_SECONDS.observe(time.perf_counter() - started)

    async def _insert(self, rows: list[Row], pending: list[Msg]) -> list[Row]:
        """Deduplicate and insert, retrying until ClickHouse takes it."""
        delay = 0.5
        while True:
            try:
                return await asyncio.to_thread(self._insert_sync, rows)
            except Exception as exc:
                metrics.WRITER_INSERT_ERRORS.inc()
                log.warning(
                    "insert of %d events failed (%r); retrying in %.1fs", len(rows), exc, delay
                )
                for msg in pending:  # keep them ours while ClickHouse is away
                    await msg.in_progress()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    def _insert_sync(self, rows: list[Row]) -> list[Row]:
        if not rows:
            return rows
        stored = self.store.existing_events((r.org_id, r.timestamp, r.request_id) for r in rows)
        kept = drop_duplicates(rows, stored)
        self.store.insert_events(columns(kept))
        return kept

    async def _reject(self, msg: Msg, reason: str) -> None:
        deliveries = msg.metadata.num_delivered
        if deliveries < self.max_deliveries:
            log.warning(
                "message %s failed (delivery %d): %s",
                msg.metadata.sequence.stream,
                deliveries,
                reason,
            )
            await msg.nak(delay=min(2.0**deliveries, 60.0))
            return
        seq = msg.metadata.sequence.stream
        await self.js.publish(
            DLQ_SUBJECT,
            msg.data,
            headers={
                "Nats-Msg-Id": f"dlq:{seq}",
                "CostObs-Reason": reason[:1000],
                "CostObs-Subject": msg.subject,
                "CostObs-Stream-Seq": str(seq),
                "CostObs-Deliveries": str(deliveries),
            },
        )
        await msg.ack()
        self.stats.dead_lettered += 1
        metrics.WRITER_DEAD_LETTERED.inc()
        log.error(
            "message %s moved to %s after %d deliveries: %s", seq, DLQ_SUBJECT, deliveries, reason
        )
