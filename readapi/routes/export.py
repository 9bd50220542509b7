"""``GET /v1/export/focus``: the org's spend as a FOCUS 1.2 dataset (CSV or Parquet), streamed.

The range is read one org-local day at a time (``readapi._focus.ROWS_SQL``: ClickHouse groups
that day's events and writes the rows), so memory holds one day's rows whatever the range.
Rollups do not suffice here: the rows carry each event's attribution (Tags), which no rollup
keeps whole.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from costobs_server.currency import RateBook, rate_text
from costobs_server.store import EventStore
from readapi import _display, _focus
from readapi._context import AUTH_RESPONSES, Reader
from readapi.math import ranges

router = APIRouter(tags=["export"])


def rows_between(
    store: EventStore,
    org_id: str,
    first: date,
    last: date,
    timezone: str,
    fmt: str,
    book: RateBook | None = None,
) -> bytes:
    """The rows of local days ``first``..``last`` in ClickHouse's ``fmt`` (CSV or Arrow); with
    a rate book, the display columns too (at ``first``'s rate: give one day at a time)."""
    tz = ranges.zone(timezone)
    params: dict[str, Any] = {
        "org": org_id,
        "tz": timezone,
        "start": ranges.local_midnight(first, tz),
        "end": ranges.local_midnight(last + timedelta(days=1), tz),
    }
    sql = _focus.ROWS_SQL
    if book is not None:
        assert first == last, "one rate per query: one day at a time"
        found = book.rate_for(first)
        sql = _focus.DISPLAY_ROWS_SQL
        params |= {
            "cur": book.currency.code,
            "rate": rate_text(found.rate) if found else "",
            "rate_date": found.rate_date.isoformat() if found else "",
            "fallback": bool(found and found.fallback),
        }
    return bytes(store.client.raw_query(sql, params, settings=_focus.SETTINGS, fmt=fmt))


async def focus_stream(
    store: EventStore,
    org_id: str,
    first: date,
    last: date,
    timezone: str,
    fmt: str,
    book: RateBook | None = None,
) -> AsyncIterator[bytes]:
    encoder = _focus.encoder(fmt, display=book is not None)
    day = first
    while day <= last:
        chunk = await run_in_threadpool(
            rows_between, store, org_id, day, day, timezone, encoder.clickhouse_format, book
        )
        data = encoder.encode(chunk)
        if data:
            yield data
        day += timedelta(days=1)
    tail = encoder.finish()
    if tail:
        yield tail


@router.get(
    "/v1/export/focus",
    summary="FOCUS 1.2 dataset of the org's spend (CSV or Parquet), streamed",
    responses={
        **AUTH_RESPONSES,
        200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}}},
    },
)
async def export_focus(
    scope: Reader,
    request: Request,
    from_: Annotated[date, Query(alias="from", description="first local day, YYYY-MM-DD")],
    to: Annotated[date, Query(description="last local day (inclusive), YYYY-MM-DD")],
    format: Annotated[
        Literal["csv", "parquet"], Query(description="csv (default) or parquet")
    ] = "csv",
) -> StreamingResponse:
    window = scope.window(from_, to)  # validates the range (422 naming the problem)
    book = await _display.rate_book(request, scope)
    encoder = _focus.encoder(format, display=book is not None)
    name = f"focus-{scope.org_id}-{window.first}-{window.last}.{format}"
    return StreamingResponse(
        focus_stream(
            scope.services.store,
            scope.org_id,
            window.first,
            window.last,
            scope.timezone,
            format,
            book,
        ),
        media_type=encoder.media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
