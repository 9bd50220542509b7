"""Running the roles: ``costobs up`` (everything in one process, embedded parts) and the
server-mode roles (``costobs ingest``, ``costobs writer``) against external services.

Shutdown order on SIGINT/SIGTERM, bounded at every step: stop accepting HTTP requests, let
the writer flush and ack what it holds, close NATS, stop the embedded nats-server (which
fsyncs), close the event store. Everything acknowledged with 202 is in JetStream by then,
so a restart on the same data dir resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import uvicorn
from nats.aio.client import Client as NATS

from consumers.bills import BillsWriter
from consumers.flush_log import FlushLog
from consumers.intake import BrokerIntake
from consumers.pricer import Pricer
from consumers.transform_pool import TransformPool
from consumers.writer import Writer
from consumers.writer_health import writer_report
from costobs_server import metrics
from costobs_server.broker import RoleBroker, make_broker
from costobs_server.errors import CostObsError
from costobs_server.health import HealthCheck
from costobs_server.http_app import create_app
from costobs_server.metadata.db import DEV_KEY, MetadataDB
from costobs_server.nats_auth import NatsAuth, connect
from costobs_server.nats_server import NatsServer
from costobs_server.ops import OpsContext
from costobs_server.ops_api import OpsService
from costobs_server.ops_api import install as install_ops
from costobs_server.repricing import recover as recover_repricing
from costobs_server.runtime import Services
from costobs_server.settings import Settings
from costobs_server.store import EventStore
from costobs_server.store.compaction import Compactor
from costobs_server.streams import ensure_streams

log = logging.getLogger("costobs")
DASHBOARD_APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
SHUTDOWN_TIMEOUT_S = 30.0
CONSUMING_ROLES = frozenset({"writer", "alertd"})
"""Roles with JetStream subscribers: each gets a FastStream broker (costobs_server/broker.py)."""
HEALTHY_RUN_S = 60.0
"""A child that ran this long before dying starts a fresh count towards the restart limit."""


class RoleFailed(CostObsError):
    """A part of the process cannot continue; ``costobs`` exits non-zero with this reason."""


class _Server(uvicorn.Server):
    """uvicorn without its own signal capture: this process orchestrates shutdown."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def open_metadata(settings: Settings) -> MetadataDB:
    if settings.mode == "embedded":
        settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    db = MetadataDB.connect(settings.metadata_db_url)
    db.migrate()
    if settings.seeds_dev_key:
        db.seed_dev()
    return db


def open_store(settings: Settings) -> EventStore:
    store = EventStore.open(
        settings.clickhouse_url, settings.chdb_path, settings.clickhouse_cluster
    )
    store.migrate()
    return store


