"""Real parts only: a nats-server from the wheel on a free loopback port, chDB, SQLite and
(when COSTOBS_TEST_POSTGRES_URL is set, as in CI) PostgreSQL. Each test gets its own org, so
tests share one chDB engine (one per process) without seeing each other's data."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from costobs_server.metadata.db import MetadataDB
from costobs_server.nats_server import NatsServer
from costobs_server.store import EventStore
from tests.helpers import FIXED_CLOCK_WINDOW, Running, running_stack

pytest_plugins = ["tests.wheel_venv"]  # the `installed` fixture: wheels in a fresh venv

POSTGRES_URL = os.environ.get("COSTOBS_TEST_POSTGRES_URL")
CLICKHOUSE_URL = os.environ.get("COSTOBS_TEST_CLICKHOUSE_URL")


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("costobs-data")


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path_factory.mktemp("nats"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def store(data_dir: Path) -> Iterator[EventStore]:
    """The session's chDB engine (chDB allows one data path per process)."""
    s = EventStore.open_chdb(data_dir / "clickhouse")
    s.migrate()
    yield s
    s.close()


def _postgres_schema_url(base: str) -> tuple[str, Callable[[], None]]:
    schema = f"t_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options=-csearch_path%3D{schema}"

    def drop() -> None:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()

    return url, drop


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def metadata_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'metadata.sqlite3'}"
        return
    if not POSTGRES_URL:
        pytest.skip("COSTOBS_TEST_POSTGRES_URL is not set (CI provisions PostgreSQL)")
    url, drop = _postgres_schema_url(POSTGRES_URL)
    yield url
    drop()


@pytest.fixture
def metadata(tmp_path: Path) -> MetadataDB:
    db = MetadataDB.connect(f"sqlite:///{tmp_path / 'metadata.sqlite3'}")
    db.migrate()
    db.seed_dev()
    return db


@pytest.fixture
async def running(
    nats_server: NatsServer, data_dir: Path, store: EventStore, tmp_path: Path
) -> AsyncIterator[Running]:
    """Ingest + writer in this process against the session's nats-server and chDB."""
    async with running_stack(nats_server, data_dir, tmp_path, **FIXED_CLOCK_WINDOW) as r:
        yield r


@pytest.fixture
def dashboard_env(running: Running, monkeypatch: pytest.MonkeyPatch) -> Running:
    """The dashboard's settings pointed at ``running``'s read API (embedded, no login)."""
    monkeypatch.setenv("COSTOBS_MODE", "embedded")
    monkeypatch.setenv("COSTOBS_HOST", "127.0.0.1")
    monkeypatch.setenv("COSTOBS_API_URL", running.url)
    monkeypatch.setenv("COSTOBS_DASHBOARD_API_KEY", running.org.key)
    monkeypatch.delenv("COSTOBS_DASHBOARD_PASSWORD", raising=False)
    return running


@pytest.fixture(params=["chdb", pytest.param("server", marks=pytest.mark.clickhouse_server)])
def any_store(request: pytest.FixtureRequest, store: EventStore) -> Iterator[EventStore]:
    """The same tests on chDB and, when COSTOBS_TEST_CLICKHOUSE_URL is set, a server."""
    if request.param == "chdb":
        yield store
        return
    if not CLICKHOUSE_URL:
        pytest.skip("COSTOBS_TEST_CLICKHOUSE_URL is not set")
    server = EventStore.open_server(CLICKHOUSE_URL)
    server.migrate()
    yield server
    server.close()
