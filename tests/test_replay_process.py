"""``costobs replay`` and ``costobs dlq`` as an operator runs them: real processes on a real
data dir, with ``costobs up`` stopped (the CLI opens the data dir) and running (the CLI asks
the process, which owns chDB)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from costobs_server.nats_server import free_port
from tests.helpers import event
from tests.test_process import UpProcess, processes, start

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
    after = second.summary()
    assert after == before  # every event, every token
    assert Decimal(after["cost_usd"]) == Decimal(before["cost_usd"])  # to the last digit
    again = replay(data, port)
    assert (again["inserted"], again["already_stored"]) == (0, 2000)
    assert second.summary() == before
    assert second.terminate() == 0