@dataclass
class Stack:
    """The parts one process runs; built by ``start`` and torn down by ``stop``."""

    settings: Settings
    roles: frozenset[str]
    services: Services | None = None
    nats_server: NatsServer | None = None
    writer: Writer | None = None
    bills_writer: BillsWriter | None = None
    compactor: Compactor | None = None
    transform_pool: TransformPool | None = None
    workers: list[Any] = field(default_factory=list)
    """alertd / billsyncd: each has ``run()``, ``stop()`` and ``health()``."""
    role_http: list[_Server] = field(default_factory=list)
    http: _Server | None = None
    ops: OpsService | None = None
    dashboard: subprocess.Popen[bytes] | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    nats_url: str = ""
    nats_auth: Callable[[str], NatsAuth] | None = None
    """Credentials per role; unset = the embedded server's users, or COSTOBS_NATS_* settings."""
    connections: dict[str, NATS] = field(default_factory=dict)
    """One NATS connection per role, each as that role's user."""
    brokers: dict[str, RoleBroker] = field(default_factory=dict)
    """The FastStream broker of each role that consumes (CONSUMING_ROLES); it owns the
    role's connection in ``connections``."""
    _stopping: bool = False

    async def start(self, with_dashboard: bool = False) -> None:
        s = self.settings
        if s.nats_url:
            self.nats_url = s.nats_url
        else:
            self.nats_server = NatsServer(s.nats_store_dir, sync_always=s.nats_sync_always)
            await asyncio.to_thread(self.nats_server.start)
            self.nats_url = self.nats_server.url
            self.tasks.append(asyncio.create_task(self._watch_nats(), name="nats-watchdog"))
        db = await asyncio.to_thread(open_metadata, s)
        store = await asyncio.to_thread(open_store, s)
        auth = self._role_auth()
        for role in sorted(self.roles):
            if role in CONSUMING_ROLES:  # its broker owns the role's one connection
                broker = make_broker(s, role, url=self.nats_url, auth=auth(role))
                self.brokers[role] = broker
                self.connections[role] = await broker.connect()
            else:
                self.connections[role] = await connect(self.nats_url, auth(role), role)
        self.services = Services(s, db, store, self.connections.get("ingest"))
        if "writer" in self.roles:
            # the writer owns the stream definitions; other roles never change them
            nc = self.connections["writer"]
            await ensure_streams(nc.jetstream(), s)
            # a re-pricing job stopped in the middle of a day: finish the day first
            await asyncio.to_thread(recover_repricing, store)
            if s.writer_processes:
                self.transform_pool = TransformPool(
                    s.writer_processes, s.metadata_db_url, restart_limit=s.child_restart_limit
                )
                await asyncio.to_thread(self.transform_pool.warm_up)
            self.writer = Writer(
                nc,
                store,
                Pricer(overrides=db.price_overrides),
                batch_size=s.writer_batch_size,
                flush_ms=s.writer_flush_ms,
                max_deliveries=s.writer_max_deliveries,
                staging_table=f"events_staging_{s.writer_id}",
                pool=self.transform_pool,
                flush_log=FlushLog(s.resolved_data_dir / "writer" / s.writer_id),
                intake=BrokerIntake(self.brokers["writer"]),
            )
            self.tasks.append(asyncio.create_task(self.writer.run(), name="writer"))
            if s.writer_port:
                writer = self.writer
                self._serve_health(
                    "writer",
                    lambda: writer_report(writer, s.health_timeout_s, s.writer_unhealthy_after_s),
                    s.writer_port,
                )
            self.bills_writer = BillsWriter(nc, store, max_deliveries=s.writer_max_deliveries)
            self.bills_writer.subscribe(self.brokers["writer"])
            await self.brokers["writer"].start()
            if s.compact_interval_s > 0:
                self.compactor = Compactor(store, s.compact_interval_s)
                self.tasks.append(asyncio.create_task(self.compactor.run(), name="compactor"))
        if "ingest" in self.roles:
            app = create_app(self.services)
            if "writer" in self.roles:  # `costobs up`: replay and dead letters via this process
                self.ops = install_ops(app, self._ops_context(store, db))
            config = uvicorn.Config(
                app,
                host=s.host,
                port=s.port,
                log_level="warning",
                lifespan="off",
                access_log=False,
            )
            self.http = _Server(config)
            self.tasks.append(asyncio.create_task(self.http.serve(), name="http"))
            while not self.http.started:
                if self.tasks[-1].done():
                    self.tasks[-1].result()  # raises why it could not start
                    raise RoleFailed("HTTP server stopped during start-up")
                await asyncio.sleep(0.02)
        await self._start_workers(db)
        if with_dashboard:
            self.dashboard = start_dashboard(s)

    async def _start_workers(self, db: MetadataDB) -> None:
        """alertd and billsyncd; each serves /healthz and /metrics on its own port (0 = none)."""
        s, services = self.settings, self.services
        assert services is not None
        if "alertd" in self.roles:
            from alerting.worker import AlertD

            alertd = AlertD(
                replace(services, nc=self.connections["alertd"]),
                Pricer(overrides=db.price_overrides),
                reconcile_s=s.alert_reconcile_s,
                refresh_s=s.alert_rule_refresh_s,
            )
            alertd.subscribe(self.brokers["alertd"])
            await self._start_worker("alertd", alertd, s.alertd_port)
            await self.brokers["alertd"].start()
        if "billsyncd" in self.roles:
            from billing.sync import BillSync

            await self._start_worker(
                "billsyncd", BillSync(s, self.connections["billsyncd"]), s.billsyncd_port
            )

    def _ops_context(self, store: EventStore, db: MetadataDB) -> OpsContext:
        return OpsContext(self.settings, self.nats_url, self._role_auth(), store, db, True)

    def _role_auth(self) -> Callable[[str], NatsAuth]:
        if self.nats_auth is not None:
            return self.nats_auth
        if self.nats_server is not None:
            return self.nats_server.auth
        server_mode = NatsAuth.from_settings(self.settings)
        return lambda _role: server_mode

    async def _start_worker(self, name: str, worker: Any, port: int) -> None:
        self.workers.append(worker)
        self.tasks.append(asyncio.create_task(worker.run(), name=name))
        if port:
            self._serve_health(name, worker.health, port)

    def _serve_health(self, name: str, health: HealthCheck, port: int) -> None:
        """A role's own ``/healthz`` and ``/metrics`` on ``port``."""
        from costobs_server.health import health_app

        config = uvicorn.Config(
            health_app(f"CostObs {name}", health),
            host=self.settings.host,
            port=port,
            log_level="warning",
            lifespan="off",
        )
        server = _Server(config)
        self.role_http.append(server)
        self.tasks.append(asyncio.create_task(server.serve(), name=f"{name}-http"))

    async def _watch_nats(self) -> None:
        """Restart the embedded nats-server if it dies (clients reconnect by themselves), with
        backoff; after ``child_restart_limit`` failed or short-lived restarts in a row the
        process cannot continue and fails with the reason."""
        server = self.nats_server
        assert server is not None
        limit = self.settings.child_restart_limit
        failures, started = 0, time.monotonic()
        while not self._stopping:
            await asyncio.sleep(0.5)
            if self._stopping:
                return
            if server.process is not None and server.process.poll() is None:
                continue
            code = server.process.returncode if server.process is not None else None
            failures = failures + 1 if time.monotonic() - started < HEALTHY_RUN_S else 1
            if failures > limit:
                raise RoleFailed(
                    f"the embedded nats-server died {failures} times in a row (exit code "
                    f"{code}); see {server.store_dir / 'nats-server.log'}"
                )
            delay = min(0.25 * 2**failures, 10.0)
            log.error(
                "embedded nats-server exited (code %s); restarting it on %s in %.1fs",
                code,
                server.url,
                delay,
            )
            await asyncio.sleep(delay)
            started = time.monotonic()
            try:
                await asyncio.to_thread(server.start)
            except Exception as exc:
                log.error("could not restart nats-server: %s", exc)
                continue
            metrics.CHILD_RESTARTS.labels("nats_server").inc()

    def endpoints(self) -> list[tuple[str, str]]:
        s = self.settings
        lines = []
        if self.http is not None:
            base = f"http://{s.host}:{s.port}"
            lines += [
                ("ingest", f"{base}/v1/events"),
                ("read API", f"{base}/v1/usage/summary  (OpenAPI: {base}/openapi.json)"),
                ("health", f"{base}/healthz  metrics: {base}/metrics"),
            ]
        if "writer" in self.roles and s.writer_port:
            lines.append(("writer", f"http://{s.host}:{s.writer_port}/healthz"))
        if "alertd" in self.roles:
            where = f"http://{s.host}:{s.alertd_port}/healthz" if s.alertd_port else "no port"
            lines.append(("alertd", where))
        if "billsyncd" in self.roles:
            idle = "" if s.billing_openai_admin_key or s.billing_anthropic_admin_key else " (idle)"
            port = f"http://{s.host}:{s.billsyncd_port}/healthz" if s.billsyncd_port else "no port"
            lines.append(("billsyncd", port + idle))
        lines.append(
            ("NATS JetStream", self.nats_url + ("  (embedded)" if self.nats_server else ""))
        )
        lines.append(("ClickHouse", s.clickhouse_url or f"chDB in-process at {s.chdb_path}"))
        lines.append(("metadata DB", _redact(s.metadata_db_url)))
        if self.dashboard is not None:
            lines.append(("dashboard", f"http://{s.host}:{s.dashboard_port}"))
        return lines

    async def stop(self) -> None:
        self._stopping = True
        if self.dashboard is not None:
            self.dashboard.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.dashboard.wait(10)
            if self.dashboard.poll() is None:
                self.dashboard.kill()
        if self.http is not None:
            self.http.should_exit = True
        if self.ops is not None:
            await self.ops.close()
        if self.writer is not None:
            self.writer.stop()
        if self.compactor is not None:
            self.compactor.stop()
        for worker in self.workers:
            worker.stop()
        for server in self.role_http:
            server.should_exit = True
        if self.tasks:
            done, pending = await asyncio.wait(self.tasks, timeout=SHUTDOWN_TIMEOUT_S)
            for task in pending:
                log.error(
                    "%s did not stop within %ss; cancelling", task.get_name(), SHUTDOWN_TIMEOUT_S
                )
                task.cancel()
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    log.error("%s failed: %r", task.get_name(), task.exception())
        for broker in self.brokers.values():  # stops its subscribers, drains its connection
            try:
                await asyncio.wait_for(broker.stop(), SHUTDOWN_TIMEOUT_S)
            except Exception as exc:
                log.error("stopping the %s broker failed: %r", broker.role, exc)
        for nc in self.connections.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), 10)
        if self.nats_server is not None:
            await asyncio.to_thread(self.nats_server.stop)
        if self.transform_pool is not None:
            await asyncio.to_thread(self.transform_pool.close)
        if self.services is not None:
            self.services.store.close()
            self.services.db.engine.dispose()


