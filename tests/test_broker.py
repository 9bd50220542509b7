"""The FastStream broker every consuming role runs on (costobs_server/broker.py): manual
acks that never drop a message whose handler failed, the role's own NATS user, and a fetch
loop that survives an idle stream."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig

from costobs_server.broker import RoleBroker, durable_batches, make_broker
from costobs_server.errors import ConfigError
from costobs_server.nats_auth import ADMIN, NatsAuth
from costobs_server.nats_server import NatsServer
from costobs_server.settings import load_settings
from tests.helpers import eventually, nats_client


@pytest.fixture
async def scratch(nats_server: NatsServer) -> AsyncIterator[tuple[str, str]]:
    """A stream of its own with one durable consumer (explicit acks), as streams.yaml makes."""
    name = f"T_{uuid.uuid4().hex[:8]}"
    subject = f"test.{name}"
    nc = await nats_client(nats_server)
    js = nc.jetstream()
    await js.add_stream(name=name, subjects=[f"{subject}.>"])
    await js.add_consumer(
        name, ConsumerConfig(durable_name="d", ack_policy=AckPolicy.EXPLICIT, ack_wait=30)
    )
    yield name, subject
    await js.delete_stream(name)
    await nc.close()


def admin_broker(server: NatsServer) -> RoleBroker:
    return make_broker(load_settings(nats_url=server.url), ADMIN, auth=server.auth(ADMIN))


async def publish(server: NatsServer, subject: str, *payloads: bytes) -> None:
    nc = await nats_client(server)
    for payload in payloads:
        await nc.jetstream().publish(subject, payload)
    await nc.close()


async def test_a_handler_error_naks_what_it_had_not_settled_and_never_terminates(
    nats_server: NatsServer, scratch: tuple[str, str]
) -> None:
    """FastStream's default policy would terminate both messages (reject on error): lost.
    Here the one the handler acked stays acked, the other comes back with its count."""
    stream, subject = scratch
    seen: list[tuple[bytes, int]] = []
    broker = admin_broker(nats_server)

    @durable_batches(broker, stream=stream, durable="d", subject=f"{subject}.>", timeout_s=0.5)
    async def handle(messages: list[Msg]) -> None:
        for msg in messages:
            seen.append((msg.data, msg.metadata.num_delivered))
        if len(seen) == 2:  # the first batch: settle one, then fail
            await messages[0].ack()
            raise RuntimeError("handler bug")
        for msg in messages:
            await msg.ack()

    await publish(nats_server, f"{subject}.x", b"kept", b"retried")
    async with broker:
        await broker.start()
        await eventually(lambda: len(seen) >= 3, within=15)
        await asyncio.sleep(0.5)  # nothing else comes back
    assert seen == [(b"kept", 1), (b"retried", 1), (b"retried", 2)]


async def test_a_partial_batch_is_handled_at_once_and_the_fetch_loop_survives(
    nats_server: NatsServer, scratch: tuple[str, str]
) -> None:
    """FastStream 0.7.8 ends a batch fetch quietly only on nats' own TimeoutError; nats-py
    2.16 raises the built-in one when the time runs out with a batch half full. The loop
    died with the fetched messages (unacked: back only after ``ack_wait``) and was restarted
    with a traceback. Guarded, the partial batch is handled and the same loop keeps going."""
    stream, subject = scratch
    got: list[bytes] = []
    broker = admin_broker(nats_server)

    async def handle(messages: list[Msg]) -> None:
        for msg in messages:
            got.append(msg.data)
            await msg.ack()

    subscriber = durable_batches(
        broker, stream=stream, durable="d", subject=f"{subject}.>", timeout_s=0.25
    )(handle)
    async with broker:
        await broker.start()
        loop = subscriber.tasks[0]  # type: ignore[attr-defined]
        for round_ in range(1, 6):  # the loss depends on timing: give it several chances
            await publish(nats_server, f"{subject}.x", *(b"%d" % i for i in range(3)))
            await eventually(lambda n=3 * round_: len(got) == n, within=3)  # ack_wait is 30 s
            await asyncio.sleep(0.3)  # an idle fetch or two
        assert subscriber.tasks == [loop] and not loop.done()  # type: ignore[attr-defined]


async def test_the_broker_connects_as_its_role_and_refused_credentials_fail_at_once(
    nats_server: NatsServer,
) -> None:
    settings = load_settings(nats_url=nats_server.url)
    broker = make_broker(settings, "alertd", auth=nats_server.auth("alertd"))
    nc = await broker.connect()
    try:
        assert nc.is_connected and broker.connection is nc
    finally:
        await broker.stop()
    wrong = make_broker(settings, "alertd", auth=NatsAuth(user="alertd", password="wrong"))
    with pytest.raises(ConfigError, match="alertd role"):
        await asyncio.wait_for(wrong.connect(), 10)


def test_a_broker_needs_a_server() -> None:
    with pytest.raises(ConfigError, match="COSTOBS_NATS_URL"):
        make_broker(load_settings(nats_url=None), "writer")
