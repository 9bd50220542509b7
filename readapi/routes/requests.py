"""Raw requests: filtered search with keyset pagination (newest first), and one request."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Path, Query, Request

from costobs_server.bounds import SupportedInstant, supported_instant
from costobs_server.currency import RateBook
from costobs_server.vocabulary import TAG_KEY, TAG_KEY_HELP
from readapi import _display
from readapi._context import AUTH_RESPONSES, From, OrgScope, Reader, To, range_info
from readapi._models import RequestDetail, RequestPage
from readapi._money import money
from readapi.math import ranges
from readapi.sql import requests as requests_sql

router = APIRouter(tags=["requests"], responses=AUTH_RESPONSES)

TAG_FILTER_RE = re.compile(rf"^(?P<key>{TAG_KEY})(?::(?P<value>.{{0,256}}))?$", re.DOTALL)
KEY_HELP = f"key: {TAG_KEY_HELP}"
MONEY_COLUMNS = frozenset(
    {"cost_usd", "sdk_cost_usd", "provider_cost_usd", "audio_seconds", "ingest_cost_usd"}
)
Text = Annotated[str | None, Query(min_length=1, max_length=256)]


def encode_cursor(timestamp: datetime, request_id: str) -> str:
    raw = orjson.dumps([timestamp.isoformat(timespec="milliseconds"), request_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> requests_sql.Cursor:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        ts, request_id = orjson.loads(raw)
        parsed = datetime.fromisoformat(ts)
        if parsed.tzinfo is not None or not isinstance(request_id, str):
            raise ValueError("bad cursor fields")
        supported_instant(parsed)
        return requests_sql.Cursor(parsed, request_id)
    except (binascii.Error, ValueError, TypeError, orjson.JSONDecodeError):
        raise HTTPException(422, "'cursor': not a cursor this API returned") from None


def parse_tag_filter(value: str) -> requests_sql.TagFilter:
    match = TAG_FILTER_RE.match(value)
    if match is None:
        raise HTTPException(422, f"'tag': {value[:80]!r} is not key or key:value ({KEY_HELP})")
    return requests_sql.TagFilter(match["key"], match["value"])


def _json_value(column: str, value: Any) -> Any:
    if value is None:
        return None
    if column in MONEY_COLUMNS or isinstance(value, Decimal):
        return money(value)
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds") + "Z"
    return value


def _record(columns: tuple[str, ...], row: tuple[Any, ...]) -> dict[str, Any]:
    return {c: _json_value(c, v) for c, v in zip(columns, row, strict=True)}


def _with_display(
    columns: tuple[str, ...], row: tuple[Any, ...], book: RateBook | None, org: OrgScope
) -> dict[str, Any]:
    """The record, with its cost in the display currency at the rate of its local day."""
    item = _record(columns, row)
    if book is not None:
        at: datetime = row[columns.index("timestamp")].replace(tzinfo=UTC)  # naive UTC
        day = at.astimezone(ranges.zone(org.timezone)).date()
        item["display"] = _display.day_block(book, day, item["cost_usd"])
    return item


@router.get("/v1/requests", response_model=RequestPage)
async def list_requests(
    org: Reader,
    request: Request,
    from_: From = None,
    to: To = None,
    provider: Text = None,
    model: Text = None,
    status: Text = None,
    feature: Text = None,
    customer_id: Text = None,
    user_id: Text = None,
    trace_id: Text = None,
    team: Text = None,
    service: Text = None,
    environment: Text = None,
    prompt_key: Text = None,
    prompt_version: Text = None,
    tag: Annotated[
        list[str] | None,
        Query(max_length=8, description="key (has the tag) or key:value; repeat for several"),
    ] = None,
    unpriced: Annotated[bool, Query(description="only events the price table missed")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=1024, description="next_cursor of the previous page")
    ] = None,
) -> dict[str, Any]:
    """Raw events, newest first. Pages are keyset-paginated on (timestamp, request_id), so a
    page never repeats or skips rows while new events arrive."""
    w = org.window(from_, to)
    values = {
        "provider": provider,
        "model": model,
        "status": status,
        "feature": feature,
        "customer_id": customer_id,
        "user_id": user_id,
        "trace_id": trace_id,
        "team": team,
        "service": service,
        "environment": environment,
        "prompt_key": prompt_key,
        "prompt_version": prompt_version,
    }
    filters = {k: v for k, v in values.items() if v is not None}
    tags = tuple(parse_tag_filter(t) for t in tag or ())
    after = decode_cursor(cursor) if cursor else None
    query = requests_sql.requests(org.org_id, w, filters, tags, unpriced, after, limit + 1)
    rows = await org.rows(query)
    page = rows[:limit]
    book = await _display.rate_book(request, org)
    items = [_with_display(requests_sql.LIST_COLUMNS, r, book, org) for r in page]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        next_cursor = encode_cursor(last[1], last[0])
    return {"range": range_info(w), "items": items, "next_cursor": next_cursor}


@router.get(
    "/v1/requests/{request_id}",
    response_model=RequestDetail,
    responses={404: {"description": "No such request in this org"}},
)
async def get_request(
    org: Reader,
    request: Request,
    request_id: Annotated[str, Path(min_length=1, max_length=256)],
    timestamp: Annotated[
        SupportedInstant | None,
        Query(description="the request's timestamp (from the list), to find it faster"),
    ] = None,
) -> dict[str, Any]:
    """One request with every stored field."""
    near = timestamp
    if near is not None and near.tzinfo is not None:
        near = near.astimezone(UTC).replace(tzinfo=None)
    rows = await org.rows(requests_sql.request_detail(org.org_id, request_id, near))
    if not rows and near is not None:  # a wrong hint must not hide the request
        rows = await org.rows(requests_sql.request_detail(org.org_id, request_id))
    if not rows:
        raise HTTPException(404, f"no request {request_id!r} in this org")
    book = await _display.rate_book(request, org)
    return _with_display(requests_sql.DETAIL_COLUMNS, rows[0], book, org)
