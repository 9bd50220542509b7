"""Streams as code: ``costobs_server/streams.yaml`` applied idempotently at start-up."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError

from costobs_server.errors import ConfigError
from costobs_server.settings import Settings

log = logging.getLogger(__name__)

DEFINITIONS = Path(__file__).resolve().parent / "streams.yaml"  # shipped in the wheel
EVENTS_STREAM = "COSTOBS_EVENTS"
BILLS_STREAM = "COSTOBS_BILLS"
DLQ_STREAM = "COSTOBS_DLQ"
WRITER_DURABLE = "writer"
BILLS_DURABLE = "bills-writer"
ALERTD_DURABLE = "alertd"


def events_subject(org_id: str) -> str:
    return f"costobs.events.{org_id}"


def bills_subject(org_id: str) -> str:
    return f"costobs.bills.{org_id}"


DLQ_SUBJECT = "costobs.dlq.events"
BILLS_DLQ_SUBJECT = "costobs.dlq.bills"
EVENT_COUNT_HEADER = "CostObs-Events"


@dataclass(frozen=True)
class Definitions:
    streams: list[StreamConfig]
    consumers: list[tuple[str, ConsumerConfig]]


def load_definitions(settings: Settings, path: Path = DEFINITIONS) -> Definitions:
    raw = yaml.safe_load(path.read_text())
    streams = [_stream(s, settings) for s in raw["streams"]]
    consumers = [(c["stream"], _consumer(c, settings)) for c in raw["consumers"]]
    return Definitions(streams, consumers)


def _stream(spec: dict[str, Any], settings: Settings) -> StreamConfig:
    def setting_or(key: str, from_settings: float, default_key: str, scale: int) -> float:
        if spec.get(key) == "setting":
            return from_settings
        return float(spec[default_key]) * scale

    max_age = setting_or("max_age", settings.nats_max_age_days * 86400.0, "max_age_days", 86400)
    window = setting_or(
        "duplicate_window", float(settings.nats_duplicate_window_s), "duplicate_window_s", 1
    )
    if window > max_age:
        raise ConfigError(
            f"COSTOBS_NATS_DUPLICATE_WINDOW_S ({window:.0f}s) must not exceed the stream's "
            f"max age ({max_age:.0f}s) for {spec['name']}"
        )
    replicas = settings.nats_stream_replicas if spec.get("replicas") == "setting" else 1
    return StreamConfig(
        name=spec["name"],
        description=spec.get("description"),
        subjects=spec["subjects"],
        retention=RetentionPolicy(spec.get("retention", "limits")),
        storage=StorageType(spec.get("storage", "file")),
        discard=DiscardPolicy(spec.get("discard", "old")),
        max_age=max_age,
        duplicate_window=window,
        num_replicas=replicas,
    )


def _consumer(spec: dict[str, Any], settings: Settings) -> ConsumerConfig:
    ack_wait = spec.get("ack_wait_s", 30)
    if ack_wait == "setting":
        ack_wait = settings.writer_ack_wait_s
    return ConsumerConfig(
        durable_name=spec["durable"],
        filter_subject=spec.get("filter_subject"),
        ack_policy=AckPolicy(spec.get("ack_policy", "explicit")),
        ack_wait=float(ack_wait),
        max_ack_pending=int(spec.get("max_ack_pending", 1000)),
        deliver_policy=DeliverPolicy(spec.get("deliver_policy", "all")),
    )


async def ensure_streams(js: JetStreamContext, settings: Settings) -> None:
    """Create each stream and consumer, or update it when its definition changed."""
    definitions = load_definitions(settings)
    for config in definitions.streams:
        assert config.name is not None
        try:
            await js.stream_info(config.name)
        except NotFoundError:
            await js.add_stream(config)
            log.info("created stream %s", config.name)
        else:
            await js.update_stream(config)
    for stream, consumer in definitions.consumers:
        # Create-or-update: a durable consumer that exists keeps its old config otherwise.
        await js.add_consumer(stream, consumer)
