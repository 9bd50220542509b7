"""What every role of a process shares: settings, the metadata DB, the event store, NATS."""

from __future__ import annotations

from dataclasses import dataclass

from nats.aio.client import Client as NATS

from costobs_server.metadata.db import MetadataDB
from costobs_server.settings import Settings
from costobs_server.store import EventStore


@dataclass
class Services:
    settings: Settings
    db: MetadataDB
    store: EventStore
    nc: NATS | None = None
