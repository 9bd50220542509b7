"""Where the events writer gets its messages from: the durable ``writer`` consumer of
``COSTOBS_EVENTS``, through FastStream (:class:`BrokerIntake`, what ``costobs`` runs) or
through nats-py directly (:class:`PullIntake`, kept for ``bench/ingest_e2e.py``, which
measures both in the same run).

Either way the writer decides what a flush is and acks each message itself, after the
insert that holds it: an intake only hands over fetched, unsettled messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

from faststream.nats.subscriber.usecases.basic import LogicSubscriber
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext

from costobs_server.broker import BatchHandler, RoleBroker, durable_batches
from costobs_server.streams import EVENTS_STREAM, WRITER_DURABLE

log = logging.getLogger(__name__)

FETCH_BATCH = 256
"""Messages per fetch (each holds up to a few thousand events)."""
QUEUED_FETCHES = 4
"""Fetched batches a BrokerIntake holds for the writer; beyond that the fetch loop waits."""


class Intake(Protocol):
    async def open(self) -> None:
        """Start receiving (bind to the durable consumer)."""

    async def fetch(self, wait_s: float) -> list[Msg]:
        """The next fetched messages, or ``[]`` when none came within ``wait_s`` seconds."""

    async def close(self) -> None:
        """Stop receiving; messages fetched and not handed over are given back to JetStream."""


class PullIntake:
    """nats-py's pull subscription, fetched by the writer itself."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self._sub: JetStreamContext.PullSubscription | None = None

    async def open(self) -> None:
        self._sub = await self.js.pull_subscribe_bind(WRITER_DURABLE, stream=EVENTS_STREAM)

    async def fetch(self, wait_s: float) -> list[Msg]:
        assert self._sub is not None, "open() first"
        try:
            return await self._sub.fetch(batch=FETCH_BATCH, timeout=wait_s)
        except (TimeoutError, NatsTimeout):
            return []
        except NatsError as exc:  # NATS away: the client reconnects by itself
            log.warning("fetching from JetStream failed (%r); retrying", exc)
            await asyncio.sleep(0.5)
            return []

    async def close(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()


def writer_subscriber(broker: RoleBroker, handler: BatchHandler) -> LogicSubscriber[Any]:
    """The events writer's subscriber (durable ``writer``) with ``handler``."""
    return durable_batches(
        broker,
        stream=EVENTS_STREAM,
        durable=WRITER_DURABLE,
        subject="costobs.events.>",
        batch_size=FETCH_BATCH,
        title="writer",
        description=(
            "The events writer (durable `writer`): flushes on size or time, skips events "
            "already stored, re-prices, inserts into ClickHouse, then acks; dead-letters "
            "to costobs.dlq.events. Payload: EventsMessage (see the ingest publisher of "
            "costobs.events.{org_id})."
        ),
    )(handler)


class BrokerIntake:
    """A FastStream subscriber on the process's broker; its handler queues each fetched
    batch for the writer (bounded: a full queue holds the fetch loop back).

    Registered at construction, so the broker's ``start()`` starts it and the AsyncAPI
    document lists it."""

    def __init__(self, broker: RoleBroker) -> None:
        self._ready: asyncio.Queue[list[Msg]] = asyncio.Queue(QUEUED_FETCHES)
        self._closed = False
        self.subscriber = writer_subscriber(broker, self._take)

    async def _take(self, messages: list[Msg]) -> None:
        if self._closed:
            await _give_back(messages)
            return
        await self._ready.put(messages)

    async def open(self) -> None:
        """Nothing to do: the broker's ``start()`` started the subscriber."""

    async def fetch(self, wait_s: float) -> list[Msg]:
        try:
            return await asyncio.wait_for(self._ready.get(), wait_s)
        except TimeoutError:
            return []

    async def close(self) -> None:
        self._closed = True
        await self._give_back_queued()  # frees a handler waiting to queue its batch
        await self.subscriber.stop()  # no more fetches; waits for that handler
        await self._give_back_queued()

    async def _give_back_queued(self) -> None:
        while not self._ready.empty():
            await _give_back(self._ready.get_nowait())


async def _give_back(messages: list[Msg]) -> None:
    """Nak without delay: the writer stopped before handling them; deliver them again now."""
    for msg in messages:
        with contextlib.suppress(Exception):
            await msg.nak()
