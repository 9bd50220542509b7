"""``costobs replay`` in process: a real nats-server and the session's chDB; messages put on
the events stream with no writer running stand for events the store lost."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from nats.js.errors import NotFoundError

from consumers.pricer import Pricer
from consumers.writer import Writer
from costobs_server.broker import RoleBroker
from costobs_server.nats_server import NatsServer
from costobs_server.replay import ReplayError, ReplayJob, ReplayProgress, ReplaySpec, parse_time
from costobs_server.settings import load_settings
from costobs_server.store import EventStore
from costobs_server.streams import EVENTS_STREAM, WRITER_DURABLE, events_subject
from tests.helpers import create_streams, envelope, event, eventually, nats_client


def stored(store: EventStore, org: str) -> tuple[int, Decimal]:
    rows = store.query(
        "SELECT count(), toString(sum(cost_usd)) FROM events WHERE org_id={o:String}", {"o": org}
    )
    return int(rows[0][0]), Decimal(rows[0][1])


@pytest.fixture
async def org_messages(nats_server: NatsServer) -> tuple[str, list[int]]:
    """An org with three messages of 4 events each on the stream; their stream sequences."""
    await create_streams(nats_server, load_settings(nats_url=nats_server.url))
    org = f"r{uuid.uuid4().hex[:10]}"
    nc = await nats_client(nats_server)
    seqs = []
    try:
        for m in range(3):
            events = [event(m * 4 + i) for i in range(4)]
            ack = await nc.jetstream().publish(
                events_subject(org), envelope(org, events), headers={"CostObs-Events": "4"}
            )
            seqs.append(ack.seq)
    finally:
        await nc.close()
    return org, seqs


class Job(ReplayJob):
    async def run(self) -> ReplayProgress:
        return await asyncio.wait_for(super().run(), 60)


def job(
    nats_server: NatsServer, store: EventStore, tmp_path: Path, spec: ReplaySpec, **kw: Any
) -> ReplayJob:
    return Job(
        spec,
        broker=lambda: RoleBroker(nats_server.url, nats_server.auth("replay"), "replay"),
        store=store,
        price=Pricer(),
        flush_log_dir=tmp_path / "replay",
        **kw,
    )


async def test_replay_stores_what_is_missing_once_and_again_nothing(
    nats_server: NatsServer, store: EventStore, tmp_path: Path, org_messages: tuple[str, list[int]]
) -> None:
    org, _ = org_messages
    first = await job(nats_server, store, tmp_path, ReplaySpec(org=org)).run()
    assert (first.state, first.messages, first.read, first.inserted) == ("done", 3, 12, 12)
    assert (first.already_stored, first.rejected) == (0, 0)
    count, cost = stored(store, org)
    assert count == 12 and cost > 0
    again = await job(nats_server, store, tmp_path, ReplaySpec(org=org)).run()
    assert (again.state, again.read, again.inserted, again.already_stored) == ("done", 12, 0, 12)
    assert stored(store, org) == (count, cost)  # exact, to the last digit
    nc = await nats_client(nats_server)
    try:  # a finished job leaves no consumer behind
        with pytest.raises(NotFoundError):
            await nc.jetstream().consumer_info(EVENTS_STREAM, ReplaySpec(org=org).durable)
    finally:
        await nc.close()


async def test_from_seq_and_time_window_select_messages(
    nats_server: NatsServer, store: EventStore, tmp_path: Path, org_messages: tuple[str, list[int]]
) -> None:
    org, seqs = org_messages
    from_second = await job(
        nats_server, store, tmp_path, ReplaySpec(org=org, from_seq=seqs[1])
    ).run()
    assert (from_second.messages, from_second.inserted) == (2, 8)
    assert stored(store, org)[0] == 8
    # The stream's own receive times: everything before now, nothing after it.
    future = datetime.now(UTC) + timedelta(hours=1)
    nothing = await job(nats_server, store, tmp_path, ReplaySpec(org=org, from_time=future)).run()
    assert (nothing.state, nothing.messages) == ("done", 0)
    past = datetime.now(UTC) - timedelta(hours=1)
    before = await job(nats_server, store, tmp_path, ReplaySpec(org=org, to_time=past)).run()
    assert (before.state, before.messages, before.inserted) == ("done", 0, 0)
    rest = await job(nats_server, store, tmp_path, ReplaySpec(org=org, from_time=past)).run()
    assert (rest.messages, rest.inserted, rest.already_stored) == (3, 4, 8)
    assert stored(store, org)[0] == 12


async def test_to_time_stops_at_messages_received_later(
    nats_server: NatsServer, store: EventStore, tmp_path: Path, org_messages: tuple[str, list[int]]
) -> None:
    org, _ = org_messages
    await asyncio.sleep(0.05)
    cut = datetime.now(UTC)
    await asyncio.sleep(0.05)
    nc = await nats_client(nats_server)
    try:
        await nc.jetstream().publish(events_subject(org), envelope(org, [event(99)]))
    finally:
        await nc.close()
    done = await job(nats_server, store, tmp_path, ReplaySpec(org=org, to_time=cut)).run()
    assert (done.state, done.messages, done.inserted) == ("done", 3, 12)
    assert stored(store, org)[0] == 12


async def test_org_filter_reads_only_that_orgs_subject(
    nats_server: NatsServer, store: EventStore, tmp_path: Path, org_messages: tuple[str, list[int]]
) -> None:
    org, _ = org_messages
    other = f"r{uuid.uuid4().hex[:10]}"
    nc = await nats_client(nats_server)
    try:
        await nc.jetstream().publish(events_subject(other), envelope(other, [event(7)]))
    finally:
        await nc.close()
    done = await job(nats_server, store, tmp_path, ReplaySpec(org=other)).run()
    assert (done.messages, done.inserted) == (1, 1)
    assert stored(store, org)[0] == 0 and stored(store, other)[0] == 1


async def test_an_interrupted_job_resumes_where_it_stood(
    nats_server: NatsServer, store: EventStore, tmp_path: Path, org_messages: tuple[str, list[int]]
) -> None:
    org, _ = org_messages
    spec = ReplaySpec(org=org)
    interrupted: ReplayJob

    def stop_after_first_batch(progress: ReplayProgress) -> None:
        if progress.messages >= 1:
            interrupted.stop()  # as Ctrl-C does

    interrupted = job(
        nats_server, store, tmp_path, spec, fetch_batch=1, on_progress=stop_after_first_batch
    )
    first = await interrupted.run()
    assert (first.state, first.messages, first.inserted) == ("stopped", 1, 4)
    resumed = await job(nats_server, store, tmp_path, spec).run()
    # the same job: only what the first run had not acknowledged is read again
    assert (resumed.state, resumed.messages, resumed.inserted) == ("done", 2, 8)
    assert resumed.already_stored == 0
    assert stored(store, org)[0] == 12


async def test_a_message_the_writer_cannot_store_is_counted_not_dead_lettered(
    nats_server: NatsServer, store: EventStore, tmp_path: Path, org_messages: tuple[str, list[int]]
) -> None:
    org, _ = org_messages
    nc = await nats_client(nats_server)
    try:
        await nc.jetstream().publish(events_subject(org), b'{"org_id": "broken"')
    finally:
        await nc.close()
    done = await job(nats_server, store, tmp_path, ReplaySpec(org=org)).run()
    assert (done.state, done.inserted, done.rejected) == ("done", 12, 1)
    assert "not an ingest envelope" in done.rejections[0]


async def test_rate_limit_spreads_the_inserts(
    nats_server: NatsServer, store: EventStore, tmp_path: Path, org_messages: tuple[str, list[int]]
) -> None:
    org, _ = org_messages
    started = asyncio.get_running_loop().time()
    done = await job(
        nats_server, store, tmp_path, ReplaySpec(org=org), fetch_batch=1, events_per_s=20
    ).run()
    # 12 events at 20/s: the first batch goes at once, the next two wait 0.2 s each at least
    assert done.inserted == 12
    assert asyncio.get_running_loop().time() - started >= 0.4


def test_bad_options_are_refused_with_the_reason() -> None:
    with pytest.raises(ReplayError, match="not both"):
        ReplaySpec(from_time=datetime.now(UTC), from_seq=3)
    with pytest.raises(ReplayError, match="--to must be after --from"):
        ReplaySpec(
            from_time=parse_time("2026-11-20", "--from"), to_time=parse_time("2026-11-19", "--to")
        )
    with pytest.raises(ReplayError, match="not an ISO 8601 time"):
        parse_time("yesterday", "--from")
    with pytest.raises(ReplayError, match="org id"):
        ReplaySpec(org="a.b")
    assert ReplaySpec(org="x").durable == ReplaySpec(org="x").durable != ReplaySpec().durable
    assert ReplaySpec(job="nightly").durable == "replay-nightly"


async def publish_and_write(nats: NatsServer, store: EventStore, org: str) -> None:
    """Two messages on the stream, stored and acked by a live writer (its ack floor is where
    a server-mode replay stops)."""
    await create_streams(nats, load_settings(nats_url=nats.url))
    nc = await nats_client(nats)
    writer_nc = await nats_client(nats, "writer")
    writer = Writer(writer_nc, store, Pricer(), flush_ms=50, staging_table="events_staging_sm")
    task = asyncio.create_task(writer.run())
    try:
        for m in range(2):
            events = [event(3 * m + i) for i in range(3)]
            await nc.jetstream().publish(events_subject(org), envelope(org, events))
        await eventually(lambda: writer.stats.inserted == 6)
        await eventually(acked(nc, 2))
    finally:
        writer.stop()
        await task
        await writer_nc.close()
        await nc.close()


def acked(nc: Any, seq: int) -> Any:
    async def check() -> bool:
        info = await nc.jetstream().consumer_info(EVENTS_STREAM, WRITER_DURABLE)
        return bool(info.ack_floor.stream_seq >= seq)

    return check


async def test_next_to_a_live_writer_replay_stops_at_the_writers_ack_floor(
    tmp_path: Path, store: EventStore
) -> None:
    """What lies beyond the writer's progress is the writer's to store; replaying it too
    could race the writer for the same events."""
    nats = NatsServer(tmp_path / "nats")
    await asyncio.to_thread(nats.start)
    try:
        org = f"w{uuid.uuid4().hex[:10]}"
        await publish_and_write(nats, store, org)  # seqs 1-2, stored and acked
        nc = await nats_client(nats)
        try:  # seq 3: not taken by the (stopped) writer yet
            await nc.jetstream().publish(events_subject(org), envelope(org, [event(9)]))
        finally:
            await nc.close()
        next_to_writer = await job(
            nats, store, tmp_path, ReplaySpec(org=org), live_writer=True
        ).run()
        assert (next_to_writer.end_seq, next_to_writer.messages) == (2, 2)
        assert (next_to_writer.inserted, next_to_writer.already_stored) == (0, 6)
        alone = await job(nats, store, tmp_path, ReplaySpec(org=org)).run()  # no live writer
        assert (alone.end_seq, alone.messages, alone.inserted) == (3, 3, 1)
    finally:
        await asyncio.to_thread(nats.stop)


def test_the_cli_refuses_bad_options_before_touching_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from costobs_server import cli

    empty = ["--data-dir", str(tmp_path / "nothing")]
    assert cli.main(["replay", "--from", "yesterday", *empty]) == 2
    assert "--from 'yesterday' is not an ISO 8601 time" in capsys.readouterr().err
    assert cli.main(["replay", "--no-progress", *empty]) == 2  # nothing was ever stored here
    assert "no CostObs data in" in capsys.readouterr().err
    assert not (tmp_path / "nothing" / "nats").exists()
