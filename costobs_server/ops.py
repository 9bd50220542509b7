"""Where the operator tools (``costobs replay``, ``costobs dlq``) run.

Three places, one set of parts (:class:`OpsContext`):
- ``costobs up`` is running on the data dir: it owns chDB (one process per data path), so the
  CLI asks it, through the ingest port, authenticated by the token the process wrote to
  ``<data dir>/control.json`` (owner-only). Replay and dead letters span every org, which no
  org's API key may; reading the data dir already is the operator's authority.
- Nothing runs on the data dir: the CLI opens it itself (the embedded nats-server on its
  JetStream store, chDB, the metadata DB) and stops it again afterwards.
- Server mode (``COSTOBS_NATS_URL`` set): the CLI is a process of its own next to the live
  writer, with the role's NATS credentials (``COSTOBS_NATS_USER=replay`` / ``dlq``) and the
  ClickHouse server.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from faststream.nats import NatsBroker
from nats.js import JetStreamContext

from consumers.pricer import Pricer
from costobs_server import replay
from costobs_server.broker import RoleBroker
from costobs_server.dead_letters import ROLE as DLQ_ROLE
from costobs_server.errors import CostObsError
from costobs_server.metadata.db import MetadataDB
from costobs_server.nats_auth import NatsAuth, write_private
from costobs_server.settings import Settings
from costobs_server.store import EventStore

T = TypeVar("T")
CONTROL_FILE = "control.json"


@dataclass
class OpsContext:
    settings: Settings
    nats_url: str
    auth: Callable[[str], NatsAuth]
    store: EventStore
    db: MetadataDB
    live_writer: bool
    """A live writer runs next to it: replay stops at its ack floor and keeps to the rate."""

    def broker(self, role: str) -> NatsBroker:
        return RoleBroker(self.nats_url, self.auth(role), role)

    def replay_job(
        self,
        spec: replay.ReplaySpec,
        on_progress: Callable[[replay.ReplayProgress], None] | None = None,
    ) -> replay.ReplayJob:
        s = self.settings
        return replay.ReplayJob(
            spec,
            broker=lambda: self.broker(replay.ROLE),
            store=self.store,
            price=Pricer(overrides=self.db.price_overrides),
            flush_log_dir=s.resolved_data_dir / "writer",
            events_per_s=s.replay_events_per_s if self.live_writer else 0,
            live_writer=self.live_writer,
            inactive_s=s.nats_max_age_days * 86400.0,
            on_progress=on_progress,
        )

    async def dead_letters(self, action: Callable[[JetStreamContext], Awaitable[T]]) -> T:
        """``action`` with a JetStream context of the dlq role."""
        broker = self.broker(DLQ_ROLE)
        try:
            nc = await broker.connect()
            return await action(nc.jetstream())
        finally:
            await broker.stop()


# -- the running process --------------------------------------------------------------------


@dataclass(frozen=True)
class Control:
    """How to reach the running process's operator endpoints."""

    url: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def publish_control(settings: Settings) -> str:
    """Called by the running process: its URL and a new token, readable by the owner only."""
    token = secrets.token_urlsafe(32)
    url = f"http://{settings.host}:{settings.port}"
    write_private(
        settings.resolved_data_dir / CONTROL_FILE,
        json.dumps({"pid": os.getpid(), "url": url, "token": token}),
    )
    return token


def withdraw_control(settings: Settings) -> None:
    path = settings.resolved_data_dir / CONTROL_FILE
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_control(settings: Settings, port: int | None = None) -> Control | None:
    """The running process on this data dir, or None when nothing runs on it. A process that
    holds the data dir without offering control (an older version) is an error: opening the
    data dir next to it would fight it for chDB and its nats-server."""
    data = settings.resolved_data_dir
    try:
        control = json.loads((data / CONTROL_FILE).read_text())
    except (OSError, ValueError):
        control = None
    if control and _alive(int(control.get("pid", 0))):
        url = str(control["url"])
        if port is not None:
            url = f"{url.rsplit(':', 1)[0]}:{port}"
        return Control(url, str(control["token"]))
    nats_pid = _pid(data / "nats" / "nats-server.pid")
    if nats_pid and _alive(nats_pid):
        raise CostObsError(
            f"a nats-server (pid {nats_pid}) runs on {data} but no CostObs process there offers "
            "replay and dead-letter control; stop it, or run this version of `costobs up`"
        )
    return None


def _pid(path: Path) -> int:
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return 0


# -- opening the data dir (nothing runs) or server mode ----------------------------------------


@contextlib.asynccontextmanager
async def local_context(settings: Settings) -> AsyncIterator[OpsContext]:
    """The parts opened by this process: embedded (the data dir) or server mode."""
    import asyncio

    from costobs_server.nats_server import NatsServer
    from costobs_server.serve import open_metadata, open_store

    server: NatsServer | None = None
    if settings.nats_url:
        url = settings.nats_url
        server_auth = NatsAuth.from_settings(settings)
        auth: Callable[[str], NatsAuth] = lambda _role: server_auth  # noqa: E731 - one user
    else:
        if not (settings.nats_store_dir / "jetstream").exists():
            raise CostObsError(
                f"no CostObs data in {settings.resolved_data_dir} (no JetStream store); "
                "give --data-dir, or COSTOBS_NATS_URL in server mode"
            )
        server = NatsServer(settings.nats_store_dir, sync_always=settings.nats_sync_always)
        await asyncio.to_thread(server.start)
        url, auth = server.url, server.auth
    store: EventStore | None = None
    try:
        db = await asyncio.to_thread(open_metadata, settings)
        store = await asyncio.to_thread(open_store, settings)
        yield OpsContext(settings, url, auth, store, db, live_writer=server is None)
    finally:
        if store is not None:
            store.close()
        if server is not None:
            await asyncio.to_thread(server.stop)
