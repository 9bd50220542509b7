"""``costobs dlq``: a real nats-server, a real writer dead-lettering, re-drives the live writer
stores, and the CLI asking the running process."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from consumers import dead_letter as fmt
from consumers.pricer import Pricer
from consumers.writer import Writer
from costobs_server import cli, dead_letters
from costobs_server.dead_letters import DeadLetterError
from costobs_server.nats_server import NatsServer
from costobs_server.settings import load_settings
from costobs_server.store import EventStore
from costobs_server.streams import DLQ_SUBJECT, EVENTS_STREAM, events_subject
from tests.helpers import Running, create_streams, envelope, event, eventually, nats_client


@pytest.fixture
async def dlq_js(nats_server: NatsServer) -> AsyncIterator[JetStreamContext]:
    """The dlq role's own user (the permissions are part of what is tested)."""
    await create_streams(nats_server, load_settings(nats_url=nats_server.url))
    nc = await nats_client(nats_server, dead_letters.ROLE)
    yield nc.jetstream()
    await nc.close()


async def put_dead_letter(
    nc: NATS, org: str, payload: bytes, msg_id: str, reason: str = "a bug since fixed"
) -> int:
    """A dead letter as the writer writes it (for payloads the writer would now accept)."""
    headers = fmt.dead_letter_headers(
        subject=events_subject(org),
        seq=10**9 + uuid.uuid4().int % 10**6,
        deliveries=5,
        reason=reason,
        source_headers={fmt.MSG_ID: msg_id},
    )
    ack = await nc.jetstream().publish(DLQ_SUBJECT, payload, headers=headers)
    return int(ack.seq)


async def ids_of(js: JetStreamContext, org: str) -> list[int]:
    return [d.id for d in await dead_letters.list_all(js) if d.org == org]


async def test_a_poison_message_is_listed_with_reason_deliveries_and_failure_times(
    nats_server: NatsServer, store: EventStore, dlq_js: JetStreamContext
) -> None:
    org = f"d{uuid.uuid4().hex[:10]}"
    admin = await nats_client(nats_server)
    await admin.jetstream().publish(
        events_subject(org), b'{"org_id": "broken"', headers={"Nats-Msg-Id": f"{org}:b:0"}
    )
    writer_nc = await nats_client(nats_server, "writer")
    writer = Writer(
        writer_nc, store, Pricer(), flush_ms=50, max_deliveries=1, staging_table="events_staging_d"
    )
    task = asyncio.create_task(writer.run())
    try:
        await eventually(lambda: ids_of(dlq_js, org))
    finally:
        writer.stop()
        await task
        await writer_nc.close()
        await admin.close()
    (letter,) = [d for d in await dead_letters.list_all(dlq_js) if d.org == org]
    assert letter.stream == "events" and letter.source_subject == events_subject(org)
    assert "not an ingest envelope" in letter.reason and letter.deliveries == 1
    assert letter.msg_id == f"{org}:b:0"
    first = datetime.fromisoformat(letter.first_failure)
    last = datetime.fromisoformat(letter.last_failure)
    assert abs((last - first).total_seconds()) < 30 and last <= datetime.now(UTC)
    shown = (await dead_letters.get(dlq_js, letter.id)).detail()
    assert shown["payload"] == '{"org_id": "broken"' and shown["id"] == letter.id


async def test_redrive_goes_to_the_source_subject_and_the_live_writer_stores_it(
    running: Running, nats_server: NatsServer, dlq_js: JetStreamContext
) -> None:
    org = running.org.id
    admin = await nats_client(nats_server)
    try:
        payload = envelope(org, [event(1), event(2)])
        dead = await put_dead_letter(admin, org, payload, f"{org}:redrive:{uuid.uuid4().hex}")
        (outcome,) = await dead_letters.redrive(dlq_js, [dead])
        assert outcome.result.startswith(f"redriven to {events_subject(org)}")
        assert dead not in await ids_of(dlq_js, org)  # deleted once the copy was stored
        assert running.stack.services is not None
        store = running.stack.services.store

        def stored() -> int:
            q = "SELECT count() FROM events WHERE org_id={o:String}"
            return int(store.query(q, {"o": org})[0][0])

        await eventually(lambda: stored() == 2)
        # the re-driven copy carries the original msg-id and the failure history
        seq = int(outcome.result.rsplit("seq ", 1)[1].rstrip(")"))
        copy = await admin.jetstream().get_msg(EVENTS_STREAM, seq=seq)
        assert copy.headers is not None and copy.headers[fmt.PREVIOUS_DELIVERIES] == "5"
        assert copy.headers["Nats-Msg-Id"].startswith(f"{org}:redrive:")
        # the same events re-driven again (another dead letter, new msg-id): nothing twice
        again = await put_dead_letter(admin, org, payload, f"{org}:again:{uuid.uuid4().hex}")
        await dead_letters.redrive(dlq_js, [again])
        await asyncio.sleep(1.0)  # > the test writer's flush interval
        assert stored() == 2
    finally:
        await admin.close()


async def test_redrive_inside_the_duplicate_window_keeps_the_dead_letter(
    nats_server: NatsServer, dlq_js: JetStreamContext
) -> None:
    org = f"d{uuid.uuid4().hex[:10]}"
    admin = await nats_client(nats_server)
    try:
        msg_id = f"{org}:dup:0"
        payload = envelope(org, [event(3)])
        await admin.jetstream().publish(
            events_subject(org), payload, headers={"Nats-Msg-Id": msg_id}
        )
        dead = await put_dead_letter(admin, org, payload, msg_id)
        (outcome,) = await dead_letters.redrive(dlq_js, [dead])
        assert "duplicate window" in outcome.result
        assert dead in await ids_of(dlq_js, org)
    finally:
        await admin.close()