def start_dashboard(settings: Settings) -> subprocess.Popen[bytes] | None:
    if not DASHBOARD_APP.exists():
        log.warning(
            "dashboard: not built yet (no %s); ingest and read API run without it", DASHBOARD_APP
        )
        return None
    env = {"COSTOBS_API_URL": settings.api_url or f"http://{settings.host}:{settings.port}"}
    if settings.mode == "embedded" and settings.seeds_dev_key and not settings.dashboard_api_key:
        env["COSTOBS_DASHBOARD_API_KEY"] = DEV_KEY  # loopback dev mode: no login, default org
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(DASHBOARD_APP),
            "--server.address",
            settings.host,
            "--server.port",
            str(settings.dashboard_port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--client.toolbarMode",
            "minimal",
        ],
        env={**os.environ, **env},
    )


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


async def run(
    settings: Settings,
    roles: frozenset[str],
    with_dashboard: bool = False,
    announce: Callable[[str], None] = print,
) -> None:
    """Run until SIGINT/SIGTERM, then shut down in order. A part that stops by itself (the
    writer failing, the nats-server beyond its restarts…) stops everything too, and then
    ``RoleFailed`` says which and why, so the process exits non-zero and a supervisor
    (systemd, Kubernetes) restarts it."""
    stack = Stack(settings, roles)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    failed: list[str] = []
    try:
        await stack.start(with_dashboard)
        # Start-up objects are permanent: move them out of the collector's way, and collect
        # less often, since the hot paths allocate many short-lived, acyclic dicts (~15% of
        # writer CPU on these machines).
        gc.freeze()
        gc.set_threshold(100_000, 50, 100)
        announce(f"CostObs is running ({', '.join(sorted(roles))}; mode {settings.mode}):")
        for name, where in stack.endpoints():
            announce(f"  {name:<15} {where}")
        announce("Press Ctrl-C to stop.")
        watched = [*stack.tasks, asyncio.create_task(stopping.wait())]
        done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task in stack.tasks:
                exc = task.exception()
                failed.append(
                    f"{task.get_name()} failed: {exc}" if exc else f"{task.get_name()} stopped"
                )
                log.error("%s; stopping", failed[-1])
    finally:
        announce("Stopping CostObs…")
        await stack.stop()
        announce("Stopped." if not failed else "Stopped after a failure.")
    if failed:
        raise RoleFailed("; ".join(failed))
