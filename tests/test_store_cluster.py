"""COSTOBS_CLICKHOUSE_CLUSTER: every migration's cluster DDL is accepted by ClickHouse's own
parser (chDB `EXPLAIN AST`), has the shape a cluster needs, and single-node DDL is unchanged.
No ClickHouse cluster runs here; its Keeper and replicas are the operator's (docs)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from costobs_server.errors import ConfigError, StoreError
from costobs_server.settings import load_settings
from costobs_server.store import EventStore, created_tables, load_migrations
from costobs_server.store.cluster import cluster_statements, local, schema_migrations_ddl

CLUSTER = "costobs_cluster"


def _cluster_store() -> EventStore:
    return EventStore(lambda: None, thread_local=False, cluster=CLUSTER)


def _rendered() -> list[tuple[int, str]]:
    migrations = load_migrations()
    store = _cluster_store()
    return [(m.version, s) for m in migrations for s in store.statements(m, migrations)]


def test_every_cluster_statement_parses_in_clickhouse(store: EventStore) -> None:
    rendered = [(0, schema_migrations_ddl(CLUSTER)), *_rendered()]
    assert len(rendered) > 40
    for version, statement in rendered:
        try:
            ast = "\n".join(row[0] for row in store.query(f"EXPLAIN AST {statement}"))
        except Exception as exc:
            raise AssertionError(f"migration {version}: ClickHouse rejects\n{statement}") from exc
        if statement.startswith("CREATE TABLE") and " AS " not in statement.split("\n")[0]:
            assert re.search(r"Function Replicated\w*MergeTree", ast), statement
        if "ENGINE = Distributed" in statement:
            assert "Function Distributed" in ast and "cityHash64" in ast, ast


def test_a_broken_statement_fails_the_parser_check(store: EventStore) -> None:
    with pytest.raises(DatabaseError, match="Syntax error"):
        store.query(f"EXPLAIN AST CREATE TABLE x ON CLUSTER {CLUSTER} (a UInt8 ENGINE = Log")


def test_cluster_ddl_is_on_cluster_replicated_and_distributed() -> None:
    migrations = load_migrations()
    tables = created_tables(migrations)
    assert {"events", "cost_daily", "billed_daily", "cost_pair_done"} <= tables
    rendered = [s for _, s in _rendered()]
    for statement in rendered:
        if not statement.startswith("INSERT INTO"):
            assert f"ON CLUSTER {CLUSTER}" in statement, statement
    created = " ".join(rendered)
    for table in tables:
        assert f"CREATE TABLE IF NOT EXISTS {local(table)} ON CLUSTER" in created
        assert (
            f"CREATE TABLE IF NOT EXISTS {table} ON CLUSTER {CLUSTER} AS {local(table)}\n"
            f"ENGINE = Distributed({CLUSTER}, currentDatabase(), {local(table)}, "
            "cityHash64(org_id))" in created
        )
    engines = re.findall(r"ENGINE = (\w+)\(", created)
    assert set(engines) >= {"ReplicatedMergeTree", "ReplicatedSummingMergeTree"}
    # the engine's own argument is kept, after the Keeper path and replica name
    assert (
        "ENGINE = ReplicatedReplacingMergeTree("
        "'/clickhouse/tables/{shard}/{database}/billed_daily_local', '{replica}', synced_at)"
    ) in created
    views = [s for s in rendered if s.startswith("CREATE MATERIALIZED VIEW")]
    assert views
    for view in views:
        # views fire on inserts into the local tables and write to local rollups
        assert re.search(r" TO \w+_local AS", view), view
        sources = re.findall(r"\bFROM\s+(\w+)", view)
        assert sources and not set(sources) & tables, view
    alters = [s for s in rendered if s.startswith("ALTER TABLE")]
    local_alters = [s for s in alters if s.startswith("ALTER TABLE events_local ON CLUSTER")]
    assert local_alters
    # Column changes reach the Distributed table too; everything else only the local one.
    for statement in alters:
        if statement.startswith("ALTER TABLE events ON CLUSTER"):
            assert "ADD COLUMN" in statement, statement
            assert (
                statement.replace("ALTER TABLE events ON", "ALTER TABLE events_local ON", 1)
                in alters
            )
        else:
            assert statement in local_alters, statement
    # The non-replicated insert-dedup window has no meaning on replicated tables (Keeper keeps
    # their block log), so the cluster form leaves those ALTERs out.
    assert not any("non_replicated_deduplication_window" in s for s in rendered)


def test_single_node_ddl_stays_the_default_and_unchanged() -> None:
    assert load_settings().clickhouse_cluster is None
    migrations = load_migrations()
    single = EventStore(lambda: None, thread_local=False)
    for migration in migrations:
        assert single.statements(migration, migrations) == migration.statements
    assert "CLUSTER" not in schema_migrations_ddl(None)
    assert "Replicated" not in " ".join(s for m in migrations for s in m.statements)


def test_cluster_needs_a_server_and_a_plain_name(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="COSTOBS_CLICKHOUSE_URL"):
        EventStore.open(None, tmp_path / "ch", cluster=CLUSTER)
    with pytest.raises(ConfigError, match="COSTOBS_CLICKHOUSE_CLUSTER"):
        load_settings(clickhouse_cluster="bad name; DROP")
    with pytest.raises(ConfigError, match="no cluster form"):
        cluster_statements(["OPTIMIZE TABLE events FINAL"], CLUSTER, {"events"})
