"""Re-pricing through the API: ``POST /v1/reprice`` runs a job on the process that owns the
event store (``costobs reprice`` asks here while ``costobs up`` runs; admin key, the key's
org only) and streams its progress; ``GET /v1/reprice/jobs`` lists the org's jobs (read)."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from consumers.pricer import Pricer
from costobs_server.bounds import SupportedDay
from costobs_server.repricing import RepriceError, Request, reprice
from costobs_server.repricing.jobs import JobRecord, listed
from readapi._context import AUTH_RESPONSES, Admin, Reader
from readapi._models import Money
from readapi._money import money

router = APIRouter(tags=["reprice"], responses=AUTH_RESPONSES)

_NAME = Field(default="", max_length=256, description="'' = any")


class RepriceBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    date_from: SupportedDay = Field(alias="from", description="first UTC day, inclusive")
    date_to: SupportedDay = Field(alias="to", description="last UTC day, inclusive")
    provider: str = _NAME
    model: str = _NAME
    dry_run: bool = False


class RepriceJob(BaseModel):
    job_id: str
    started_at: str
    updated_at: str
    actor: str
    date_from: str
    date_to: str
    provider: str
    model: str
    pricing_version: str = Field(description="the price table version the job priced with")
    state: str = Field(description="running, done or interrupted")
    days_total: int
    days_done: int
    events_checked: int
    events_changed: int
    old_cost_usd: Money = Field(description="the checked events' cost before the job")
    new_cost_usd: Money = Field(description="… and after")


class RepriceJobs(BaseModel):
    jobs: list[RepriceJob]


def job_json(job: JobRecord) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "started_at": job.started_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
        "actor": job.actor,
        "date_from": job.date_from.isoformat(),
        "date_to": job.date_to.isoformat(),
        "provider": job.provider,
        "model": job.model,
        "pricing_version": job.pricing_version,
        "state": job.state,
        "days_total": job.days_total,
        "days_done": job.days_done,
        "events_checked": job.events_checked,
        "events_changed": job.events_changed,
        "old_cost_usd": money(job.old_cost_usd),
        "new_cost_usd": money(job.new_cost_usd),
    }


@router.get("/v1/reprice/jobs", response_model=RepriceJobs)
async def reprice_jobs(
    org: Reader, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    """The org's re-pricing jobs, newest first: when, who, the table version, the counts and
    the cost before and after (dry runs are not recorded)."""
    found = await run_in_threadpool(listed, org.services.store, org.org_id, limit)
    return {"jobs": [job_json(j) for j in found]}


@router.post(
    "/v1/reprice",
    responses={
        200: {
            "description": 'NDJSON: one {"progress": …} line per UTC day, then '
            '{"summary": …} (or {"error": …} naming why the job stopped)',
            "content": {"application/x-ndjson": {}},
        }
    },
)
async def start_reprice(org: Admin, body: RepriceBody) -> StreamingResponse:
    """Re-price the org's stored events of ``from``..``to`` with the current price table and
    the org's overrides (``costobs reprice``). The job runs to its end even if the caller
    goes away; ``GET /v1/reprice/jobs`` shows it."""
    if body.date_from > body.date_to:
        raise HTTPException(422, f"'from' {body.date_from} is after 'to' {body.date_to}")
    request = Request(
        body.date_from,
        body.date_to,
        org=org.org_id,
        provider=body.provider,
        model=body.model,
        dry_run=body.dry_run,
        actor=f"key {org.key.prefix}… ({org.key.name})",
    )
    store, db = org.services.store, org.services.db
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def emit(kind: str, value: Any) -> None:
        loop.call_soon_threadsafe(lines.put_nowait, (kind, value))

    def work() -> None:
        try:
            # the overrides are read once per job: one job, one set of prices
            pricer = Pricer(overrides=db.price_overrides, refresh_seconds=math.inf)
            summary = reprice(store, pricer, request, lambda p: emit("progress", p))
            emit("summary", summary.to_dict())
        except RepriceError as exc:
            emit("error", str(exc))
        except Exception as exc:  # reported to the caller; the journal completes the day
            emit("error", f"re-pricing failed: {exc!r}")

    threading.Thread(target=work, name="reprice", daemon=True).start()

    async def stream() -> AsyncIterator[bytes]:
        while True:
            kind, value = await lines.get()
            yield orjson.dumps({kind: value}) + b"\n"
            if kind != "progress":
                return

    return StreamingResponse(stream(), media_type="application/x-ndjson")
