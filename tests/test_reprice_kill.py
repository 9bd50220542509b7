"""`costobs reprice` killed with SIGKILL in the middle of a job, on a data dir of its own: at
the kill every day the journal does not hold is wholly old or wholly new; the next run
completes the cut day from the journal and re-prices the rest, and then events and every
rollup hold the new figures exactly (issue 14). Each step runs in a process of its own: chDB
lets one process open a data dir."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from costobs_server.nats_server import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
ROOT = Path(__file__).resolve().parent.parent
DAYS = ("2026-10-05", "2026-10-06", "2026-10-07")
PER_DAY = 1200

SEED = f"""
import sys, uuid, orjson, math
from pathlib import Path
from consumers.pricer import Pricer
from consumers.processor import merge, rows_from_message
from costobs_server.settings import load_settings
from costobs_server.serve import open_metadata, open_store
from costobs_server.store import compaction
settings = load_settings(data_dir=Path(sys.argv[1]))
db, store = open_metadata(settings), open_store(settings)
pricer = Pricer(overrides=db.price_overrides)
for day in {DAYS!r}:
    events = [{{"request_id": f"{{day}}-{{i}}", "timestamp": f"{{day}}T{{i % 24:02d}}:00:00Z",
               "provider": "openai", "model": ("gpt-4o", "gpt-4o-mini")[i % 2],
               "customer_id": f"c{{i % 50}}", "tags": {{"pr": str(i % 3)}},
               "usage": {{"input_tokens": 1000 + i, "output_tokens": 10 + i % 90}}}}
              for i in range({PER_DAY})]
    env = orjson.dumps({{"org_id": "default", "received_at": "2026-11-01T00:00:00Z",
                         "events": events}})
    store.insert_events(merge([rows_from_message(env, 1, pricer)]).block, uuid.uuid4().hex)
compaction.compact(store)
db.add_price_override("default", {{"kind": "discount", "multiplier": "0.5", "model": "gpt-4o"}})
"""

# After the kill: which days are cut (in the journal), and for the others whether each holds
# only old or only new figures, in events and in every rollup.
CHECK = """
import sys, json
from pathlib import Path
from costobs_server.settings import load_settings
from costobs_server.serve import open_store
from costobs_server.repricing.swap import interrupted
from costobs_server.store.verify import verify
store = open_store(load_settings(data_dir=Path(sys.argv[1])))
cut = sorted({d.isoformat() for _, _, d in interrupted(store)})
rows = store.query(
    "SELECT toString(toDate(timestamp)), countIf(model = 'gpt-4o' AND cost_usd * 2 = "
    "ingest_cost_usd), countIf(model = 'gpt-4o' AND cost_usd = ingest_cost_usd), count(), "
    "uniqExact(request_id) FROM events GROUP BY 1 ORDER BY 1")
mismatched = sorted({m.unit.isoformat() for m in verify(store).mismatches})
print(json.dumps({"cut": cut, "days": rows, "mismatched": mismatched}))
"""

EXACT = """
import sys
from pathlib import Path
from costobs_server.settings import load_settings
from costobs_server.serve import open_store
from tests.test_reprice import _assert_rollups_exact
store = open_store(load_settings(data_dir=Path(sys.argv[1])))
_assert_rollups_exact(store, "default")
"""


def _python(code: str, data_dir: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, str(data_dir)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _reprice(data_dir: Path) -> list[str]:
    return [
        sys.executable, "-m", "costobs_server.cli", "reprice", "--data-dir", str(data_dir),
        "--port", str(free_port()), "--from", DAYS[0], "--to", DAYS[-1],
    ]  # fmt: skip


def test_a_job_killed_mid_day_leaves_days_whole_and_the_next_run_completes(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    _python(SEED, data_dir)
    job = subprocess.Popen(
        _reprice(data_dir),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert job.stderr is not None
    for line in job.stderr:  # the first day is done: kill inside (or just after) the second
        if line.startswith("[1/3]"):
            break
    time.sleep(0.6)  # where it lands varies with the load; every point must hold
    job.send_signal(signal.SIGKILL)
    job.wait(timeout=30)
    state = json.loads(_python(CHECK, data_dir))
    half = PER_DAY // 2
    for day, new, old, count, unique in state["days"]:
        assert unique == PER_DAY, state  # nothing lost
        if day in state["cut"]:
            continue  # old and new rows side by side until recovery (README)
        assert count == PER_DAY, state  # nothing twice
        assert (new, old) in ((half, 0), (0, half)), state  # wholly new or wholly old
        assert day not in state["mismatched"], state  # and so is every rollup
    assert state["days"][0][1] == half  # day 1 was reported done before the kill
    # the cut day's rollups may disagree (and so its half-month's, from the 1st or the 16th)
    halves = {f"{d[:8]}{'01' if int(d[8:]) <= 15 else '16'}" for d in state["cut"]}
    assert set(state["mismatched"]) <= set(state["cut"]) | halves, state
    # the next run completes the cut day from the journal, then re-prices what is left
    again = subprocess.run(
        _reprice(data_dir), cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"completed {len(state['cut'])} day(s)" in again.stdout or not state["cut"]
    final = json.loads(_python(CHECK, data_dir))
    assert final["cut"] == [] and final["mismatched"] == []
    assert [(d[1], d[2], d[3]) for d in final["days"]] == [(half, 0, PER_DAY)] * 3
    _python(EXACT, data_dir)
