"""End-to-end ingest benchmark: SDK-shaped batched POSTs → rows queryable in ClickHouse.

Starts ``costobs up`` (embedded: nats-server child, chDB, SQLite) in a temp dir, sends
pre-built gzip batches from a few concurrent senders, and waits until every event is counted
by the read endpoint. Prints events/s end to end, accept latency p50/p99, the delay from the
last 202 to everything being queryable, and, measured in the same run as baselines, the raw
JetStream publish rate and the raw chDB insert rate of the same rows.

    python bench/ingest_e2e.py [--events 600000] [--batch 1000] [--senders 4]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from costobs_server.nats_auth import ADMIN, connect
from costobs_server.nats_server import NatsServer, free_port

KEY = {"Authorization": "Bearer costobs_dev_secret_key"}
MODELS = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-sonnet-4-5"),
    ("gemini", "gemini-2.5-flash"),
]


def make_event(i: int, ts: datetime) -> dict[str, Any]:
    provider, model = MODELS[i % len(MODELS)]
    return {
        "request_id": uuid.uuid4().hex,
        "timestamp": ts.isoformat(timespec="milliseconds"),
        "provider": provider,
        "model": model,
        "customer_id": f"cust-{i % 500}",
        "feature": ("chat", "search", "summarize")[i % 3],
        "team": "payments",
        "environment": "prod",
        "tags": {"region": "eu", "pr": str(i % 40)},
        "usage": {
            "input_tokens": 800 + i % 700,
            "cached_input_tokens": 200,
            "output_tokens": 150 + i % 300,
        },
        "latency_ms": 300 + i % 900,
        "streaming": i % 3 == 0,
        "cost_usd": "0.0042",
        "sdk_language": "python",
        "sdk_version": "0.1.0",
    }


def build_bodies(total: int, batch: int) -> list[bytes]:
    now = datetime.now(UTC)
    bodies = []
    for start in range(0, total, batch):
        events = [
            make_event(i, now - timedelta(milliseconds=total - i))
            for i in range(start, min(start + batch, total))
        ]
        bodies.append(
            gzip.compress(orjson.dumps({"batch_id": uuid.uuid4().hex, "events": events}), 1)
        )
    return bodies


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def requests_counted(client: httpx.AsyncClient) -> int:
    today = datetime.now(UTC).date()
    r = await client.get(
        "/v1/usage/summary",
        headers=KEY,
        params={"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()},
    )
    return int(r.json()["requests"])


async def run_e2e(url: str, bodies: list[bytes], total: int, senders: int) -> dict[str, float]:
    latencies: list[float] = []
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    headers = {**KEY, "Content-Encoding": "gzip", "Content-Type": "application/json"}

    async with httpx.AsyncClient(base_url=url, timeout=60) as client:

        async def sender() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                while True:
                    t = time.perf_counter()
                    r = await client.post("/v1/events", content=body, headers=headers)
                    if r.status_code == 202:
                        latencies.append(time.perf_counter() - t)
                        break
                    await asyncio.sleep(float(r.headers.get("Retry-After", "0.2")))

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(senders)))
        accepted_at = time.perf_counter()
        counted = 0
        while counted < total:
            counted = await requests_counted(client)
            if time.perf_counter() - accepted_at > 300:
                raise SystemExit(f"only {counted}/{total} events queryable after 300 s")
            await asyncio.sleep(0.05)
        done = time.perf_counter()
        final = await requests_counted(client)
    return {
        "accept_rate": total / (accepted_at - started),
        "e2e_rate": total / (done - started),
        "p50_ms": pct(latencies, 0.5) * 1000,
        "p99_ms": pct(latencies, 0.99) * 1000,
        "queryable_delay_s": done - accepted_at,
        "final_count": final,
    }


async def raw_jetstream(bodies_events: int, payload: bytes, messages: int) -> float:
    """Baseline: pipelined JetStream publishes of the same payload size, msgs/s → events/s."""
    with tempfile.TemporaryDirectory() as tmp:
        server = NatsServer(Path(tmp), sync_always=True)
        server.start()
        try:
            nc = await connect(server.url, server.auth(ADMIN), ADMIN)
            js = nc.jetstream()
            await js.add_stream(name="RAW", subjects=["raw.>"])
            t = time.perf_counter()
            window = 64
            pending: list[Any] = []
            for i in range(messages):
                pending.append(asyncio.ensure_future(js.publish("raw.x", payload, timeout=10)))
                if len(pending) >= window:
                    await asyncio.gather(*pending)
                    pending = []
                    _ = i
            await asyncio.gather(*pending)
            elapsed = time.perf_counter() - t
            await nc.close()
        finally:
            server.stop()
    return messages * bodies_events / elapsed


def raw_chdb(rows: int) -> float:
    """Baseline: ClickHouse's own share of the writer's path — the same staging insert and
    duplicate check, then the token-deduplicated insert into events and every rollup, with
    rows already built as JSON, so no Python per row (in a child process: chDB allows one
    data path per process)."""
    code = f"""
