"""The event store: ClickHouse through clickhouse-connect, in-process (chDB) or a server.

Both backends run the same SQL and the same numbered migrations; only the connection differs.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from costobs_server.errors import StoreError
from costobs_server.store.cluster import (
    CLUSTER_CLIENT_SETTINGS,
    check_cluster_name,
    cluster_statements,
    schema_migrations_ddl,
)
from costobs_server.vocabulary import money_text

_MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def load_migrations(folder: Path = _MIGRATIONS) -> list[Migration]:
    """Numbered ``NNNN_name.sql`` files, in order; statements end with ``;`` at a line end."""
    found = []
    for path in sorted(folder.glob("[0-9][0-9][0-9][0-9]_*.sql")):
        text = "\n".join(
            line for line in path.read_text().splitlines() if not line.lstrip().startswith("--")
        )
        statements = tuple(s.strip() for s in text.split(";\n") if s.strip().rstrip(";"))
        found.append(Migration(int(path.name[:4]), path.stem[5:], statements))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise StoreError(f"two ClickHouse migrations share a number in {folder}")
    return found


def created_tables(migrations: list[Migration]) -> set[str]:
    """Every table any migration creates (views excluded)."""
    found = set()
    for migration in migrations:
        for statement in migration.statements:
            words = statement.split()
            if words[:5] == ["CREATE", "TABLE", "IF", "NOT", "EXISTS"]:
                found.add(words[5])
    return found


class EventStore:
    """One interface over ClickHouse for the writer, the read API and the tools."""

    def __init__(self, connect: Any, *, thread_local: bool, cluster: str | None = None) -> None:
        self.cluster = cluster
        """ClickHouse cluster name: migrations run ON CLUSTER (see store/cluster.py)."""
        self._connect = connect
        self._local = threading.local() if thread_local else None
        self._shared: Client | None = None if thread_local else connect()

    @classmethod
    def open_chdb(cls, path: Path) -> EventStore:
        path.mkdir(parents=True, exist_ok=True)

        def connect() -> Client:
            return clickhouse_connect.get_client(interface="chdb", path=str(path))

        # chDB handles are per client; one per thread keeps concurrent readers and the
        # writer from sharing a session.
        return cls(connect, thread_local=True)

    @classmethod
    def open_server(cls, url: str, cluster: str | None = None) -> EventStore:
        settings = CLUSTER_CLIENT_SETTINGS if cluster else None

        def connect() -> Client:
            return clickhouse_connect.get_client(
                dsn=url, autogenerate_session_id=False, settings=settings
            )

        return cls(connect, thread_local=False, cluster=cluster and check_cluster_name(cluster))

    @classmethod
    def open(
        cls, clickhouse_url: str | None, chdb_path: Path, cluster: str | None = None
    ) -> EventStore:
        if clickhouse_url:
            return cls.open_server(clickhouse_url, cluster)
        if cluster:
            raise StoreError(
                "COSTOBS_CLICKHOUSE_CLUSTER needs a ClickHouse server (COSTOBS_CLICKHOUSE_URL)"
            )
        return cls.open_chdb(chdb_path)

    @property
    def client(self) -> Client:
        if self._local is None:
            assert self._shared is not None
            return self._shared
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            client = self._connect()
            self._local.client = client
        return client

    # -- schema -------------------------------------------------------------------------

    def migrate(self) -> list[int]:
        """Apply the numbered migrations not applied yet; returns the versions applied."""
        self.client.command(schema_migrations_ddl(self.cluster))
        done = {
            row[0] for row in self.client.query("SELECT version FROM schema_migrations").result_rows
        }
        applied = []
        migrations = load_migrations()
        for migration in migrations:
            if migration.version in done:
                continue
            for statement in self.statements(migration, migrations):
                self.client.command(statement)
            self.client.insert(
                "schema_migrations",
                [(migration.version, migration.name)],
                column_names=["version", "name"],
            )
            applied.append(migration.version)
        return applied

    def statements(self, migration: Migration, every: list[Migration]) -> tuple[str, ...]:
        """What runs for ``migration``: its own statements, or their cluster form."""
        if self.cluster is None:
            return migration.statements
        tables = created_tables(every)
        return tuple(cluster_statements(list(migration.statements), self.cluster, tables))

    # -- writes -------------------------------------------------------------------------

    def prepare_staging(self, name: str) -> None:
        """(Re)create the writer's staging table: a Memory copy of ``events``' columns."""
        _check_identifier(name)
        self.client.command(f"DROP TABLE IF EXISTS {name}")
        self.client.command(f"CREATE TABLE {name} AS events ENGINE = Memory")

    def stored_keys(self, block: bytes, staging: str) -> set[tuple[str, str]]:
        """The (org_id, request_id) of the JSONEachRow ``events`` rows in ``block`` that
        ``events`` holds already.

        The rows land in the staging table; ClickHouse then looks for them in ``events`` only
        inside the staging rows' orgs and time range, which the sort key makes cheap for live
        traffic.
        """
        if not block:
            return set()
        _check_identifier(staging)
        client = self.client
        client.command(f"TRUNCATE TABLE {staging}")
        client.raw_insert(
            staging, insert_block=block, fmt="JSONEachRow", settings=_JSON_INSERT_SETTINGS
        )
        stored = client.query(
            f"SELECT org_id, request_id FROM {staging} WHERE (org_id, request_id) IN ("
            f"SELECT org_id, request_id FROM events "
            f"WHERE org_id IN (SELECT DISTINCT org_id FROM {staging}) "
            f"AND timestamp BETWEEN (SELECT min(timestamp) FROM {staging}) "
            f"AND (SELECT max(timestamp) FROM {staging}))"
        ).result_rows
        client.command(f"TRUNCATE TABLE {staging}")
        return {(org, request_id) for org, request_id in stored}

    def insert_events(self, block: bytes, token: str) -> None:
        """Insert JSONEachRow rows into ``events`` and, through the materialized views, every
        rollup, idempotently per ``token``.

        Each table keeps a log of the recent insert tokens (migration 0008), and a repeated
        insert is checked by ``events`` and by each view's target on its own: re-sending the
        same block with the same token after a failure anywhere (``events`` written, some
        rollups not) completes what is missing and adds nothing twice. The caller must resend
        exactly the same bytes (the same rows form the same blocks).
        """
        if not block:
            return
        self.client.raw_insert(
            "events",
            insert_block=block,
            fmt="JSONEachRow",
            settings={**_JSON_INSERT_SETTINGS, **_dedup_settings(token)},
        )

    @functools.cached_property
    def no_dedup(self) -> dict[str, Any]:
        """Settings for inserts that must never be taken for a repeat (repairs re-deriving
        rollup rows): ClickHouse 26 switches deduplication off with ``deduplicate_insert``,
        which older servers (25.8 in docker-compose) reject as unknown."""
        new = self.query("SELECT count() FROM system.settings WHERE name = 'deduplicate_insert'")
        return {"deduplicate_insert": "disable"} if new[0][0] else {"insert_deduplicate": 0}

    def insert_billed(self, rows: Sequence[Sequence[Any]]) -> None:
        self.client.insert(
            "billed_daily",
            list(rows),
            column_names=["org_id", "provider", "date", "billed_usd", "source", "line_item"],
        )

    # -- reads --------------------------------------------------------------------------

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.client.query(sql, parameters=parameters).result_rows]

    def usage_summary(self, org_id: str, start: date, end: date) -> dict[str, Any]:
        """Totals for UTC days start..end inclusive, from the daily rollup."""
        rows = self.query(
            "SELECT sum(requests), sum(cost_usd), "
            "sum(input_tokens), sum(output_tokens) "
            "FROM cost_daily WHERE org_id = {org:String} AND day BETWEEN {a:Date} AND {b:Date}",
            {"org": org_id, "a": start, "b": end},
        )
        requests, cost, input_tokens, output_tokens = rows[0]
        return {
            "requests": int(requests or 0),
            "cost_usd": money_text(cost),
            "input_tokens": int(input_tokens or 0),
            "output_tokens": int(output_tokens or 0),
        }

    def close(self) -> None:
        if self._shared is not None:
            self._shared.close()
        elif self._local is not None and getattr(self._local, "client", None) is not None:
            self._local.client.close()
            self._local.client = None


_JSON_INSERT_SETTINGS = {
    "date_time_input_format": "best_effort",  # RFC 3339 with offsets, as the wire carries
    "input_format_skip_unknown_fields": 0,  # a field with no column is an error, not lost
    "async_insert": 0,  # the staging rows must be there when the next statement runs
}


def _dedup_settings(token: str) -> dict[str, Any]:
    return {
        "insert_deduplication_token": token,
        # on by default from ClickHouse 26 (``deduplicate_insert``), by this one before
        "insert_deduplicate": 1,
        "deduplicate_blocks_in_dependent_materialized_views": 1,
        # one stream per view, in order: the same bytes form the same blocks on every retry
        "parallel_view_processing": 0,
    }


def _check_identifier(name: str) -> None:
    if not name.replace("_", "").isalnum() or not name[0].isalpha():
        raise StoreError(f"not a safe table name: {name!r}")
