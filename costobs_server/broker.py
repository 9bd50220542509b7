"""The FastStream ``NatsBroker`` of a process role, and the one way to subscribe on it.

Reuse (the writer, the bills writer, alertd; replay and the DLQ tools do the same)::

    broker = make_broker(settings, "writer")      # one per role; url=/auth= for embedded
    @durable_batches(broker, stream=BILLS_STREAM, durable=BILLS_DURABLE, subject="costobs.bills.>")
    async def handle(messages: list[Msg]) -> None: ...  # settles (ack/nak) each message
    nc = await broker.connect()                   # the role's one connection, to publish on
    await broker.start()                          # starts every subscriber

What it guarantees, whatever the handler does:
- The connection is :func:`costobs_server.nats_auth.connect`'s: the role's user, password,
  token or .creds and TLS, its own inbox prefix (the only one its permissions let it read),
  endless reconnects, and credentials the server refuses fail at once naming the role.
- Acks are manual (FastStream's ``AckPolicy.MANUAL``; JetStream's ``AckPolicy.EXPLICIT`` on
  the consumer in ``streams.yaml``): a handler settles each message itself, after the durable
  write. FastStream's default, reject-on-error, would *terminate* a message whose handler
  raised — data loss for a writer. Here a handler that raises has every message it had not
  settled yet negatively acknowledged with a delay (:func:`settle_on_error`), so JetStream
  delivers it again and the delivery count, hence dead-lettering, still applies.
- Streams and consumers are never declared by FastStream: ``streams.yaml`` (applied by the
  writer role, ``streams.ensure_streams``) is their one definition; subscribers only bind to
  the durable consumer it made.
- The handler gets the raw ``nats.aio.msg.Msg`` list, not decoded bodies: the events writer
  parses in its own process pool, and FastStream would otherwise JSON-decode every body.

In embedded mode (``costobs up``) one process runs several roles, each as its own NATS user:
there is one broker per role that consumes (writer, alertd), never one shared connection
with the union of their permissions.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.subscriber.usecases.basic import LogicSubscriber
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError, MsgAlreadyAckdError
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import ServiceUnavailableError

from costobs_server.errors import ConfigError
from costobs_server.nats_auth import NatsAuth, connect, inbox_prefix
from costobs_server.settings import Settings

log = logging.getLogger(__name__)

BatchHandler = Callable[[list[Msg]], Awaitable[None]]
ERROR_REDELIVERY_DELAY_S = 2.0
"""How long JetStream waits before delivering again the messages of a handler that raised."""


class RoleBroker(NatsBroker):
    """A ``NatsBroker`` that connects through :func:`nats_auth.connect` as one role."""

    def __init__(self, url: str, auth: NatsAuth, role: str, **options: Any) -> None:
        servers = [u.strip() for u in url.split(",") if u.strip()]
        super().__init__(
            servers=servers,
            name=f"costobs-{role}",
            inbox_prefix=inbox_prefix(role),
            ack_policy=AckPolicy.MANUAL,
            apply_types=False,  # handlers take the raw messages; nothing to validate
            logger=log,
            log_level=logging.DEBUG,  # FastStream's per-message "Received"/"Processed" lines
            graceful_timeout=30.0,
            **options,
        )
        self.nats_url = url
        self.auth = auth
        self.role = role

    async def _connect(self) -> NATS:
        nc = await connect(self.nats_url, self.auth, self.role)
        self.config.connect(nc)
        return nc

    @property
    def connection(self) -> NATS:
        """The connected NATS client (after ``connect()`` or ``start()``)."""
        if self._connection is None:
            raise RuntimeError(f"the {self.role} broker is not connected yet")
        return self._connection


def make_broker(
    settings: Settings, role: str, *, url: str | None = None, auth: NatsAuth | None = None
) -> RoleBroker:
    """The broker of ``role``. Server mode: ``COSTOBS_NATS_URL`` (comma-separated servers)
    and the ``COSTOBS_NATS_*`` credentials; the embedded server (or a test) passes its own
    ``url`` and the role's generated ``auth``."""
    where = url or settings.nats_url
    if not where:
        raise ConfigError("COSTOBS_NATS_URL is not set (and no embedded nats-server runs)")
    return RoleBroker(where, auth or NatsAuth.from_settings(settings), role)


