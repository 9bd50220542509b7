"""A 3-node JetStream cluster (nats-server from the wheel, loopback) with R3 streams, under
steady SDK-like load through ingest: kill one node, then the stream leader as well, then bring
them back. Nothing is lost or stored twice (exact count and cost in the store), and ingest
answers 503 only for requests that overlapped the time no quorum existed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from nats.js import JetStreamContext

from costobs_server.metadata.db import DEV_KEY
from costobs_server.nats_server import binary, free_port
from costobs_server.streams import EVENTS_STREAM, WRITER_DURABLE
from tests.helpers import event

pytestmark = pytest.mark.slow
HEADERS = {"Authorization": f"Bearer {DEV_KEY}"}
DAY = "2026-11-22"
BATCH = 10
COSTOBS = (sys.executable, "-m", "costobs_server.cli")
PRICE = Decimal("2.5")  # 1M gpt-4o input tokens


@dataclass
class Node:
    name: str
    port: int
    route_port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, routes: list[int]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        conf = self.directory / "node.conf"
        conf.write_text(
            f"server_name: {self.name}\nlisten: 127.0.0.1:{self.port}\n"
            f'jetstream {{ store_dir: "{self.directory / "js"}" }}\n'
            f"cluster {{\n  name: costobs-test\n  listen: 127.0.0.1:{self.route_port}\n"
            f"  routes: [{', '.join(f'nats-route://127.0.0.1:{p}' for p in routes)}]\n}}\n"
        )
        log = (self.directory / "node.log").open("ab")
        self.process = subprocess.Popen([binary(), "-c", str(conf)], stdout=log, stderr=log)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


@dataclass
class Load:
    """SDK-like senders: each batch is retried with the same batch_id until accepted."""

    url: str
    sent_events: int = 0
    answers: list[tuple[float, float, int]] = field(default_factory=list)
    """(request start, request end, status) of every POST."""
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def sender(self, client: httpx.AsyncClient) -> None:
        usage = {"input_tokens": 1_000_000, "output_tokens": 0}
        while not self.stop.is_set():
            batch = {
                "batch_id": uuid.uuid4().hex,
                "events": [
                    event(i, timestamp=f"{DAY}T09:00:00Z", usage=usage) for i in range(BATCH)
                ],
            }
            while True:
                started = time.monotonic()
                try:
                    r = await client.post("/v1/events", json=batch, headers=HEADERS)
                    status = r.status_code
                except httpx.HTTPError:
                    status = 0
                self.answers.append((started, time.monotonic(), status))
                if status == 202:
                    break
                assert status in (503, 429, 0), f"unexpected answer {status}"
                await asyncio.sleep(0.2)
            self.sent_events += BATCH
            await asyncio.sleep(0.05)


async def _ask(urls: list[str], query: Callable[[JetStreamContext], Awaitable[Any]]) -> Any:
    """``query``'s answer from the cluster, or None while the cluster cannot give one."""
    try:
        nc = await nats.connect(urls, connect_timeout=1, max_reconnect_attempts=0)
    except Exception:
        return None
    try:
        return await query(nc.jetstream(timeout=2))
    except Exception:
        return None
    finally:
        await nc.close()


async def _leader(urls: list[str]) -> str | None:
    """The events stream's leader, or None while there is none (no quorum or an election)."""
    info = await _ask(urls, lambda js: js.stream_info(EVENTS_STREAM))
    return info.cluster.leader if info and info.cluster else None


async def _writer_caught_up(urls: list[str]) -> bool:
    info = await _ask(urls, lambda js: js.consumer_info(EVENTS_STREAM, WRITER_DURABLE))
    return bool(info and info.num_pending == 0 and info.num_ack_pending == 0)


async def _meta_ready(urls: list[str]) -> bool:
    return await _ask(urls, lambda js: js.account_info()) is not None


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[list[Node]]:
    nodes = [Node(f"n{i}", free_port(), free_port(), tmp_path / f"n{i}") for i in range(1, 4)]
    routes = [n.route_port for n in nodes]
    for node in nodes:
        node.start(routes)
    try:
        yield nodes
    finally:
        for node in nodes:
            node.kill()


async def _wait(check: Callable[[], Awaitable[bool]], within: float, what: str) -> float:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return time.monotonic()
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {within}s: {what}")


