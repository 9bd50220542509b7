"""``GET /v1/export/focus``: the org's spend as a FOCUS 1.2 dataset (CSV or Parquet), streamed.

The range is read one org-local day at a time, grouped inside ClickHouse (``readapi._focus``
says how a row is made), so memory holds one day's groups whatever the range. Rollups do not
suffice here: the rows carry each event's attribution (Tags), which no rollup keeps whole.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from costobs_server.store import EventStore
from readapi import _focus, _time
from readapi._context import AUTH_RESPONSES, Reader

router = APIRouter(tags=["export"])

_SQL = """
SELECT toDate(timestamp, {tz:String}) AS day, provider, model, service_tier, batch,
       team, customer_id, feature, environment, service, tags,
       count(), sum(input_tokens), sum(cached_input_tokens),
       sum(cache_write_5m_tokens + cache_write_1h_tokens + cache_write_30m_tokens
           + cache_write_12h_tokens),
       sum(output_tokens), sum(reasoning_tokens),
       sum(cost_input_usd), sum(cost_cached_input_usd), sum(cost_cache_write_usd),
       sum(cost_output_usd), sum(cost_reasoning_usd), sum(cost_other_usd), sum(cost_usd)
FROM events
WHERE org_id = {org:String}
  AND timestamp >= {start:DateTime64(3, 'UTC')} AND timestamp < {end:DateTime64(3, 'UTC')}
GROUP BY day, provider, model, service_tier, batch, team, customer_id, feature, environment,
         service, tags
ORDER BY provider, model, service_tier, batch, team, customer_id, feature, environment, service
"""


def day_groups(store: EventStore, org_id: str, day: date, timezone: str) -> list[_focus.Group]:
    """One local day's groups (the unit of memory of an export)."""
    tz = _time.zone(timezone)
    params: dict[str, Any] = {
        "org": org_id,
        "tz": timezone,
        "start": _time.local_midnight(day, tz),
        "end": _time.local_midnight(day + timedelta(days=1), tz),
    }
    return [_focus.Group(*row) for row in store.query(_SQL, params)]


async def focus_stream(
    store: EventStore, org_id: str, first: date, last: date, timezone: str, fmt: str
) -> AsyncIterator[bytes]:
    tz = _time.zone(timezone)
    encoder = _focus.encoder(fmt)
    day = first
    while day <= last:
        groups = await run_in_threadpool(day_groups, store, org_id, day, timezone)
        chunk = [row for group in groups for row in _focus.rows(group, org_id, tz)]
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
    from_: Annotated[date, Query(alias="from", description="first local day, YYYY-MM-DD")],
    to: Annotated[date, Query(description="last local day (inclusive), YYYY-MM-DD")],
    format: Annotated[
        Literal["csv", "parquet"], Query(description="csv (default) or parquet")
    ] = "csv",
) -> StreamingResponse:
    window = scope.window(from_, to)  # validates the range (422 naming the problem)
    media = "text/csv" if format == "csv" else "application/vnd.apache.parquet"
    name = f"focus-{scope.org_id}-{window.first}-{window.last}.{format}"
    return StreamingResponse(
        focus_stream(
            scope.services.store, scope.org_id, window.first, window.last, scope.timezone, format
        ),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
