"""The shipping path against the REAL ingest (``costobs up``): exactly once across downtime.

Starts ``costobs up`` (embedded NATS + writer + chDB) on a free port in a temp dir, ships
events, stops it, keeps recording while it is down (the caller never blocks), starts it
again, and checks the read API counts every event exactly once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import costobs
import pytest

COSTOBS_BIN = Path(sys.executable).with_name("costobs")
DEV_KEY = "costobs_dev_secret_key"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not COSTOBS_BIN.exists(), reason="costobs server CLI not installed"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.data_dir.parent / "server.log", "ab")  # noqa: SIM115
        env = {k: v for k, v in os.environ.items() if not k.startswith("COSTOBS_")}
        env.update(COSTOBS_ALERTD_PORT="0", COSTOBS_BILLSYNCD_PORT="0")  # no fixed ports
        self.proc = subprocess.Popen(
            [
                str(COSTOBS_BIN),
                "up",
                "--data-dir",
                str(self.data_dir),
                "--port",
                str(self.port),
                "--no-dashboard",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.data_dir.parent / "server.log").read_text()[
                -3000:
            ]
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("costobs up did not become healthy")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def summary(self) -> dict[str, Any]:
        today = datetime.now(UTC).date()
        start, end = today - timedelta(days=1), today + timedelta(days=1)
        query = f"from={start.isoformat()}&to={end.isoformat()}"
        req = urllib.request.Request(
            f"{self.url}/v1/usage/summary?{query}", headers={"Authorization": f"Bearer {DEV_KEY}"}
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]

    def wait_for_requests(self, expected: int, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        summary = self.summary()
        while summary["requests"] < expected and time.monotonic() < deadline:
            time.sleep(0.3)
            summary = self.summary()
        return summary


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "data", _free_port())
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        shutil.rmtree(tmp_path / "data", ignore_errors=True)


def _record(n: int, tag: str) -> float:
    """Record n calls; return the slowest record() in seconds."""
    worst = 0.0
    for _ in range(n):
        t0 = time.perf_counter()
        costobs.record(
            provider="openai", model="gpt-4o", input_tokens=1000, output_tokens=100, feature=tag
        )
        worst = max(worst, time.perf_counter() - t0)
    return worst


def test_events_arrive_exactly_once_across_ingest_downtime(server: Server) -> None:
    costobs.configure(
        ingest_url=server.url,
        api_key=DEV_KEY,
        flush_interval=0.05,
        backoff_base=0.2,
        backoff_max=1.0,
        max_retries=200,
        request_timeout=5,
    )
    _record(20, "before")
    assert costobs.flush(30)
    assert server.wait_for_requests(20)["requests"] == 20

    server.stop()
    worst = _record(30, "during")
    assert worst < 0.01  # the caller never waits for the ingest
    assert costobs.flush(1.0) is False  # nothing can be delivered while it is down
    time.sleep(1.0)
    assert costobs.stats().retried >= 1

    server.start()
    assert costobs.flush(60)
    summary = server.wait_for_requests(50)
    time.sleep(2)  # let any duplicate that might have slipped through show up
    summary = server.summary()
    stats = costobs.stats()
    assert summary["requests"] == 50, (summary, stats)
    assert (summary["input_tokens"], summary["output_tokens"]) == (50_000, 5_000)
    assert stats.dropped == {} and stats.sent == 50
    assert (
        summary["cost_usd"] == "0.175"
    )  # 50 × (1000 × $2.50/M + 100 × $10/M), priced by the writer