@dataclass
class Role:
    """A `costobs <role>` process; ``supervise`` restarts it when it exits, as compose's
    `restart: unless-stopped` and Kubernetes do."""

    args: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0

    def start(self) -> None:
        self.process = subprocess.Popen(
            [*COSTOBS, *self.args],
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    async def supervise(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            assert self.process is not None
            if self.process.poll() is not None:
                self.restarts += 1
                self.start()
            await asyncio.sleep(0.2)

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


async def test_r3_streams_survive_a_node_then_the_leader_losing_and_duplicating_nothing(
    cluster: list[Node], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ingest and writer are separate processes (server mode); the writer stores in chDB,
    ingest keeps a private chDB dir for its health check (chDB: one process per dir)."""
    urls = [n.url for n in cluster]
    await _wait(lambda: _meta_ready(urls), 30, "JetStream cluster meta leader")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("COSTOBS_")},
        "COSTOBS_MODE": "server",
        "COSTOBS_NATS_URL": ",".join(urls),
        "COSTOBS_NATS_STREAM_REPLICAS": "3",
        "COSTOBS_METADATA_URL": f"sqlite:///{tmp_path / 'metadata.sqlite3'}",
        "COSTOBS_WRITER_FLUSH_MS": "100",
        "COSTOBS_WRITER_ACK_WAIT_S": "3",
        "COSTOBS_WRITER_PROCESSES": "0",
    }
    port, store = free_port(), str(tmp_path / "store")
    ingest = Role(
        ["ingest", "--port", str(port), "--data-dir", str(tmp_path / "ingest")],
        env,
        tmp_path / "ingest.log",
    )
    writer = Role(["writer", "--data-dir", store], env, tmp_path / "writer.log")
    ingest.start()
    base = f"http://127.0.0.1:{port}"
    stop_supervising = asyncio.Event()
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            await _wait(healthy_at(client, ingest), 60, "ingest healthy")
            writer.start()
            supervisor = asyncio.create_task(writer.supervise(stop_supervising))
            leader = await _leader(urls)
            assert leader, "the events stream has no leader"
            load = Load(base)
            senders = [asyncio.create_task(load.sender(client)) for _ in range(2)]
            await asyncio.sleep(2)

            # 1. a follower dies: a quorum (2 of 3) remains
            next(n for n in cluster if n.name != leader).kill()
            await asyncio.sleep(3)
            # 2. the stream leader dies too: 1 of 3, no quorum
            no_quorum_from = time.monotonic()
            next(n for n in cluster if n.name == leader).kill()
            await asyncio.sleep(3)
            # 3. both come back; a leader is elected again
            for node in cluster:
                if node.process is None or node.process.poll() is not None:
                    node.start([n.route_port for n in cluster])

            async def has_leader() -> bool:
                return await _leader(urls) is not None

            no_quorum_until = await _wait(has_leader, 30, "a new stream leader")
            await asyncio.sleep(2)
            load.stop.set()
            _, pending = await asyncio.wait(senders, timeout=30)
            assert not pending, (
                "senders still retrying 30 s after the leader came back: "
                f"{[(round(a - no_quorum_until, 1), s) for a, _, s in load.answers[-8:]]}\n"
                f"{ingest.log.read_text()[-3000:]}"
            )
            for sender in senders:
                sender.result()
            assert ingest.process and ingest.process.poll() is None, "ingest died"

            unavailable = [a for a in load.answers if a[2] != 202]
            assert unavailable, "killing 2 of 3 nodes never made ingest answer 503"
            for started, ended, status in unavailable:
                assert status == 503, load.answers
                assert ended >= no_quorum_from and started <= no_quorum_until, (
                    f"503 outside the no-quorum window: request {started:.1f}-{ended:.1f}, "
                    f"window {no_quorum_from:.1f}-{no_quorum_until:.1f}"
                )
            expected = load.sent_events
            assert expected >= 10 * BATCH
            await _wait(lambda: _writer_caught_up(urls), 40, "the writer acked everything")
            await asyncio.sleep(4)  # past the writer's ack wait: redeliveries have landed
            await _wait(lambda: _writer_caught_up(urls), 40, "the writer acked everything")
        stop_supervising.set()
        await supervisor
        assert writer.stop() == 0, writer.log.read_text()[-3000:]
        assert ingest.stop() == 0, ingest.log.read_text()[-3000:]
        with capsys.disabled():
            print(
                f"\n[nats cluster] {expected} events, {len(unavailable)} answers 503 in "
                f"{no_quorum_until - no_quorum_from:.1f}s without quorum, "
                f"writer restarted {writer.restarts}x by the test's supervisor"
            )

        # Read what the writer stored: the read API over the writer's chDB dir.
        reader = Role(["ingest", "--port", str(port), "--data-dir", store], env, ingest.log)
        reader.start()
        try:
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                await _wait(healthy_at(client, reader), 60, "reader healthy")
                r = await client.get(
                    "/v1/usage/summary", params={"from": DAY, "to": DAY}, headers=HEADERS
                )
                summary = r.json()
                assert summary["requests"] == expected, summary
                assert Decimal(summary["cost_usd"]) == expected * PRICE
        finally:
            reader.stop()
    finally:
        stop_supervising.set()
        for role in (writer, ingest):
            if role.process is not None and role.process.poll() is None:
                role.process.kill()
                role.process.wait()


def healthy_at(client: httpx.AsyncClient, role: Role) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        assert role.process and role.process.poll() is None, role.log.read_text()[-3000:]
        try:
            return (await client.get("/healthz")).status_code == 200
        except httpx.HTTPError:
            return False

    return check
