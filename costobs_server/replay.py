"""``costobs replay``: re-read the events stream into the store, the live writer's way.

What it is for: a lost or new ClickHouse (embedded → server migration, a new cluster), or a
writer bug fixed after the fact. Each message goes through the same pure transform
(consumers/processor.py, priced by consumers/pricer.py) and the same exactly-once insert as
the live writer (``Writer.store_flush``: events already in ``events`` are skipped by
(org, request_id), the rest is one insert with a token recorded in a flush log). So a replay
stores what is missing and nothing twice, however often it runs.

How it reads: a FastStream pull subscriber on a durable consumer of its own, ``replay-<job>``,
with explicit manual acks (acked after the insert). Interrupted (Ctrl-C, a crash), the same
job resumes where its consumer stands; finished, the consumer is deleted so the same command
later reads everything again (and stores nothing new). It stops at the end of the stream as it
was when the job started — or, next to a live writer, at that writer's ack floor, since what
lies beyond is the writer's to store (and two writers inserting one event at the same instant
could both find it absent). ``--from``/``--to`` are times the stream *received* the events.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy as JsAckPolicy
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from consumers.flush_log import FlushLog
from consumers.processor import Price, transform
from consumers.writer import Abandoned, Writer
from costobs_server import metrics
from costobs_server.broker import guard_fetches, raw_batch
from costobs_server.errors import CostObsError
from costobs_server.nats_auth import inbox_prefix
from costobs_server.store import EventStore
from costobs_server.streams import (
    EVENTS_STREAM,
    WRITER_DURABLE,
    events_subject,
)

log = logging.getLogger(__name__)
ROLE = "replay"
"""The NATS user replay connects as (costobs_server/nats_auth.py)."""

ACK_WAIT_S = 10.0
_JOB_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_ORG = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ReplayError(CostObsError, ValueError):
    """A replay cannot start as asked (bad options, no events stream)."""


@dataclass(frozen=True)
class ReplaySpec:
    """What to replay. ``job`` names the durable consumer; unset, the options name it, so
    the same command run again is the same job (and resumes it)."""

    from_time: datetime | None = None
    from_seq: int | None = None
    to_time: datetime | None = None
    org: str | None = None
    job: str | None = None

    def __post_init__(self) -> None:
        if self.from_time is not None and self.from_seq is not None:
            raise ReplayError("give --from or --from-seq, not both")
        if self.from_seq is not None and self.from_seq < 1:
            raise ReplayError(f"--from-seq must be 1 or more, not {self.from_seq}")
        for name, value in (("--from", self.from_time), ("--to", self.to_time)):
            if value is not None and value.tzinfo is None:
                raise ReplayError(f"{name} needs a time zone (e.g. 2026-11-20T10:00:00Z)")
        if self.from_time and self.to_time and self.to_time <= self.from_time:
            raise ReplayError("--to must be after --from")
        if self.org is not None and not _ORG.match(self.org):
            raise ReplayError(f"--org {self.org!r} is not an org id")
        if self.job is not None and not _JOB_NAME.match(self.job):
            raise ReplayError(f"--job {self.job!r}: use 1-40 letters, digits, - or _")

    @property
    def durable(self) -> str:
        if self.job:
            return f"replay-{self.job}"
        key = "|".join(
            str(v)
            for v in (
                self.from_time and self.from_time.isoformat(),
                self.from_seq,
                self.to_time and self.to_time.isoformat(),
                self.org,
            )
        )
        return f"replay-{hashlib.sha256(key.encode()).hexdigest()[:12]}"

    @property
    def subject(self) -> str:
        return events_subject(self.org) if self.org else "costobs.events.>"

    def consumer_config(self, inactive_s: float) -> ConsumerConfig:
        """The job's durable consumer: from where it starts, explicit acks, and removed by
        the server when left idle as long as the stream keeps events anyway."""
        start: dict[str, Any] = {"deliver_policy": DeliverPolicy.ALL}
        if self.from_seq is not None:
            start = {
                "deliver_policy": DeliverPolicy.BY_START_SEQUENCE,
                "opt_start_seq": self.from_seq,
            }
        elif self.from_time is not None:
            start = {
                "deliver_policy": DeliverPolicy.BY_START_TIME,
                "opt_start_time": self.from_time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            }
        return ConsumerConfig(
            durable_name=self.durable,
            filter_subject=self.subject,
            ack_policy=JsAckPolicy.EXPLICIT,
            ack_wait=ACK_WAIT_S,
            max_ack_pending=4096,
            inactive_threshold=inactive_s,
            **start,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.from_time.isoformat() if self.from_time else None,
            "from_seq": self.from_seq,
            "to": self.to_time.isoformat() if self.to_time else None,
            "org": self.org,
            "job": self.job,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ReplaySpec:
        def when(key: str) -> datetime | None:
            value = raw.get(key)
            return parse_time(value, f"--{key}") if value else None

        seq = raw.get("from_seq")
        return cls(
            when("from"),
            int(seq) if seq is not None else None,
            when("to"),
            raw.get("org"),
            raw.get("job"),
        )


def parse_time(text: str, name: str) -> datetime:
    """An ISO 8601 time; a bare date is midnight UTC, a time without zone is UTC."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ReplayError(f"{name} {text!r} is not an ISO 8601 time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class ReplayProgress:
    job: str
    state: str = "starting"
    """starting, running, done (reached the end), stopped (resumable) or failed."""
    total_messages: int = 0
    """Messages the job expected to read when it started (for the progress bar)."""
    messages: int = 0
    read: int = 0
    """Events read."""
    inserted: int = 0
    already_stored: int = 0
    rejected: int = 0
    """Messages the writer cannot store (their events are not in ``read``)."""
    end_seq: int = 0
    error: str = ""
    rejections: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def finished(self) -> bool:
        return self.state in ("done", "stopped", "failed")


