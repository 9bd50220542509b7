"""Publishing accepted events to JetStream, one message per chunk of a batch.

A batch becomes one or more messages of at most the server's ``max_payload``. Each message
has ``Nats-Msg-Id = org:batch_id:chunk``, so an SDK retry of the same batch (same batch_id,
same events) is recognised by JetStream's duplicate window and stored once.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from nats.aio.client import Client as NATS
from nats.errors import ConnectionClosedError, NoRespondersError, OutboundBufferLimitError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import APIError

from costobs_server import errors
from costobs_server.streams import EVENT_COUNT_HEADER, bills_subject, events_subject

PUBLISH_TIMEOUT_S = 5.0


class Unavailable(errors.Unavailable):
    """JetStream did not acknowledge: the client should retry later."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Published:
    accepted: int
    duplicates: int


def chunk_payloads(
    org_id: str, received_at: str, events: Sequence[bytes], max_payload: int
) -> list[tuple[bytes, int]]:
    """Envelopes ``{"org_id","received_at","events":[…]}`` each within ``max_payload``.

    Deterministic for the same input, so a retried batch maps to the same message ids.
    Returns (payload, number of events) pairs.
    """
    head = b'{"org_id":' + orjson.dumps(org_id) + b',"received_at":' + orjson.dumps(received_at)
    head += b',"events":['
    budget = max_payload - len(head) - 2 - 512  # headroom for headers
    chunks: list[tuple[bytes, int]] = []
    current: list[bytes] = []
    size = 0
    for event in events:
        if current and size + len(event) + 1 > budget:
            chunks.append((head + b",".join(current) + b"]}", len(current)))
            current, size = [], 0
        current.append(event)
        size += len(event) + 1
    if current:
        chunks.append((head + b",".join(current) + b"]}", len(current)))
    return chunks


class Publisher:
    def __init__(self, nc: NATS, max_inflight: int) -> None:
        self.nc = nc
        self.js = nc.jetstream(timeout=PUBLISH_TIMEOUT_S)
        self._slots = max_inflight
        self._inflight = 0

    @property
    def saturated(self) -> bool:
        return self._inflight >= self._slots

    async def publish(
        self, org_id: str, batch_id: str, received_at: str, events: Sequence[bytes]
    ) -> Published:
        if not events:
            return Published(0, 0)
        if not self.nc.is_connected:
            raise Unavailable("the event queue (NATS) is not reachable", retry_after=5)
        chunks = chunk_payloads(org_id, received_at, events, self.nc.max_payload)
        subject = events_subject(org_id)
        self._inflight += 1
        try:
            acks = await asyncio.gather(
                *(
                    self.js.publish(
                        subject,
                        payload,
                        timeout=PUBLISH_TIMEOUT_S,
                        headers={
                            "Nats-Msg-Id": f"{org_id}:{batch_id}:{i}",
                            EVENT_COUNT_HEADER: str(count),
                        },
                    )
                    for i, (payload, count) in enumerate(chunks)
                ),
                return_exceptions=True,
            )
        finally:
            self._inflight -= 1
        accepted = duplicates = 0
        for ack, (_, count) in zip(acks, chunks, strict=True):
            if isinstance(ack, BaseException):
                raise _unavailable(ack)
            if ack.duplicate:
                duplicates += count
            else:
                accepted += count
        return Published(accepted, duplicates)


JETSTREAM_CANNOT_STORE = {
    10023: "insufficient resources",
    10028: "insufficient memory resources",
    10033: "account resource limits exceeded",
    10047: "insufficient storage resources",
    10077: "the stream's store failed",
}
"""JetStream API error codes meaning the server cannot store more now (its disk or limits)."""


def _unavailable(exc: BaseException) -> Unavailable:
    """Why JetStream did not acknowledge, for the 503: the server's own words when it answered."""
    if isinstance(exc, APIError) and exc.err_code in JETSTREAM_CANNOT_STORE:
        return Unavailable(
            f"the event queue (JetStream) cannot store events: {exc.description} "
            f"(JetStream error {exc.err_code}: {JETSTREAM_CANNOT_STORE[exc.err_code]}); "
            "free disk space or raise its limits",
            retry_after=30,
        )
    if isinstance(exc, APIError):
        return Unavailable(
            f"the event queue (JetStream) refused: {exc.description} "
            f"(JetStream error {exc.err_code})",
            retry_after=5,
        )
    if isinstance(exc, NatsTimeout | asyncio.TimeoutError):
        return Unavailable(
            f"the event queue (JetStream) did not acknowledge within {PUBLISH_TIMEOUT_S:g}s "
            "(NATS overloaded, frozen or its disk stalled)",
            retry_after=5,
        )
    if isinstance(exc, ConnectionClosedError | NoRespondersError | OutboundBufferLimitError):
        return Unavailable(f"the event queue (NATS) is not reachable: {type(exc).__name__}", 5)
    return Unavailable(f"publishing failed: {exc!r}", retry_after=5)


async def publish_bills(publisher: Publisher, org_id: str, bills: list[dict[str, object]]) -> bool:
    """One message per import; its id is the content hash, so a repeated import is one message.
    Returns whether JetStream had it already."""
    if not publisher.nc.is_connected:
        raise Unavailable("the event queue (NATS) is not reachable", retry_after=5)
    payload = orjson.dumps({"org_id": org_id, "bills": bills})
    msg_id = "bills:" + hashlib.sha256(payload).hexdigest()
    try:
        ack = await publisher.js.publish(
            bills_subject(org_id),
            payload,
            timeout=PUBLISH_TIMEOUT_S,
            headers={"Nats-Msg-Id": msg_id},
        )
    except Exception as exc:
        raise _unavailable(exc) from exc
    return bool(ack.duplicate)
