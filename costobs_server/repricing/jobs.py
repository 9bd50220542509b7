"""The record of re-pricing jobs (table ``reprice_jobs``, migration 0011): one row per job and
org, rewritten as the job advances (newest wins). Kept in ClickHouse beside the events it
describes, so a job and its effect are in one store and one backup."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson

from costobs_server.store import EventStore

COLUMNS = (
    "org_id",
    "job_id",
    "started_at",
    "updated_at",
    "actor",
    "date_from",
    "date_to",
    "provider",
    "model",
    "pricing_version",
    "state",
    "days_total",
    "days_done",
    "events_checked",
    "events_changed",
    "old_cost_usd",
    "new_cost_usd",
)


@dataclass
class JobRecord:
    org_id: str
    job_id: str
    started_at: datetime
    actor: str
    date_from: date
    date_to: date
    provider: str
    model: str
    pricing_version: str
    state: str = "running"
    """running → done; ``interrupted`` when it stopped early (days done hold the new
    figures, the others the old ones); a job still ``running`` after its process ended was
    stopped hard: its last day is completed by recovery."""
    days_total: int = 0
    days_done: int = 0
    events_checked: int = 0
    events_changed: int = 0
    old_cost_usd: Decimal = Decimal(0)
    new_cost_usd: Decimal = Decimal(0)
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def save(store: EventStore, record: JobRecord) -> None:
    record.updated_at = datetime.now(UTC)
    line = orjson.dumps(asdict(record), default=_text)
    store.client.raw_insert(
        "reprice_jobs",
        insert_block=line,
        fmt="JSONEachRow",
        settings={"date_time_input_format": "best_effort", "async_insert": 0},
    )


def _text(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(type(value).__name__)


def listed(store: EventStore, org_id: str, limit: int = 100) -> list[JobRecord]:
    """The org's jobs, newest first."""
    rows = store.query(
        f"SELECT {', '.join(COLUMNS)} FROM reprice_jobs FINAL WHERE org_id = {{org:String}} "
        "ORDER BY started_at DESC, job_id DESC LIMIT {limit:UInt32}",
        {"org": org_id, "limit": limit},
    )
    out = []
    for row in rows:
        values: dict[str, Any] = dict(zip(COLUMNS, row, strict=True))
        for stamp in ("started_at", "updated_at"):
            values[stamp] = values[stamp].replace(tzinfo=UTC)
        out.append(JobRecord(**values))
    return out


def mark_stopped(store: EventStore, job_ids: set[str]) -> None:
    """Jobs whose process ended in the middle of a day: ``interrupted`` once recovered."""
    if not job_ids:
        return
    rows = store.query(
        f"SELECT {', '.join(COLUMNS)} FROM reprice_jobs FINAL "
        "WHERE job_id IN {jobs:Array(String)} AND state = 'running'",
        {"jobs": sorted(job_ids)},
    )
    for row in rows:
        values: dict[str, Any] = dict(zip(COLUMNS, row, strict=True))
        save(store, JobRecord(**values | {"state": "interrupted"}))
