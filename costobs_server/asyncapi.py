"""The AsyncAPI document of every CostObs subject and payload: ``make asyncapi`` writes it to
``docs/asyncapi.yaml`` (``python -m costobs_server.asyncapi``); a test regenerates and compares.

It is FastStream's own rendering of the brokers as the processes build them: the writer role's
subscribers (events writer, bills writer) and alertd's are registered by the same functions
the running code uses. Publishers are declared here for the document: ingest and billsyncd
publish through nats-py (pipelined publishes with ``Nats-Msg-Id``, ingest/publisher.py) and
the writers' dead letters through consumers/dead_letter.py; their subjects, streams and
payloads are the ones below. Nothing here connects to NATS.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from faststream.specification import AsyncAPI
from pydantic import BaseModel

from alerting.worker import alertd_subscriber
from consumers.bills import bills_subscriber
from consumers.intake import writer_subscriber
from costobs_server.broker import BatchHandler, RoleBroker
from costobs_server.nats_auth import NatsAuth
from costobs_server.streams import (
    BILLS_DLQ_SUBJECT,
    BILLS_STREAM,
    DLQ_STREAM,
    DLQ_SUBJECT,
    EVENTS_STREAM,
)
from costobs_server.wire import BillRow, Event

SERVER = "nats://nats:4222"  # the docker compose / Helm service name; any server works
DEAD_LETTER_HEADERS = (
    "Headers: CostObs-Reason, CostObs-Stream, CostObs-Subject, CostObs-Stream-Seq, "
    "CostObs-Deliveries, CostObs-First-Failure, CostObs-Last-Failure (RFC 3339 UTC), "
    "Nats-Msg-Id dlq:<stream>:<seq>. Payload: the original message, unchanged."
)


# pydantic models, not TypedDicts: FastStream 0.7.8 names a TypedDict payload with nested
# definitions after the first of them (``Event``) instead of itself.
class EventsMessage(BaseModel):
    """One message of COSTOBS_EVENTS: a chunk of an accepted ingest batch (at most the
    server's max_payload). Headers: Nats-Msg-Id <org>:<batch_id>:<chunk> (JetStream drops a
    retried batch), CostObs-Events (how many events)."""

    org_id: str
    received_at: str
    """When ingest accepted the batch, RFC 3339 UTC."""
    events: list[Event]


class BillsMessage(BaseModel):
    """One message of COSTOBS_BILLS: provider bills of one org, from billing sync or an import."""

    org_id: str
    bills: list[BillRow]


async def _events(message: EventsMessage) -> None:
    """Each message's payload, for the document: these brokers are never started."""
    raise RuntimeError("the AsyncAPI brokers only describe; they are never started")


async def _bills(message: BillsMessage) -> None:
    """Each message's payload, for the document: these brokers are never started."""
    raise RuntimeError("the AsyncAPI brokers only describe; they are never started")


def _documents(payload: Any) -> BatchHandler:
    """A handler whose signature names the payload of one message: the subscribers' real
    handlers take the raw batch (``list[nats.aio.msg.Msg]``), which says nothing."""
    handler: BatchHandler = payload
    return handler


def _broker(role: str, description: str) -> RoleBroker:
    return RoleBroker(SERVER, NatsAuth(), role, description=description)


def brokers() -> list[RoleBroker]:
    """The role brokers with every subscriber and publisher, as documented."""
    ingest = _broker("ingest", "ingest: accepted events and imported bills into JetStream")
    ingest.publisher(
        "costobs.events.{org_id}",
        stream=EVENTS_STREAM,
        schema=EventsMessage,
        title="ingest-events",
        description="POST /v1/events and /v1/traces: answered 202 after the PubAck.",
    )
    ingest.publisher(
        "costobs.bills.{org_id}",
        stream=BILLS_STREAM,
        schema=BillsMessage,
        title="ingest-bills",
        description="POST /v1/bills (bill imports).",
    )
    billsyncd = _broker("billsyncd", "billsyncd: provider billing APIs into JetStream")
    billsyncd.publisher(
        "costobs.bills.{org_id}",
        stream=BILLS_STREAM,
        schema=BillsMessage,
        title="billsyncd-bills",
        description="The last COSTOBS_BILLING_LOOKBACK_DAYS days of each configured provider.",
    )
    writer = _broker("writer", "writer: events and bills into ClickHouse, dead letters")
    writer_subscriber(writer, _documents(_events))
    bills_subscriber(writer, _documents(_bills))
    for subject, source in ((DLQ_SUBJECT, EVENTS_STREAM), (BILLS_DLQ_SUBJECT, BILLS_STREAM)):
        writer.publisher(
            subject,
            stream=DLQ_STREAM,
            schema=bytes,
            title=f"dead-letters-{source.removeprefix('COSTOBS_').lower()}",
            description=f"A {source} message that failed after N deliveries. "
            + DEAD_LETTER_HEADERS,
        )
    alertd = _broker("alertd", "alertd: spend alerts from the events stream")
    alertd_subscriber(alertd, _documents(_events))
    return [ingest, billsyncd, writer, alertd]


def document() -> str:
    """The AsyncAPI 3.0 document, YAML."""
    from importlib.metadata import version

    spec: Any = AsyncAPI(
        *brokers(),
        title="CostObs JetStream",
        version=version("costobs-server"),
        description=(
            "Subjects and payloads of CostObs's JetStream streams (streams and consumers as "
            "code: costobs_server/streams.yaml). Every consumer acks manually, after its "
            "durable write."
        ),
        schema_version="3.0.0",
    )
    data = json.loads(spec.to_specification().to_json())
    # FastStream keeps a broker's publishers in hash order: sort, so the file is stable
    for section in (data["channels"], data["operations"], *data["components"].values()):
        ordered = dict(sorted(section.items()))
        section.clear()
        section.update(ordered)
    text: str = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    return text


if __name__ == "__main__":
    print(document(), end="")
