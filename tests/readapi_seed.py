"""Seeding for the read-API and dashboard tests: realistic events (the demo generator, with a
fixed clock) sent through the real ingest → JetStream → writer path, and the expected figures
computed independently in Python from the events sent."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from costobs_server.demo import generate_events
from tests.helpers import Org, Running, eventually

NOW = datetime(2026, 10, 15, 18, 0, tzinfo=UTC)
"""The seeded data's clock: events fall in the days before this instant."""
FIRST_DAY = "2026-09-01"
LAST_DAY = "2026-10-15"


def demo_events(count: int, days: int, seed: int = 7, now: datetime = NOW) -> list[dict[str, Any]]:
    return list(generate_events(count, days, seed=seed, now=now))


async def send(running: Running, events: list[dict[str, Any]], org: Org | None = None) -> None:
    """Post in batches and wait until the writer has stored them all."""
    org = org or running.org
    for start in range(0, len(events), 500):
        r = await running.post(events[start : start + 500], batch_id=uuid.uuid4().hex, org=org)
        assert r.status_code == 202, r.text
        assert not r.json()["rejected"], r.json()["rejected"][:3]

    await eventually(lambda: landed(running, org, events), within=30)


ROLLUPS_PER_EVENT = (
    "cost_daily",
    "cost_model_hourly",
    "cost_attr_daily",
    "cost_dim_daily WHERE dimension = 'status' AND",
    "cost_model_quarter",
    "cost_dim_model_daily WHERE dimension = 'user' AND",
    "cost_dim_model_half WHERE dimension = 'user' AND",
)
ROLLUPS_PER_TAG = ("cost_tag_hourly", "cost_tag_attr_daily")


async def landed(running: Running, org: Org, events: list[dict[str, Any]]) -> bool:
    """Every rollup holds the events. An insert fills its materialized views one after the
    other, so a reader can see one rollup complete before the next: wait for all of them."""
    store = running.stack.services.store  # type: ignore[union-attr]
    tags = sum(len(e.get("tags") or {}) for e in events)
    expected = [len(events)] * len(ROLLUPS_PER_EVENT) + [tags] * len(ROLLUPS_PER_TAG)
    sql = " UNION ALL ".join(
        f"SELECT {i} AS i, sum(requests) FROM {table}"
        + (" " if table.endswith("AND") else " WHERE ")
        + "org_id = {org:String}"
        for i, table in enumerate(ROLLUPS_PER_EVENT + ROLLUPS_PER_TAG)
    )
    rows = await asyncio.to_thread(store.query, sql, {"org": org.id})
    got = dict(rows)
    return all(int(got.get(i) or 0) >= n for i, n in enumerate(expected))


def cost(event: dict[str, Any]) -> Decimal:
    """The event's cost as the demo generator priced it with the bundled table — the same
    table the writer re-prices with, so this is what must be stored."""
    return Decimal(event["cost_usd"])


def local_day(event: dict[str, Any], timezone: str = "UTC") -> date:
    ts = datetime.fromisoformat(event["timestamp"])
    return ts.astimezone(ZoneInfo(timezone)).date()


def in_range(
    events: Iterable[dict[str, Any]], first: str, last: str, timezone: str = "UTC"
) -> list[dict[str, Any]]:
    a, b = date.fromisoformat(first), date.fromisoformat(last)
    return [e for e in events if a <= local_day(e, timezone) <= b]


def total_cost(events: Iterable[dict[str, Any]]) -> Decimal:
    return sum((cost(e) for e in events), Decimal(0))


def group_cost(
    events: Iterable[dict[str, Any]], key: Callable[[dict[str, Any]], Any]
) -> dict[Any, tuple[int, Decimal]]:
    """key(event) → (requests, exact cost)."""
    out: dict[Any, list[Any]] = defaultdict(lambda: [0, Decimal(0)])
    for e in events:
        acc = out[key(e)]
        acc[0] += 1
        acc[1] += cost(e)
    return {k: (v[0], v[1]) for k, v in out.items()}


def dec(text: str | None) -> Decimal:
    assert text is not None
    return Decimal(text)
