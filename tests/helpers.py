"""Helpers shared by the server tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from nats.aio.client import Client as NATS

from costobs_server.metadata.db import MetadataDB
from costobs_server.nats_auth import ADMIN, connect
from costobs_server.nats_server import NatsServer, free_port
from costobs_server.serve import Stack
from costobs_server.settings import Settings, load_settings
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


FIXED_CLOCK_WINDOW: dict[str, Any] = {
    "max_event_age_days": 36500,
    "max_clock_skew_s": 100 * 365 * 86400,
}
"""Settings for stacks fed the tests' events, which carry fixed 2026 dates whatever today is:
any timestamp in the supported range is inside the window (tests/test_ingest_limits.py tests
the window itself)."""


def settings_env(settings: dict[str, Any]) -> dict[str, str]:
    """The same settings as ``COSTOBS_*`` variables, for a process."""
    return {f"COSTOBS_{name.upper()}": str(value) for name, value in settings.items()}


@asynccontextmanager
async def running_stack(
    nats: NatsServer, data_dir: Path, tmp_path: Path, **overrides: Any
) -> AsyncIterator[Running]:
    """Ingest + writer in this process against a test nats-server and the session's chDB,
    with a fresh org; ``overrides`` are settings."""
    settings = load_settings(
        data_dir=data_dir,
        nats_url=nats.url,
        port=free_port(),
        metadata_url=f"sqlite:///{tmp_path / 'metadata.sqlite3'}",
        writer_flush_ms=100,
        key_cache_seconds=0.5,
        compact_interval_s=0,  # tests that want the pair rollups run the compactor themselves
        **overrides,
    )
    stack = Stack(settings, frozenset({"ingest", "writer"}), nats_auth=nats.auth)
    await stack.start()
    assert stack.services is not None
    org = new_org(stack.services.db)
    url = f"http://127.0.0.1:{settings.port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            yield Running(stack, url, client, org)
    finally:
        await stack.stop()


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


def envelope(org: str, events: list[dict[str, Any]]) -> bytes:
    """An ingest envelope as ingest publishes it to ``costobs.events.<org>``."""
    import orjson

    from costobs_server.wire import validate_event

    return orjson.dumps(
        {
            "org_id": org,
            "received_at": "2026-11-20T10:00:01.000+00:00",
            "events": [validate_event(e) for e in events],
        }
    )
