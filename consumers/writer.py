"""The ClickHouse writer: pull from JetStream, flush on size or time, deduplicate, re-price,
insert, and only then acknowledge.

Delivery guarantee, and where it comes from:
- A message is acked only after the ClickHouse insert holding its events returned. A crash
  before the ack means JetStream redelivers it after ``ack_wait``.
- Each flush first asks ClickHouse (through a staging table) which (org, request_id) ``events``
  holds already and drops those (repeats inside the flush are dropped before that): a
  redelivery, an event re-sent in another batch, or a restart never stores an event twice.
- The rest is ONE insert into ``events`` with a token of its own; the materialized views carry
  it to every rollup. The rows and the token are fixed once per flush and recorded in the
  flush log before the insert; a failure (or a crash) anywhere in it is repaired by repeating
  exactly that insert, which each table deduplicates on its own (store.insert_events). So every
  event is counted once in ``events`` and once in every rollup.
- A store failure (disk full, memory, too many parts, timeouts, connection loss: by ClickHouse
  error code, store/failures.py) pauses the writer: the same flush is retried with backoff,
  its messages kept in progress, until it succeeds. It never counts towards dead-lettering.
- Only a message that cannot be parsed or validated, or whose rows ClickHouse refuses, is
  negatively acked; after ``COSTOBS_WRITER_MAX_DELIVERIES`` deliveries it goes to
  ``costobs.dlq.events`` with the reason (consumers/dead_letter.py). A failed dead-letter
  publish leaves it for later.
- Messages come from the durable ``writer`` consumer through the process's FastStream
  broker (consumers/intake.py), with manual acks: the writer settles each one itself.
Known limit: two writer processes given the same re-sent event in the same instant can both
find it absent; run one writer per stream (50k+ events/s on two cores) or accept that race.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from consumers.dead_letter import DeadLetters
from consumers.flush_log import FlushLog
from consumers.intake import Intake, PullIntake
from consumers.processor import MessageRows, PoisonMessage, Price, merge, transform
from consumers.transform_pool import TransformPool
from costobs_server import metrics
from costobs_server.errors import CostObsError
from costobs_server.store import EventStore, failures
from costobs_server.streams import DLQ_SUBJECT, EVENT_COUNT_HEADER, EVENTS_STREAM

log = logging.getLogger(__name__)

# Fault injection for the crash tests: SIGKILL this process right after an insert, before
# its ack. Never set in production.
FAILPOINT = os.environ.get("COSTOBS_FAILPOINT", "")
MAX_RETRY_DELAY_S = 10.0
T = TypeVar("T")


class Abandoned(CostObsError):
    """The writer is stopping while the store still fails: the flush stays unacknowledged
    (JetStream redelivers it) and, if its insert began, in the flush log."""


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
        flush_log: FlushLog | None = None,
        retry_delay_s: float = 0.5,
        intake: Intake | None = None,
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
        self.flush_log = flush_log
        self.retry_delay_s = retry_delay_s
        # `costobs` passes its broker's BrokerIntake; nats-py's own pull is the bench baseline
        self.intake: Intake = intake or PullIntake(self.js)
        self.dead_letters = DeadLetters(self.js, EVENTS_STREAM, DLQ_SUBJECT, max_deliveries)
        self.stats = WriterStats()
        self.failing_since: float | None = None
        """``time.monotonic()`` when store calls began to fail; ``None`` while they succeed."""
        self.last_failure = ""
        self._stop = asyncio.Event()

    def stop(self) -> None:
        """Stop fetching; the current buffer is still flushed and acked."""
        self._stop.set()

    async def prepare(self) -> None:
        """Before consuming: (re)create the staging table and repeat the inserts a crash left
        unfinished. Raises ``Abandoned`` when stopped while the store fails."""
        await self._retrying(self.store.prepare_staging, self.staging_table)
        await self._complete_logged_flushes()

    async def store_flush(
        self, messages: list[Msg], parsed: list[MessageRows | str]
    ) -> tuple[list[tuple[Msg, MessageRows]], int, int, int]:
        """One flush, stored exactly once: messages that did not parse are rejected (``_reject``),
        the rest inserted (dedup against ``events``, one insert with a token recorded in the
        flush log), and a message whose rows ClickHouse refuses is rejected too. Returns the
        stored messages (to ack) and (inserted, already stored, unpriced); nothing to ack when
        the flush was one refused message. Raises ``Abandoned`` when stopped while the store
        fails. ``costobs replay`` stores through this too, exactly as the live writer."""
        good: list[tuple[Msg, MessageRows]] = []
        for msg, outcome in zip(messages, parsed, strict=True):
            if isinstance(outcome, str):
                await self._reject(msg, outcome)
            else:
                good.append((msg, outcome))
        if not good:
            return [], 0, 0, 0
        try:
            inserted, duplicates, unpriced = await self._insert(good)
        except PoisonMessage as exc:  # a flush of one message, whose rows ClickHouse refuses
            await self._reject(good[0][0], str(exc))
            return [], 0, 0, 0
        return good, inserted, duplicates, unpriced

    async def run(self) -> None:
        try:
            await self.prepare()
        except Abandoned:  # stopped while the store was failing: nothing taken yet
            return
        await self.intake.open()
        # Two stages, so parsing the next flush overlaps inserting this one; at most two
        # flushes wait between them (well inside ack_wait).
        ready: asyncio.Queue[tuple[list[Msg], list[MessageRows | str]] | None] = asyncio.Queue(2)

        async def produce() -> None:
            try:
                while not self._stop.is_set():
                    messages = await self._collect()
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
            await self.intake.close()

    async def _transform(self, messages: list[Msg]) -> list[MessageRows | str]:
        batch = [(msg.data, msg.metadata.sequence.stream) for msg in messages]
        if self.pool is not None:
            return await self.pool.transform(batch)
        return await asyncio.to_thread(transform, batch, self.price)

    async def _collect(self) -> list[Msg]:
        """Messages until about ``batch_size`` events or ``flush_ms`` passed, or stop."""
        messages: list[Msg] = []
        events = 0
        deadline = time.monotonic() + self.flush_s
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            got = await self.intake.fetch(min(left, 0.25))
            if not got:
                if not messages:
                    deadline = time.monotonic() + self.flush_s  # idle: nothing to flush yet
                continue
            messages.extend(got)
            events += sum(_event_count(m) for m in got)
            if events >= self.batch_size:
                break
        return messages

    async def _write(self, messages: list[Msg], parsed: list[MessageRows | str]) -> None:
        started = time.perf_counter()
        try:
            good, inserted, duplicates, unpriced = await self.store_flush(messages, parsed)
        except Abandoned:
            return
        if FAILPOINT == "writer_after_insert" and inserted:
            os.kill(os.getpid(), signal.SIGKILL)
        for msg, _ in good:
            await _ack(msg)
        self.stats.inserted += inserted
        self.stats.duplicates += duplicates
        metrics.WRITER_INSERTED.inc(inserted)
        metrics.WRITER_DUPLICATES.inc(duplicates)
        metrics.WRITER_UNPRICED.inc(unpriced)
        metrics.WRITER_FLUSH_SECONDS.observe(time.perf_counter() - started)

    async def _insert(self, good: list[tuple[Msg, MessageRows]]) -> tuple[int, int, int]:
        """Insert the flush; returns (inserted, duplicates, unpriced).

        A store failure is retried (``_retrying``); ClickHouse refusing the rows themselves
        means inserting message by message, so only the message it refuses is rejected.
        """
        merged = merge([message_rows for _, message_rows in good])
        try:
            stored = await self._retrying(
                self.store.stored_keys, merged.block, self.staging_table, held=good
            )
            new = merged.without(stored)
            if new.rows:
                await self._insert_once(new.block, held=good)
        except failures.Refused as exc:
            if len(good) == 1:
                raise PoisonMessage(f"ClickHouse refused the rows: {exc}") from exc
            log.warning("ClickHouse refused a flush (%s); inserting message by message", exc)
            return await self._insert_one_by_one(good)
        return new.rows, new.repeats, merged.unpriced if new.rows else 0

    async def _insert_once(self, block: bytes, held: list[tuple[Msg, MessageRows]]) -> None:
        """One insert with a token of its own, recorded until it succeeded: every retry (and
        a restart after a crash) repeats exactly these rows with this token."""
        token = f"{self.staging_table}-{uuid.uuid4().hex}"
        if self.flush_log is not None:
            await asyncio.to_thread(self.flush_log.begin, token, block)
        try:
            await self._retrying(self.store.insert_events, block, token, held=held)
        except failures.Refused:  # nothing of it was written: the messages are bisected
            if self.flush_log is not None:
                await asyncio.to_thread(self.flush_log.done, token)
            raise
        if self.flush_log is not None:
            await asyncio.to_thread(self.flush_log.done, token)

    async def _complete_logged_flushes(self) -> None:
        """Repeat the inserts a crash left unfinished, before consuming anything new."""
        if self.flush_log is None:
            return
        for token, block in await asyncio.to_thread(self.flush_log.pending):
            log.warning("completing flush %s left unfinished by the last run", token)
            try:
                await self._retrying(self.store.insert_events, block, token)
            except failures.Refused as exc:  # its messages, unacked, are bisected when redelivered
                log.error("flush %s was refused (%s); its messages decide", token, exc)
            await asyncio.to_thread(self.flush_log.done, token)

    async def _retrying(
        self,
        call: Callable[..., T],
        *args: object,
        held: list[tuple[Msg, MessageRows]] | None = None,
    ) -> T:
        """``call(*args)`` in a thread until it succeeds: the store failing pauses the writer
        (messages ``held`` stay in progress), however long it takes. Raises ``Refused`` when
        ClickHouse refuses the rows, ``Abandoned`` when the writer stops meanwhile."""
        delay = self.retry_delay_s
        while True:
            try:
                result = await asyncio.to_thread(call, *args)
            except Exception as exc:
                if failures.refused(exc):
                    self.failing_since = None  # ClickHouse answered: it is the rows, not it
                    raise failures.Refused(str(exc)) from exc
                reason = failures.describe(exc)
                metrics.WRITER_INSERT_ERRORS.labels(reason).inc()
                if self.failing_since is None:
                    self.failing_since = time.monotonic()
                self.last_failure = f"{reason}: {str(exc)[:300]}"
                log.warning(
                    "store call %s failed (%s: %s); retrying in %.1fs",
                    getattr(call, "__name__", call),
                    reason,
                    str(exc)[:300],
                    delay,
                )
                await self._pause(delay, held or [])
                delay = min(delay * 2, MAX_RETRY_DELAY_S)
                if call == self.store.stored_keys:  # a lost staging table is made again
                    with contextlib.suppress(Exception):
                        await asyncio.to_thread(self.store.prepare_staging, self.staging_table)
                continue
            self.failing_since = None
            return result

    async def _pause(self, seconds: float, held: list[tuple[Msg, MessageRows]]) -> None:
        """Wait, telling JetStream every second that ``held`` messages are still in progress."""
        deadline = time.monotonic() + seconds
        while True:
            for msg, _ in held:
                with contextlib.suppress(Exception):  # NATS down: redelivered later, deduped
                    await msg.in_progress()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), min(left, 1.0))
            if self._stop.is_set():
                raise Abandoned

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

    async def _reject(self, msg: Msg, reason: str) -> None:
        if await self.dead_letters.reject(msg, reason):
            self.stats.dead_lettered += 1
            metrics.WRITER_DEAD_LETTERED.inc()


async def _ack(msg: Msg) -> None:
    """A lost ack only means a redelivery, which the duplicate check absorbs."""
    try:
        await msg.ack()
    except Exception as exc:
        log.warning("ack of message %s failed (%r)", msg.metadata.sequence.stream, exc)


def _event_count(msg: Msg) -> int:
    """Events in a message, from the header ingest sets (estimated for older messages)."""
    header = (msg.headers or {}).get(EVENT_COUNT_HEADER)
    return int(header) if header and header.isdigit() else max(1, len(msg.data) // 400)
