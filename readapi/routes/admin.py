"""The org and its API keys: ``GET/PATCH /v1/org``, ``GET/POST /v1/keys``,
``DELETE /v1/keys/{id}``. Reading the org needs ``read``; changing anything needs ``admin``."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from costobs_server.metadata.db import KeyInfo, MetadataDB
from costobs_server.metadata.models import Org
from readapi._context import AUTH_RESPONSES, Admin, OrgScope, Reader, zones
from readapi._models import ApiKeyOut, ApiKeys, NewApiKey, OrgInfo
from readapi.math import ranges
from readapi.sql import spend as spend_sql

router = APIRouter(tags=["org"], responses=AUTH_RESPONSES)


@lru_cache(maxsize=1)
def _price_table() -> tuple[str, int]:
    from costobs.pricing import load_price_table

    table = load_price_table()
    return table.version, len(table.entries)


def _iso(value: datetime | None) -> str | None:
    """Metadata timestamps are UTC; SQLite hands them back without a zone."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def key_json(info: KeyInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "name": info.name,
        "prefix": info.prefix,
        "scopes": list(info.scopes),
        "created_at": _iso(info.created_at),
        "revoked_at": _iso(info.revoked_at),
        "active": info.revoked_at is None,
    }


def _org_row(db: MetadataDB, org_id: str) -> tuple[str, str]:
    with db.session() as s:
        org = s.get(Org, org_id)
        return (org.name, org.timezone) if org else (org_id, "UTC")


def _set_timezone(db: MetadataDB, org_id: str, timezone: str) -> None:
    with db.session() as s, s.begin():
        org = s.get(Org, org_id)
        if org is None:
            raise HTTPException(404, f"no org {org_id!r}")
        org.timezone = timezone


async def _org_json(org: OrgScope) -> dict[str, Any]:
    db = org.services.db
    name, timezone = await run_in_threadpool(_org_row, db, org.org_id)
    activity = (await org.rows(spend_sql.activity(org.org_id)))[0]
    events, first_day, last_day = activity
    has_events = bool(events)
    version, entries = _price_table()
    return {
        "id": org.org_id,
        "name": name,
        "timezone": timezone,
        "today": ranges.today(timezone).isoformat(),
        "has_events": has_events,
        "first_event_date": first_day.isoformat() if has_events else None,
        "last_event_date": last_day.isoformat() if has_events else None,
        "price_table_version": version,
        "price_table_entries": entries,
        "credential": {
            "id": org.key.id,
            "name": org.key.name,
            "prefix": org.key.prefix,
            "scopes": list(org.key.scopes),
        },
    }


@router.get("/v1/org", response_model=OrgInfo)
async def get_org(org: Reader) -> dict[str, Any]:
    """The credential's org: time zone, whether it has events yet, the price table in use."""
    return await _org_json(org)


class OrgPatch(BaseModel):
    timezone: str = Field(max_length=64, description="IANA time zone, e.g. Europe/Berlin")


@router.patch("/v1/org", response_model=OrgInfo)
async def patch_org(org: Admin, body: OrgPatch, request: Request) -> dict[str, Any]:
    """Change the org's time zone (ranges and daily figures follow it)."""
    try:
        ranges.zone(body.timezone)
    except ranges.RangeError as exc:
        raise HTTPException(422, f"'timezone': {exc}") from None
    await run_in_threadpool(_set_timezone, org.services.db, org.org_id, body.timezone)
    zones(request).forget(org.org_id)
    return await _org_json(OrgScope(org.key, body.timezone, org.services))


@router.get("/v1/keys", response_model=ApiKeys)
async def list_keys(org: Admin) -> dict[str, Any]:
    """Every key of the org, revoked ones included; secrets are never shown again."""
    keys = await run_in_threadpool(org.services.db.list_keys, org.org_id)
    return {"keys": [key_json(k) for k in keys]}


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=256)
    scopes: list[Literal["ingest", "read", "admin"]] = Field(
        default=["ingest"], min_length=1, max_length=3
    )


@router.post("/v1/keys", response_model=NewApiKey, status_code=201)
async def create_key(org: Admin, body: KeyCreate) -> dict[str, Any]:
    """A new key. Its secret is in this response only; store it now."""
    scopes = tuple(dict.fromkeys(body.scopes))
    new = await run_in_threadpool(org.services.db.create_key, org.org_id, body.name, scopes)
    return {**key_json(new.info), "secret": new.secret}


@router.delete(
    "/v1/keys/{key_id}",
    response_model=ApiKeyOut,
    responses={404: {"description": "No such key in this org"}},
)
async def revoke_key(
    org: Admin, key_id: Annotated[str, Path(min_length=1, max_length=32)]
) -> dict[str, Any]:
    """Revoke a key (idempotent). Within the key cache time it stops working everywhere."""
    found = await run_in_threadpool(org.services.db.revoke_key, org.org_id, key_id)
    if not found:
        raise HTTPException(404, f"no key {key_id!r} in this org")
    keys = await run_in_threadpool(org.services.db.list_keys, org.org_id)
    return key_json(next(k for k in keys if k.id == key_id))


class OverrideCreate(BaseModel):
    spec: dict[str, Any] = Field(description="one override as in pricing/README.md")
    note: str = Field(default="", max_length=1000)


class OverrideOut(BaseModel):
    id: str
    spec: dict[str, Any]
    note: str


@router.post(
    "/v1/price-overrides",
    response_model=OverrideOut,
    status_code=201,
    responses={422: {"description": "The pricing engine refused the override (reason given)"}},
)
async def add_override(org: Admin, body: OverrideCreate) -> dict[str, Any]:
    """Add a per-org price override, as ``costobs overrides add`` does (Reconcile's one-click
    fix of a stable drift). The writer applies it to events it prices from then on (its
    per-org table refreshes within 30 s); stored events keep their price."""
    from costobs.pricing import PricingError

    try:
        override_id = await run_in_threadpool(
            org.services.db.add_price_override, org.org_id, body.spec, body.note
        )
    except (PricingError, ValueError) as exc:
        raise HTTPException(422, str(exc)) from None
    return {"id": override_id, "spec": body.spec, "note": body.note}