import tempfile, time, uuid, orjson, sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
from ingest_e2e import make_event
from costobs_server.store import EventStore
from costobs_server.wire import validate_event
now = datetime.now(UTC)
lines = []
for i in range({rows}):
    e = orjson.loads(orjson.dumps(validate_event(make_event(i, now - timedelta(milliseconds=i)))))
    e.update(e.pop("usage"))
    e.update(org_id="default", received_at=e["timestamp"], sdk_cost_usd=e.pop("cost_usd"),
             cost_usd="0.0042", stream_seq=1)
    lines.append(orjson.dumps(e))
with tempfile.TemporaryDirectory() as tmp:
    store = EventStore.open_chdb(Path(tmp))
    store.migrate()
    store.prepare_staging("events_staging_bench")
    best = 0.0
    for k in range(3):
        block = b"\\n".join(l.replace(b'"request_id":"', b'"request_id":"%d' % k) for l in lines)
        t = time.perf_counter()
        store.stored_keys(block, "events_staging_bench")
        store.insert_events(block, uuid.uuid4().hex)
        best = max(best, {rows} / (time.perf_counter() - t))
    print(best)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=600_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=4)
    args = parser.parse_args()

    print(f"building {args.events} events in batches of {args.batch} …", flush=True)
    bodies = build_bodies(args.events, args.batch)
    sample = gzip.decompress(bodies[0])

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        log = open(Path(tmp) / "up.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "costobs_server.cli",
                "up",
                "--data-dir",
                f"{tmp}/data",
                "--port",
                str(port),
                "--no-dashboard",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "COSTOBS_ALERTD_PORT": str(free_port()),
                "COSTOBS_BILLSYNCD_PORT": str(free_port()),
            },
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit((Path(tmp) / "up.log").read_text())
                time.sleep(0.2)
            e2e = asyncio.run(run_e2e(url, bodies, args.events, args.senders))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)

    js_rate = asyncio.run(raw_jetstream(args.batch, orjson.dumps(orjson.loads(sample)), 400))
    ch_rate = raw_chdb(20_000)

    lost = args.events - int(e2e["final_count"])
    print()
    print(
        f"ingest end to end ({args.events} events, batches of {args.batch}, "
        f"{args.senders} senders, 2-core machine)"
    )
    print(f"  accepted (202)            {e2e['accept_rate']:>10,.0f} events/s")
    print(f"  end to end (queryable)    {e2e['e2e_rate']:>10,.0f} events/s   target ≥ 50,000")
    print(f"  accept latency per batch  p50 {e2e['p50_ms']:.1f} ms   p99 {e2e['p99_ms']:.1f} ms")
    print(f"  last 202 → all queryable  {e2e['queryable_delay_s']:.2f} s")
    print(f"  lost / duplicated         {lost} / {max(0, -lost)}")
    print("baselines (same run)")
    print(f"  raw JetStream publish, same payload, fsync always  {js_rate:>10,.0f} events/s")
    print(f"  ClickHouse part of the writer (staging + dedup)     {ch_rate:>10,.0f} rows/s")


if __name__ == "__main__":
    main()
