"""``costobs replay`` and ``costobs dlq`` as an operator runs them: real processes on a real
data dir, with ``costobs up`` stopped (the CLI opens the data dir) and running (the CLI asks
the process, which owns chDB)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from consumers.dead_letter import dead_letter_headers
from costobs_server.nats_server import NatsServer, free_port
from costobs_server.settings import load_settings
from costobs_server.store import EventStore
from costobs_server.streams import DLQ_SUBJECT, events_subject
from tests.helpers import create_streams, envelope, event, nats_client
from tests.test_process import UpProcess, metric, processes, start
from tests.test_replay import publish_and_write

pytestmark = pytest.mark.slow
__all__ = ["processes"]  # the fixture, shared with test_process.py


def cli(data: Path, *args: str, port: int | None = None, check: bool = True) -> Any:
    command = [sys.executable, "-m", "costobs_server.cli", *args, "--data-dir", str(data)]
    if port is not None:
        command += ["--port", str(port)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def replay(data: Path, port: int | None = None) -> dict[str, Any]:
    done = cli(data, "replay", "--no-progress", port=port)
    return dict(json.loads(done.stdout.splitlines()[-1]))


def test_a_lost_store_comes_back_from_the_stream_exactly(
    tmp_path: Path, processes: list[UpProcess]
) -> None:
    data, port = tmp_path / "data", free_port()
    first = start(processes, data, port)
    events = [
        event(
            i,
            request_id=uuid.uuid4().hex,
            usage={"input_tokens": 1000 + 7 * i, "output_tokens": (13 * i) % 997},
        )
        for i in range(2000)
    ]
    for at in range(0, 2000, 500):
        assert first.post(events[at : at + 500]).json()["accepted"] == 500
    before = first.wait_requests(2000)
    assert before["requests"] == 2000
    assert first.terminate() == 0

    shutil.rmtree(data / "clickhouse")  # the store is lost; the stream still holds the events
    offline = replay(data)  # nothing runs: the CLI opens the data dir itself
    assert {k: offline[k] for k in ("state", "read", "inserted", "already_stored", "rejected")} == {
        "state": "done",
        "read": 2000,
        "inserted": 2000,
        "already_stored": 0,
        "rejected": 0,
    }

    shutil.rmtree(data / "clickhouse")  # lost again: this time replay through `costobs up`
    second = start(processes, data, port)
    assert second.summary()["requests"] == 0
    online = replay(data, port)
    assert (online["state"], online["read"], online["inserted"]) == ("done", 2000, 2000)
    assert metric(second.url, "costobs_replay_events_inserted_total") == 2000
    after = second.summary()
    assert after == before  # every event, every token
    assert Decimal(after["cost_usd"]) == Decimal(before["cost_usd"])  # to the last digit
    again = replay(data, port)
    assert (again["inserted"], again["already_stored"]) == (0, 2000)
    assert second.summary() == before
    assert second.terminate() == 0


def test_dead_letters_offline_then_stored_by_the_running_process(
    tmp_path: Path, processes: list[UpProcess]
) -> None:
    data, port = tmp_path / "data", free_port()
    payload = envelope("default", [event(1), event(2)])
    nats = NatsServer(data / "nats")  # as `costobs up` left it: a dead letter in its store
    nats.start()
    try:
        dead = asyncio.run(_put_dead_letter(nats, payload))
    finally:
        nats.stop()

    listed = cli(data, "dlq", "list").stdout  # nothing runs: the CLI opens the data dir
    assert f"{dead:>6}  events default" in listed and "a bug since fixed" in listed
    refused = cli(data, "dlq", "purge", "--all", check=False)  # no terminal, no --yes
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert "redriven to costobs.events.default" in cli(data, "dlq", "replay", str(dead)).stdout

    up = start(processes, data, port)
    assert up.wait_requests(2)["requests"] == 2  # the live writer stored the re-driven events
    assert cli(data, "dlq", "list", port=port).stdout.strip() == "no dead letters"
    assert up.terminate() == 0


def test_server_mode_replay_is_a_process_of_its_own_with_the_replay_user(
    tmp_path: Path, store: EventStore
) -> None:
    """A new ClickHouse next to a live writer: the replay process connects as the replay
    user to the shared NATS and fills its own store (chDB here, for want of a server)."""
    nats = NatsServer(tmp_path / "nats")
    nats.start()
    try:
        org = f"s{uuid.uuid4().hex[:10]}"
        asyncio.run(publish_and_write(nats, store, org))
        env = {
            **os.environ,
            "COSTOBS_NATS_URL": nats.url,
            "COSTOBS_NATS_USER": "replay",
            "COSTOBS_NATS_PASSWORD": nats.users.passwords["replay"],
        }
        command = [
            sys.executable,
            "-m",
            "costobs_server.cli",
            "replay",
            "--no-progress",
            "--org",
            org,
            "--data-dir",
            str(tmp_path / "new"),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        summary = json.loads(done.stdout.splitlines()[-1])
        assert (summary["state"], summary["read"], summary["inserted"]) == ("done", 6, 6)
    finally:
        nats.stop()


async def _put_dead_letter(nats: NatsServer, payload: bytes) -> int:
    await create_streams(nats, load_settings(nats_url=nats.url))
    nc = await nats_client(nats)
    try:
        headers = dead_letter_headers(
            subject=events_subject("default"),
            seq=1,
            deliveries=5,
            reason="a bug since fixed",
            source_headers={"Nats-Msg-Id": f"default:{uuid.uuid4().hex}:0"},
        )
        return int((await nc.jetstream().publish(DLQ_SUBJECT, payload, headers=headers)).seq)
    finally:
        await nc.close()