class _ReplayWriter(Writer):
    """The live writer's insert path. A message it cannot write is counted and acked on the
    replay's own consumer: the live writer dead-letters it from its own, so replay never
    dead-letters a second copy."""

    def __init__(self, progress: ReplayProgress, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.progress = progress

    async def _reject(self, msg: Msg, reason: str) -> None:
        seq = msg.metadata.sequence.stream
        log.warning("replay: message %s cannot be stored: %s", seq, reason)
        self.progress.rejected += 1
        if len(self.progress.rejections) < 100:
            self.progress.rejections.append(f"{seq}: {reason[:300]}")
        metrics.REPLAY_REJECTED.inc()
        await msg.ack_sync()


class ReplayJob:
    """One replay job: run it, ``stop()`` it (resumable), read its ``progress``."""

    def __init__(
        self,
        spec: ReplaySpec,
        *,
        broker: Callable[[], NatsBroker],
        store: EventStore,
        price: Price,
        flush_log_dir: Path,
        events_per_s: int = 0,
        live_writer: bool = False,
        inactive_s: float = 7 * 86400.0,
        on_progress: Callable[[ReplayProgress], None] | None = None,
        fetch_batch: int = 256,
    ) -> None:
        self.fetch_batch = fetch_batch
        self.spec = spec
        self._broker_factory = broker
        self.store = store
        self.price = price
        self.flush_log_dir = flush_log_dir
        self.events_per_s = events_per_s
        self.live_writer = live_writer
        self.inactive_s = inactive_s
        self.on_progress = on_progress
        self.progress = ReplayProgress(spec.durable)
        self._end = asyncio.Event()
        self._reached_end = False
        self._stopping = False
        self._writer: _ReplayWriter | None = None
        self._next_slot = 0.0

    def stop(self) -> None:
        """Stop after the batch in hand; the consumer stays, so the job can resume."""
        self._stopping = True
        if self._writer is not None:
            self._writer.stop()
        self._end.set()

    async def run(self) -> ReplayProgress:
        broker = self._broker_factory()
        try:
            nc: NATS = await broker.connect()
            js = nc.jetstream()
            end = await self._end_seq(js)
            self.progress.end_seq = end
            config = self.spec.consumer_config(self.inactive_s)
            info = await _consumer(js, config)
            self.progress.total_messages = info.num_pending + info.num_ack_pending
            last_done = info.ack_floor.stream_seq if info.ack_floor else 0
            self._writer = _ReplayWriter(
                self.progress,
                nc,
                self.store,
                self.price,
                staging_table=f"events_staging_{self.spec.durable.replace('-', '_')}",
                flush_log=FlushLog(self.flush_log_dir / self.spec.durable),
                max_deliveries=1,
            )
            await self._writer.prepare()
            self.progress.state = "running"
            self._report()
            if info.num_pending + info.num_ack_pending == 0 or last_done >= end:
                self._end.set()
            else:
                subscriber = self._subscribe(broker, config, end)
                await broker.start()
                await self._end.wait()
                await subscriber.stop()
            if self.progress.state == "failed":
                pass  # the consumer stays: the same job resumes once the cause is fixed
            elif self._stopping:
                self.progress.state = "stopped"
            else:
                await js.delete_consumer(EVENTS_STREAM, self.spec.durable)
                self.progress.state = "done"
        except Abandoned:
            self.progress.state = "stopped"
        except Exception as exc:
            log.exception("replay %s failed", self.spec.durable)
            self.progress.state = "failed"
            self.progress.error = f"{type(exc).__name__}: {exc}"
        finally:
            await broker.stop()
            self._report()
        return self.progress

    async def _end_seq(self, js: JetStreamContext) -> int:
        """The last stream sequence this job replays (see the module docstring)."""
        try:
            stream = await js.stream_info(EVENTS_STREAM)
        except NotFoundError:
            raise ReplayError(
                f"no {EVENTS_STREAM} stream: nothing was ever ingested here"
            ) from None
        end = stream.state.last_seq
        if self.live_writer:
            try:
                writer = await js.consumer_info(EVENTS_STREAM, WRITER_DURABLE)
            except NotFoundError:
                return end
            if writer.ack_floor is not None:
                end = min(end, writer.ack_floor.stream_seq)
        return end

    def _subscribe(self, broker: NatsBroker, config: ConsumerConfig, end: int) -> Any:
        # the job declares its own durable (config=...), unlike the live consumers, which
        # bind to streams.yaml's; decoding and the fetch guard are the live consumers' own
        subscriber = broker.subscriber(
            self.spec.subject,
            stream=JStream(EVENTS_STREAM, declare=False),
            durable=self.spec.durable,
            config=config,
            pull_sub=PullSub(batch_size=self.fetch_batch, timeout=0.5, batch=True),
            ack_policy=AckPolicy.MANUAL,
            inbox_prefix=f"{inbox_prefix(ROLE)}.".encode(),  # the only inbox the role may use
            decoder=raw_batch,
        )

        @subscriber
        async def handle(messages: list[Msg]) -> None:
            await self._handle(messages, end)

        guard_fetches(subscriber)
        return subscriber

    async def _handle(self, messages: list[Msg], end: int) -> None:
        if self._end.is_set():
            for msg in messages:  # redelivered at once when the job resumes
                await msg.nak()
            return
        wanted = [m for m in messages if self._in_range(m, end)]
        read_before = self.progress.read
        beat = asyncio.create_task(_in_progress(wanted))
        try:
            await self._write(wanted)
        except Abandoned:
            return
        except Exception as exc:
            log.exception("replay %s failed", self.spec.durable)
            self.progress.state = "failed"
            self.progress.error = f"{type(exc).__name__}: {exc}"
            self._end.set()
            return
        finally:
            beat.cancel()
        outside = [m for m in messages if m not in wanted]
        for msg in outside:  # later than this job's end: the live writer's, not ours
            await msg.ack_sync()
        if outside or messages[-1].metadata.num_pending == 0:
            self._reached_end = True  # past the end, or nothing more to deliver
        if self._reached_end and await self._nothing_in_flight():
            self._end.set()
        await self._throttle(self.progress.read - read_before)

    async def _nothing_in_flight(self) -> bool:
        """No message of this job is delivered and unacknowledged: one that an interrupted
        run had fetched comes back after the ack wait and must be written before the end."""
        assert self._writer is not None
        info = await self._writer.js.consumer_info(EVENTS_STREAM, self.spec.durable)
        return bool(info.num_ack_pending == 0)

    def _in_range(self, msg: Msg, end: int) -> bool:
        if msg.metadata.sequence.stream > end:
            return False
        to = self.spec.to_time
        return to is None or msg.metadata.timestamp <= to

    async def _write(self, messages: list[Msg]) -> None:
        writer = self._writer
        assert writer is not None
        batch = [(m.data, m.metadata.sequence.stream) for m in messages]
        parsed = await asyncio.to_thread(transform, batch, self.price)
        good, inserted, duplicates, _ = await writer.store_flush(messages, parsed)
        for msg, _ in good:  # acked for sure before the job checks what is still in flight
            await msg.ack_sync()
        read = sum(len(rows.request_ids) for _, rows in good)
        self.progress.messages += len(messages)
        self.progress.read += read
        self.progress.inserted += inserted
        self.progress.already_stored += duplicates
        metrics.REPLAY_READ.inc(read)
        metrics.REPLAY_INSERTED.inc(inserted)
        metrics.REPLAY_ALREADY_STORED.inc(duplicates)
        self._report()

    async def _throttle(self, events: int) -> None:
        """At most ``events_per_s`` on average, so a replay next to the live writer leaves
        it the store's capacity."""
        if self.events_per_s <= 0 or events == 0:
            return
        now = time.monotonic()
        self._next_slot = max(self._next_slot, now) + events / self.events_per_s
        if self._next_slot > now:
            await asyncio.sleep(self._next_slot - now)

    def _report(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.progress)


async def _consumer(js: JetStreamContext, config: ConsumerConfig) -> Any:
    """The job's consumer as it stands (resuming), or created now."""
    assert config.durable_name is not None
    try:
        return await js.consumer_info(EVENTS_STREAM, config.durable_name)
    except NotFoundError:
        return await js.add_consumer(EVENTS_STREAM, config)


async def _in_progress(messages: list[Msg]) -> None:
    """Tell JetStream every few seconds that ``messages`` are still being written, so a short
    ack wait (a quick resume after a crash) never redelivers a slow insert."""
    while True:
        await asyncio.sleep(ACK_WAIT_S / 3)
        for msg in messages:
            with contextlib.suppress(Exception):
                await msg.in_progress()
