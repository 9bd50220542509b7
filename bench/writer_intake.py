"""The events writer's throughput through FastStream (what ``costobs`` runs) against the
nats-py pull subscription it used before, in the same run, on the same stream and chDB.

A fresh embedded nats-server (fsync always) and chDB in a temp dir; per round, the stream is
filled with new ingest-shaped messages (the envelopes ingest publishes, ``CostObs-Events``
header), then a writer as ``costobs up`` builds it (transform pool of
``COSTOBS_WRITER_PROCESSES``, default batch and flush settings, the writer role's own NATS
user) drains them into ClickHouse and acks. Rounds alternate the two intakes so a change in
machine load hits both. Two message shapes: ingest's usual one (a batch of 1000 events in one
message) and small SDK batches (10 events a message), where per-message costs show.

Also "intake only": small messages (2 events each) fetched and acked without ClickHouse, the
per-message cost of each intake. FastStream's batch loop waits up to the fetch timeout
(0.25 s) to fill a batch of 256 where nats-py returns what is there: a drained stream's last
partial batch costs it that wait once per measurement.

    python bench/writer_intake.py [--events 200000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_e2e import make_event

from consumers.intake import BrokerIntake, Intake, PullIntake
from consumers.pricer import Pricer
from consumers.transform_pool import TransformPool
from consumers.writer import Writer
from costobs_server.broker import make_broker
from costobs_server.metadata.db import MetadataDB
from costobs_server.nats_auth import ADMIN, connect
from costobs_server.nats_server import NatsServer
from costobs_server.settings import load_settings
from costobs_server.store import EventStore
from costobs_server.streams import EVENT_COUNT_HEADER, ensure_streams, events_subject
from costobs_server.wire import validate_event
from ingest.publisher import chunk_payloads

INTAKES = ("nats-py", "faststream")


def envelopes(total: int, per_message: int) -> list[tuple[bytes, int]]:
    now = datetime.now(UTC)
    received = now.isoformat(timespec="milliseconds")
    lines = [
        orjson.dumps(validate_event(make_event(i, now - timedelta(milliseconds=total - i))))
        for i in range(total)
    ]
    out: list[tuple[bytes, int]] = []
    for start in range(0, total, per_message):
        out += chunk_payloads("default", received, lines[start : start + per_message], 1 << 20)
    return out


async def fill(server: NatsServer, messages: list[tuple[bytes, int]]) -> None:
    nc = await connect(server.url, server.auth(ADMIN), ADMIN)
    js = nc.jetstream()
    window: list[asyncio.Future[object]] = []
    for payload, count in messages:
        window.append(
            asyncio.ensure_future(
                js.publish(
                    events_subject("default"),
                    payload,
                    timeout=30,
                    headers={EVENT_COUNT_HEADER: str(count)},
                )
            )
        )
        if len(window) >= 256:
            await asyncio.gather(*window)
            window = []
    await asyncio.gather(*window)
    await nc.close()


async def drain(
    server: NatsServer, store: EventStore, pool: TransformPool | None, kind: str, total: int
) -> float:
    """Seconds for a writer with the ``kind`` intake to insert ``total`` events (or, with no
    store, to fetch and ack them)."""
    settings = load_settings(nats_url=server.url)
    broker = make_broker(settings, "writer", auth=server.auth("writer"))
    nc = await broker.connect()
    intake: Intake = BrokerIntake(broker) if kind == "faststream" else PullIntake(nc.jetstream())
    writer = Writer(
        nc,
        store,
        Pricer(),
        batch_size=settings.writer_batch_size,
        flush_ms=settings.writer_flush_ms,
        staging_table="events_staging_bench",
        pool=pool,
        intake=intake,
    )
    await broker.start()
    started = time.perf_counter()
    task = asyncio.create_task(writer.run())
    while writer.stats.inserted + writer.stats.duplicates < total:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    writer.stop()
    await task
    await broker.stop()
    return elapsed


async def intake_only(server: NatsServer, kind: str, messages: int) -> float:
    """Seconds to fetch and ack ``messages`` through the ``kind`` intake, nothing else."""
    broker = make_broker(load_settings(nats_url=server.url), "writer", auth=server.auth("writer"))
    nc = await broker.connect()
    intake: Intake = BrokerIntake(broker) if kind == "faststream" else PullIntake(nc.jetstream())
    await broker.start()
    await intake.open()
    started = time.perf_counter()
    seen = 0
    while seen < messages:
        got = await intake.fetch(0.25)
        for msg in got:
            await msg.ack()
        seen += len(got)
    elapsed = time.perf_counter() - started
    await intake.close()
    await broker.stop()
    return elapsed


def report(what: str, rates: dict[str, list[float]]) -> None:
    print(f"{what}: median (min–max) of {len(rates[INTAKES[0]])} rounds", flush=True)
    for kind in INTAKES:
        r = rates[kind]
        print(f"  {kind:<10} {statistics.median(r):>10,.0f}  ({min(r):,.0f}–{max(r):,.0f})")
    change = statistics.median(rates["faststream"]) / statistics.median(rates["nats-py"]) - 1
    print(f"  faststream vs nats-py: {change:+.1%}", flush=True)


async def bench(events: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = NatsServer(Path(tmp) / "nats", sync_always=True)
        server.start()
        store = EventStore.open_chdb(Path(tmp) / "clickhouse")
        store.migrate()
        db = MetadataDB.connect(f"sqlite:///{tmp}/metadata.sqlite3")
        db.migrate()
        db.seed_dev()
        processes = load_settings().writer_processes
        pool = TransformPool(processes, str(db.engine.url)) if processes else None
        if pool is not None:
            await asyncio.to_thread(pool.warm_up)
        try:
            nc = await connect(server.url, server.auth(ADMIN), ADMIN)
            await ensure_streams(nc.jetstream(), load_settings(nats_url=server.url))
            await nc.close()
            for per_message in (1000, 10):
                rates: dict[str, list[float]] = {k: [] for k in INTAKES}
                for r in range(rounds):
                    for kind in INTAKES if r % 2 == 0 else reversed(INTAKES):
                        await fill(server, envelopes(events, per_message))
                        rates[kind].append(events / await drain(server, store, pool, kind, events))
                report(f"writer, {per_message} events a message, events/s", rates)
            # fetch + ack only, on many small messages: the per-message cost of each intake
            messages = envelopes(events, 2)  # many, so a last partial batch weighs little
            rates = {k: [] for k in INTAKES}
            for r in range(rounds):
                for kind in INTAKES if r % 2 == 0 else reversed(INTAKES):
                    await fill(server, messages)
                    rates[kind].append(
                        len(messages) / await intake_only(server, kind, len(messages))
                    )
            report(f"intake only (fetch + ack, {len(messages)} messages), msgs/s", rates)
        finally:
            if pool is not None:
                pool.close()
            store.close()
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(bench(args.events, args.rounds))


if __name__ == "__main__":
    main()
