"""A queue that stops answering: ingest sheds load with 429 + Retry-After instead of piling
up requests, and the batch it was publishing still completes once the queue answers."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import httpx

from costobs_server.nats_server import NatsServer, free_port
from costobs_server.serve import Stack
from costobs_server.settings import load_settings
from costobs_server.store import EventStore
from costobs_server.streams import EVENTS_STREAM
from tests.helpers import (
    FIXED_CLOCK_WINDOW,
    create_streams,
    event,
    eventually,
    nats_client,
    new_org,
)


async def test_saturated_ingest_answers_429_then_recovers(
    tmp_path: Path, data_dir: Path, store: EventStore
) -> None:
    server = NatsServer(tmp_path / "nats")
    server.start()
    settings = load_settings(
        data_dir=data_dir,
        nats_url=server.url,
        port=free_port(),
        metadata_url=f"sqlite:///{tmp_path / 'm.sqlite3'}",
        max_inflight_batches=1,
        **FIXED_CLOCK_WINDOW,
    )
    await create_streams(server, settings)  # ingest alone never creates them
    stack = Stack(settings, frozenset({"ingest"}), nats_auth=server.auth)
    await stack.start()
    assert stack.services is not None and server.process is not None
    org = new_org(stack.services.db)
    url = f"http://127.0.0.1:{settings.port}"
    try:
        async with httpx.AsyncClient(base_url=url, headers=org.headers, timeout=30) as client:
            assert stack.http is not None
            publisher = stack.http.config.app.state.publisher
            os.kill(server.process.pid, signal.SIGSTOP)  # connected, but never acknowledges
            first = asyncio.create_task(
                client.post("/v1/events", json={"batch_id": "a", "events": [event(0)]})
            )
            await eventually(lambda: publisher.saturated, within=10)  # "a" holds the one slot
            shed = await client.post("/v1/events", json={"batch_id": "b", "events": [event(1)]})
            assert shed.status_code == 429
            assert shed.headers["Retry-After"] == "1"
            assert not first.done()  # shedding "b" did not disturb "a"
            os.kill(server.process.pid, signal.SIGCONT)
            done = await first
            # the queue answered within the publish timeout: "a" completes as accepted
            assert done.status_code == 202, done.text
            assert done.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
            again = await client.post("/v1/events", json={"batch_id": "b", "events": [event(1)]})
            assert again.status_code == 202
            assert again.json()["accepted"] == 1
            retried = await client.post("/v1/events", json={"batch_id": "a", "events": [event(0)]})
            assert retried.json() == {"accepted": 0, "duplicates": 1, "rejected": []}
            nc = await nats_client(server)
            try:
                info = await nc.jetstream().stream_info(EVENTS_STREAM)
                assert info.state.messages == 2  # "a" once, "b" once: nothing from the 429
            finally:
                await nc.close()
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
        await stack.stop()
        server.stop()
