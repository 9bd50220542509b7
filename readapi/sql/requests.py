"""Raw requests: a filtered page (keyset on the sort key) and one request. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from costobs_server.store.columns import EVENT_COLUMNS
from costobs_server.vocabulary import DIMENSION_COLUMNS
from readapi.math.ranges import Window
from readapi.sql.common import INSTANTS, ORG, Query

LIST_COLUMNS = (
    "request_id",
    "timestamp",
    "provider",
    "model",
    "operation",
    *DIMENSION_COLUMNS,
    "tags",
    "status",
    "error_type",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "latency_ms",
    "cost_usd",
    "unpriced",
)
DETAIL_COLUMNS = tuple(c for c in EVENT_COLUMNS if c != "org_id")

REQUEST_FILTERS: dict[str, str] = {
    column: column for column in ("provider", "model", "status", *DIMENSION_COLUMNS)
}
"""Query parameter → column, for exact-match filters on raw requests."""


@dataclass(frozen=True)
class TagFilter:
    key: str
    value: str | None
    """None: the event only has to carry the key."""


@dataclass(frozen=True)
class Cursor:
    timestamp: datetime
    """Naive UTC, millisecond precision."""
    request_id: str


def requests(
    org: str,
    w: Window,
    filters: dict[str, str],
    tags: tuple[TagFilter, ...],
    unpriced_only: bool,
    after: Cursor | None,
    limit: int,
) -> Query:
    """Newest first; ``after`` continues strictly below the last row of the previous page
    (keyset on the sort key, so pages stay stable while new events arrive)."""
    params: dict[str, Any] = {"org": org, "t0": w.start_naive, "t1": w.end_naive}
    where = [ORG, INSTANTS]
    for name, value in sorted(filters.items()):
        where.append(f"{REQUEST_FILTERS[name]} = {{f_{name}:String}}")
        params[f"f_{name}"] = value
    for i, tag in enumerate(tags):
        params[f"tk{i}"] = tag.key
        if tag.value is None:
            where.append(f"mapContains(tags, {{tk{i}:String}})")
        else:
            where.append(f"tags[{{tk{i}:String}}] = {{tv{i}:String}}")
            params[f"tv{i}"] = tag.value
    if unpriced_only:
        where.append("unpriced")
    if after is not None:
        where.append("timestamp <= {c_ts:DateTime64(3, 'UTC')}")
        where.append("(timestamp, request_id) < ({c_ts:DateTime64(3, 'UTC')}, {c_id:String})")
        params["c_ts"] = after.timestamp
        params["c_id"] = after.request_id
    params["limit"] = limit
    return Query(
        f"SELECT {', '.join(LIST_COLUMNS)} FROM events WHERE {' AND '.join(where)} "
        "ORDER BY timestamp DESC, request_id DESC LIMIT {limit:UInt32}",
        params,
    )


def request_detail(org: str, request_id: str, near: datetime | None = None) -> Query:
    """At most one row of ``DETAIL_COLUMNS``. ``near`` (the event's own timestamp, naive UTC)
    narrows the read to one granule range; without it the request-id bloom index helps."""
    params: dict[str, Any] = {"org": org, "rid": request_id}
    where = "org_id = {org:String} AND request_id = {rid:String}"
    if near is not None:
        where += " AND timestamp = {ts:DateTime64(3, 'UTC')}"
        params["ts"] = near
    return Query(f"SELECT {', '.join(DETAIL_COLUMNS)} FROM events WHERE {where} LIMIT 1", params)