async def raw_batch(message: Any) -> list[Msg]:
    """FastStream decoder: the batch's ``nats.aio.msg.Msg`` list, bodies left as bytes."""
    raw: list[Msg] = message.raw_message
    return raw


def settle_on_error(handler: BatchHandler) -> BatchHandler:
    """On an exception, nak (with a delay) every message the handler had not settled, then
    re-raise (FastStream logs it). Never terminates: the delivery count decides."""

    @functools.wraps(handler)
    async def settled(messages: list[Msg]) -> None:
        try:
            await handler(messages)
        except Exception:
            for msg in messages:
                try:
                    await msg.nak(delay=ERROR_REDELIVERY_DELAY_S)
                except MsgAlreadyAckdError:
                    pass  # the handler settled this one before it failed
                except Exception as exc:  # NATS away: redelivered after ack_wait anyway
                    log.warning("nak after a handler error failed: %r", exc)
            raise

    return settled


def guard_fetches(subscriber: Any) -> None:
    """Make the subscriber's fetch loop survive an idle stream and a NATS outage.

    FastStream 0.7.8's batch loop ends a fetch quietly only on ``nats.errors.TimeoutError``,
    but nats-py 2.16 raises the built-in ``TimeoutError`` when nothing arrived, and other
    errors while NATS reconnects: each would kill the loop and have FastStream's supervisor
    restart it at once, with a traceback. Wrapped here, both become the quiet timeout (after
    a short pause for an outage), as the writer's own fetch loop always treated them.
    """
    create = subscriber._create_subscription

    async def create_guarded() -> None:
        await create()  # binds, and schedules the loop, which has not run yet
        pull = subscriber.subscription
        fetch = pull.fetch

        async def guarded(*args: Any, **kwargs: Any) -> list[Msg]:
            try:
                got: list[Msg] = await fetch(*args, **kwargs)
            except NatsTimeout:
                raise
            except TimeoutError as exc:
                raise NatsTimeout from exc
            except (ConnectionClosedError, ServiceUnavailableError):
                raise  # handled by FastStream: the loop stops or retries
            except NatsError as exc:  # NATS away: the client reconnects by itself
                log.warning("fetching from JetStream failed (%r); retrying", exc)
                await asyncio.sleep(0.5)
                raise NatsTimeout from exc
            return got

        pull.fetch = guarded

    subscriber._create_subscription = create_guarded


def durable_batches(
    broker: RoleBroker,
    *,
    stream: str,
    durable: str,
    subject: str,
    batch_size: int = 256,
    timeout_s: float = 0.25,
    title: str | None = None,
    description: str | None = None,
) -> Callable[[BatchHandler], LogicSubscriber[Any]]:
    """Register a batch handler on the durable pull consumer ``durable`` of ``stream``.

    Each fetch returns up to ``batch_size`` messages (waiting at most ``timeout_s``); the next
    fetch starts when the handler returned, so a slow handler is back-pressure, not a buffer.
    """

    def register(handler: BatchHandler) -> LogicSubscriber[Any]:
        subscriber = broker.subscriber(
            subject,
            stream=JStream(stream, declare=False),
            durable=durable,
            pull_sub=PullSub(batch_size=batch_size, timeout=timeout_s, batch=True),
            ack_policy=AckPolicy.MANUAL,
            inbox_prefix=f"{inbox_prefix(broker.role)}.".encode(),
            decoder=raw_batch,
            title=title,
            description=description,
        )
        subscriber(settle_on_error(handler))
        guard_fetches(subscriber)
        return subscriber

    return register
