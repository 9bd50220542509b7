"""The writer's own ``/healthz`` (COSTOBS_WRITER_PORT): healthy while connected to NATS and
ClickHouse answers; unhealthy, saying why, when stuck retrying a failing store for longer than
COSTOBS_WRITER_UNHEALTHY_AFTER_S or when NATS is gone."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx

from consumers.pricer import Pricer
from consumers.writer import Writer
from consumers.writer_health import writer_report
from costobs_server.health import health_app
from costobs_server.nats_server import NatsServer, free_port
from costobs_server.settings import load_settings
from costobs_server.store import EventStore
from costobs_server.streams import ensure_streams, events_subject
from tests.helpers import FIXED_CLOCK_WINDOW, event, eventually, nats_client, running_stack
from tests.test_writer import FailingStore, clickhouse_error, count_events, envelope


async def _healthz(writer: Writer, unhealthy_after_s: float) -> httpx.Response:
    app = health_app("CostObs writer", lambda: writer_report(writer, 2.0, unhealthy_after_s))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://writer") as client:
        return await client.get("/healthz")


async def test_a_writer_stuck_retrying_turns_unhealthy_and_recovers(
    nats_server: NatsServer, store: EventStore
) -> None:
    org = f"h{uuid.uuid4().hex[:8]}"
    failing = FailingStore(
        store, failures=10**9, error=clickhouse_error(243, "NOT_ENOUGH_SPACE", "disk full")
    )
    nc = await nats_client(nats_server)
    await ensure_streams(nc.jetstream(), load_settings(nats_url=nats_server.url))
    writer = Writer(
        nc,
        failing,
        Pricer(),
        flush_ms=50,
        staging_table=f"events_staging_{org}",
        retry_delay_s=0.05,
    )
    await nc.jetstream().publish(events_subject(org), envelope(org, [event(0)]))
    healthy = await _healthz(writer, unhealthy_after_s=0.3)
    assert healthy.status_code == 200, healthy.text
    assert healthy.json()["status"] == "ok" and healthy.json()["clickhouse"] is True
    task = asyncio.create_task(writer.run())
    try:
        await eventually(lambda: writer.failing_since is not None, within=30)
        # failing, but not for long yet: a short outage is no reason to restart the writer
        assert (await _healthz(writer, unhealthy_after_s=60)).status_code == 200
        await asyncio.sleep(0.4)
        stuck = await _healthz(writer, unhealthy_after_s=0.3)
        assert stuck.status_code == 503
        why = stuck.json()["problems"]["retrying"]
        assert "COSTOBS_WRITER_UNHEALTHY_AFTER_S" in why and "NOT_ENOUGH_SPACE" in why
        assert stuck.json()["store_failing_s"] > 0.3

        failing.failures = 0  # the disk has room again: the same flush goes through
        await eventually(lambda: writer.stats.inserted == 1, within=30)
        assert count_events(store, org) == 1
        recovered = await _healthz(writer, unhealthy_after_s=0.3)
        assert recovered.status_code == 200, recovered.text
        assert recovered.json()["store_failing_s"] is None
    finally:
        writer.stop()
        await task
    await nc.close()
    gone = await _healthz(writer, unhealthy_after_s=60)
    assert gone.status_code == 503
    assert gone.json()["problems"] == {"nats": "not connected to NATS"}


async def test_clickhouse_not_answering_is_unhealthy(
    nats_server: NatsServer, store: EventStore
) -> None:
    class Down(FailingStore):
        def query(self, sql: str, parameters: object = None) -> object:
            raise ConnectionError("ClickHouse refused the connection")

    nc = await nats_client(nats_server)
    try:
        writer = Writer(nc, Down(store, 0, RuntimeError()), Pricer())
        r = await _healthz(writer, unhealthy_after_s=60)
        assert r.status_code == 503
        assert "refused the connection" in r.json()["problems"]["clickhouse"]
    finally:
        await nc.close()


async def test_the_writer_role_serves_healthz_on_its_port(
    nats_server: NatsServer, data_dir: Path, store: EventStore, tmp_path: Path
) -> None:
    port = free_port()
    async with running_stack(
        nats_server, data_dir, tmp_path, writer_port=port, **FIXED_CLOCK_WINDOW
    ) as running:
        url = f"http://127.0.0.1:{port}"
        r = await running.client.get(f"{url}/healthz")
        assert r.status_code == 200, r.text
        assert r.json()["nats"] is True and r.json()["clickhouse"] is True
        metrics = await running.client.get(f"{url}/metrics")
        assert "costobs_writer_events_inserted_total" in metrics.text
        assert ("writer", f"{url.replace('127.0.0.1', running.stack.settings.host)}/healthz") in (
            running.stack.endpoints()
        )


def test_embedded_costobs_up_serves_no_writer_port() -> None:
    assert load_settings().writer_port == 0
