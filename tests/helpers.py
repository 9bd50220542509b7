"""Helpers shared by the server tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from nats.aio.client import Client as NATS

from costobs_server.metadata.db import MetadataDB
from costobs_server.nats_auth import ADMIN, connect
from costobs_server.nats_server import NatsServer
from costobs_server.serve import Stack
from costobs_server.settings import Settings
from costobs_server.streams import ensure_streams


async def nats_client(server: NatsServer, role: str = ADMIN) -> NATS:
    """A client of a test NATS server as ``role``'s generated user (never unauthenticated)."""
    return await connect(server.url, server.auth(role), role)


async def create_streams(server: NatsServer, settings: Settings) -> None:
    """What a writer does at start: apply the stream definitions (for tests with no writer)."""
    nc = await nats_client(server, "writer")
    try:
        await ensure_streams(nc.jetstream(), settings)
    finally:
        await nc.close()


@dataclass
class Org:
    id: str
    key: str
    db: MetadataDB

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def new_org(db: MetadataDB, scopes: tuple[str, ...] = ("ingest", "read", "admin")) -> Org:
    org_id = f"t{uuid.uuid4().hex[:12]}"
    db.ensure_org(org_id)
    return Org(org_id, db.create_key(org_id, "test", scopes).secret, db)


@dataclass
class Running:
    stack: Stack
    url: str
    client: httpx.AsyncClient
    org: Org

    async def post(
        self, events: list[dict[str, Any]], batch_id: str | None = None, org: Org | None = None
    ) -> httpx.Response:
        org = org or self.org
        return await self.client.post(
            "/v1/events",
            json={"batch_id": batch_id or uuid.uuid4().hex, "events": events},
            headers=org.headers,
        )

    async def summary(self, day_from: str, day_to: str, org: Org | None = None) -> dict[str, Any]:
        r = await self.client.get(
            "/v1/usage/summary",
            params={"from": day_from, "to": day_to},
            headers=(org or self.org).headers,
        )
        assert r.status_code == 200, r.text
        return dict(r.json())


async def eventually(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool], within: float = 20.0
) -> None:
    """Wait until ``check()`` is true; fail with a clear message if it never is."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.05)


def event(i: int = 0, **overrides: Any) -> dict[str, Any]:
    """A valid wire event."""
    base: dict[str, Any] = {
        "request_id": uuid.uuid4().hex,
        "timestamp": "2026-11-20T10:00:00.000Z",
        "provider": "openai",
        "model": "gpt-4o",
        "operation": "chat",
        "feature": "summarize",
        "customer_id": f"cust-{i % 3}",
        "tags": {"pr": str(100 + i % 2)},
        "usage": {"input_tokens": 1000 + i, "output_tokens": 100},
        "latency_ms": 120,
        "cost_usd": "0.0035",
        "sdk_language": "python",
        "sdk_version": "0.1.0",
    }
    base.update(overrides)
    return base