async def test_purge_by_id_and_all_and_unknown_ids_are_errors(
    nats_server: NatsServer, dlq_js: JetStreamContext
) -> None:
    org = f"d{uuid.uuid4().hex[:10]}"
    admin = await nats_client(nats_server)
    try:
        first, second, third = [
            await put_dead_letter(admin, org, b"{}", f"{org}:{i}") for i in range(3)
        ]
    finally:
        await admin.close()
    assert [o.result for o in await dead_letters.purge(dlq_js, [first])] == ["purged"]
    assert await ids_of(dlq_js, org) == [second, third]
    with pytest.raises(DeadLetterError, match=f"no dead letter {first}"):
        await dead_letters.get(dlq_js, first)
    with pytest.raises(DeadLetterError, match=f"no dead letter {first}"):
        await dead_letters.purge(dlq_js, [first])
    purged = await dead_letters.purge(dlq_js, [], every=True)
    assert {second, third} <= {o.id for o in purged}
    assert await dead_letters.list_all(dlq_js) == []


def test_a_redriven_message_failing_again_keeps_its_history() -> None:
    first = fmt.dead_letter_headers(
        subject="costobs.events.o",
        seq=7,
        deliveries=5,
        reason="r",
        source_headers={"Nats-Msg-Id": "o:b:0"},
        now=datetime(2026, 11, 20, tzinfo=UTC),
    )
    redriven = fmt.redrive_headers(first)
    assert redriven["Nats-Msg-Id"] == "o:b:0"
    second = fmt.dead_letter_headers(
        subject="costobs.events.o", seq=9, deliveries=5, reason="r", source_headers=redriven
    )
    assert second[fmt.DELIVERIES] == "10"
    assert second[fmt.FIRST_FAILURE] == "2026-11-20T00:00:00.000+00:00"
    assert second[fmt.SOURCE_MSG_ID] == "o:b:0"


async def test_the_cli_asks_the_running_process(
    running: Running, nats_server: NatsServer, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    org = running.org.id
    admin = await nats_client(nats_server)
    try:
        dead = await put_dead_letter(admin, org, b"{}", f"{org}:cli", reason="cli test")
    finally:
        await admin.close()

    async def run(*args: str) -> tuple[int, str]:
        code = await asyncio.to_thread(cli.main, ["dlq", *args, "--data-dir", str(data_dir)])
        return code, capsys.readouterr().out

    code, out = await run("list")
    assert code == 0 and f"{dead:>6}  events {org}" in out and "cli test" in out
    code, out = await run("show", str(dead))
    assert code == 0 and json.loads(out)["reason"] == "cli test"
    assert await run("purge", str(dead)) == (2, "")  # not a terminal: --yes is required
    assert (await run("show", str(dead)))[0] == 0
    code, out = await run("purge", str(dead), "--yes")
    assert code == 0 and f"{dead:>6}  purged" in out
    assert (await run("show", str(dead)))[0] == 2  # gone
    admin = await nats_client(nats_server)
    try:
        fixed = await put_dead_letter(admin, org, envelope(org, [event(5)]), f"{org}:cli:1")
    finally:
        await admin.close()
    code, out = await run("replay", str(fixed))
    assert code == 0 and f"{fixed:>6}  redriven to {events_subject(org)}" in out
    # the endpoints answer the control file's token only
    assert (await running.client.get("/v1/ops/dlq")).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert (await running.client.get("/v1/ops/dlq", headers=wrong)).status_code == 401


async def test_read_api_counts_only_the_orgs_own_dead_letters(
    running: Running, nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from readapi.routes import dead_letters as _dead_letters

    monkeypatch.setattr(_dead_letters, "CACHE_S", 0.0)
    org = running.org.id
    admin = await nats_client(nats_server)
    try:
        await put_dead_letter(admin, org, b"{}", f"{org}:ra:0")
        await put_dead_letter(admin, org, b"{}", f"{org}:ra:1")
        await put_dead_letter(admin, f"other{org}", b"{}", f"{org}:ra:2")
    finally:
        await admin.close()
    r = await running.client.get("/v1/dead-letters", headers=running.org.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["available"], body["count"], body["by_stream"]) == (True, 2, {"events": 2})
    assert body["complete"] and body["last_failure"]
    assert (await running.client.get("/v1/dead-letters")).status_code == 401


async def test_overview_warns_when_dead_letters_exist(
    dashboard_env: Running, nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import streamlit as st

    from readapi.routes import dead_letters as _dead_letters
    from tests.test_dashboard_pages import open_page

    monkeypatch.setattr(_dead_letters, "CACHE_S", 0.0)
    st.cache_data.clear()
    assert (await dashboard_env.post([event(1)])).status_code == 202
    assert dashboard_env.stack.services is not None
    store = dashboard_env.stack.services.store
    q = "SELECT count() FROM events WHERE org_id={o:String}"
    await eventually(lambda: store.query(q, {"o": dashboard_env.org.id})[0][0] == 1)
    before = await open_page()
    assert before.title[0].value == "Overview"
    assert not [w for w in before.warning if "Dead letters" in w.value]
    admin = await nats_client(nats_server)
    try:
        await put_dead_letter(admin, dashboard_env.org.id, b"{}", f"{dashboard_env.org.id}:ov")
    finally:
        await admin.close()
    st.cache_data.clear()
    after = await open_page()
    (warning,) = [w.value for w in after.warning if "Dead letters" in w.value]
    assert "1 message(s)" in warning and "1 events" in warning and "costobs dlq" in warning
