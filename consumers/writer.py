"""The ClickHouse writer: pull from JetStream, flush on size or time, deduplicate, re-price,
insert, and only then acknowledge.

Delivery guarantee, and where it comes from:
- A message is acked only after the ClickHouse insert holding its events returned. A crash
  before the ack means JetStream redelivers it after ``ack_wait``.
- Each flush goes through a staging table: ClickHouse drops the (org, request_id) already in
  ``events`` before one INSERT … SELECT copies the rest (repeats inside the flush are dropped
  before that). A redelivery after a crash between insert and ack, an event re-sent in
  another batch, or a restart therefore never stores an event twice, and the rollups
  (materialized views fed by that insert) count it once. A crash *during* that one insert
  statement could leave a rollup without rows its events table has; ClickHouse offers no
  atomic multi-table insert on MergeTree, so that window (milliseconds) is the known gap.
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
from dataclasses import dataclass

from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext

from consumers.processor import MessageRows, PoisonMessage, Price, merge, transform
from consumers.transform_pool import TransformPool
from costobs_server import metrics
from costobs_server.store import EventStore
from costobs_server.streams import (
    DLQ_SUBJECT,
    EVENT_COUNT_HEADER,
    EVENTS_STREAM,
    WRITER_DURABLE,
)

log = logging.getLogger(__name__)

# Fault injection for the crash tests: SIGKILL this process right after an insert, before
# its ack. Never set in production.
FAILPOINT = os.environ.get("COSTOBS_FAILPOINT", "")


@dataclass
class WriterStats:
    inserted: int = 0
    duplicates: int = 0
    dead_lettered: int = 0


class Writer:
    def __init__(
        self,
        nc: NATS,
        store: EventStore,
        price: Price,
        *,
        batch_size: int = 20000,
        flush_ms: int = 1000,
        max_deliveries: int = 5,
        staging_table: str = "events_staging",
        pool: TransformPool | None = None,
    ) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.store = store
        self.price = price
        self.batch_size = batch_size
        self.flush_s = flush_ms / 1000
        self.max_deliveries = max_deliveries
        self.staging_table = staging_table
        self.pool = pool
        self.stats = WriterStats()
        self._stop = asyncio.Event()

    def stop(self) -> None:
        """Stop fetching; the current buffer is still flushed and acked."""
        self._stop.set()

    async def run(self) -> None:
        await asyncio.to_thread(self.store.prepare_staging, self.staging_table)
        sub = await self.js.pull_subscribe_bind(WRITER_DURABLE, stream=EVENTS_STREAM)
        # Two stages, so parsing the next flush overlaps inserting this one; at most two
        # flushes wait between them (well inside ack_wait).
        ready: asyncio.Queue[tuple[list[Msg], list[MessageRows | str]] | None] = asyncio.Queue(2)

        async def produce() -> None:
            try:
                while not self._stop.is_set():
                    messages = await self._collect(sub)
                    if messages:
                        await ready.put((messages, await self._transform(messages)))
            finally:
                await ready.put(None)

        producer = asyncio.create_task(produce(), name="writer-transform")
        try:
            while (item := await ready.get()) is not None:
                await self._write(*item)
            await producer  # re-raises what stopped it
        finally:
            producer.cancel()
            await sub.unsubscribe()

    async def _transform(self, messages: list[Msg]) -> list[MessageRows | str]:
        batch = [(msg.data, msg.metadata.sequence.stream) for msg in messages]
        if self.pool is not None:
            return await self.pool.transform(batch)
        return await asyncio.to_thread(transform, batch, self.price)

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
            events += sum(_event_count(m) for m in got)
            if events >= self.batch_size:
                break
        return messages

    async def _write(self, messages: list[Msg], parsed: list[MessageRows | str]) -> None:
        started = time.perf_counter()
        good: list[tuple[Msg, MessageRows]] = []
        for msg, outcome in zip(messages, parsed, strict=True):
            if isinstance(outcome, str):
                await self._reject(msg, outcome)
            else:
                good.append((msg, outcome))
        inserted, duplicates, unpriced = await self._insert(good)
        if FAILPOINT == "writer_after_insert" and inserted:
            os.kill(os.getpid(), signal.SIGKILL)
        for msg, _ in good:
            await msg.ack()
        self.stats.inserted += inserted
        self.stats.duplicates += duplicates
        metrics.WRITER_INSERTED.inc(inserted)
        metrics.WRITER_DUPLICATES.inc(duplicates)
        metrics.WRITER_UNPRICED.inc(unpriced)
        metrics.WRITER_FLUSH_SECONDS.observe(time.perf_counter() - started)

    async def _insert(self, good: list[tuple[Msg, MessageRows]]) -> tuple[int, int, int]:
        """Insert the flush; returns (inserted, duplicates, unpriced).

        ClickHouse unreachable: retry with backoff, keeping the messages in progress (never
        towards the dead-letter limit). ClickHouse refusing the data: insert message by
        message, so only the message it refuses is rejected.
        """
        rows = [message_rows for _, message_rows in good]
        delay = 0.5
        while True:
            try:
                return await asyncio.to_thread(self._insert_sync, rows)
            except (OperationalError, OSError) as exc:
                metrics.WRITER_INSERT_ERRORS.inc()
                log.warning(
                    "insert of %d messages failed (%r); retrying in %.1fs", len(rows), exc, delay
                )
                for msg, _ in good:
                    await msg.in_progress()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            except DatabaseError as exc:
                if len(good) == 1:
                    raise PoisonMessage(f"ClickHouse refused the rows: {exc}") from exc
                log.warning("ClickHouse refused a flush (%s); inserting message by message", exc)
                return await self._insert_one_by_one(good)

    async def _insert_one_by_one(self, good: list[tuple[Msg, MessageRows]]) -> tuple[int, int, int]:
        totals = [0, 0, 0]
        for entry in list(good):
            try:
                counts = await self._insert([entry])
            except PoisonMessage as exc:
                good.remove(entry)  # not acked with the others: rejected instead
                await self._reject(entry[0], str(exc))
                continue
            totals = [a + b for a, b in zip(totals, counts, strict=True)]
        return totals[0], totals[1], totals[2]

    def _insert_sync(self, rows: list[MessageRows]) -> tuple[int, int, int]:
        merged = merge(rows)
        if not merged.rows:
            return 0, merged.repeats, 0
        already = self.store.write_events(merged.block, self.staging_table)
        return merged.rows - already, merged.repeats + already, merged.unpriced

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


def _event_count(msg: Msg) -> int:
    """Events in a message, from the header ingest sets (estimated for older messages)."""
    header = (msg.headers or {}).get(EVENT_COUNT_HEADER)
    return int(header) if header and header.isdigit() else max(1, len(msg.data) // 400)
