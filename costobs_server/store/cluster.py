"""Migrations for a ClickHouse cluster (``COSTOBS_CLICKHOUSE_CLUSTER``), derived from the
single-node ones, which stay the source of truth and run unchanged without a cluster.

Each table ``t`` becomes ``t_local`` (the Replicated form of its engine, on every node, ``ON
CLUSTER``) plus ``t`` itself as a ``Distributed`` table over ``t_local``. So every read and
insert the code makes by the plain name goes through the Distributed table, while the
materialized views are attached to the local tables: an insert into ``events`` lands in
``events_local`` on its shard, whose views fill that shard's rollups. All tables shard by
``org_id`` (first in every sort key), so an org's events, rollups and bills sit on one shard,
where Summing/Replacing merges and ``FINAL`` see all its rows.

Exactly-once holds as on one node: the writer's staging check reads ``events`` across all
shards, inserts run with ``distributed_foreground_insert`` (done on every shard before the
writer acks), and a repeated identical insert block is dropped by the replicated tables'
insert deduplication.
"""

from __future__ import annotations

import re

from costobs_server.errors import ConfigError

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CREATE_TABLE = re.compile(
    r"^CREATE TABLE IF NOT EXISTS (\w+)\s*(\(.*\))\s*ENGINE = (\w+)(?:\(([^)]*)\))?(.*)$", re.S
)
_CREATE_VIEW = re.compile(r"^CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+) TO (\w+) AS(.*)$", re.S)
_ALTER = re.compile(r"^ALTER TABLE (\w+)\s+(.*)$", re.S)
_DROP = re.compile(r"^DROP (TABLE|VIEW) IF EXISTS (\w+)$")
_MERGE_TREES = {
    "MergeTree",
    "SummingMergeTree",
    "ReplacingMergeTree",
    "AggregatingMergeTree",
    "CollapsingMergeTree",
}
SHARDING_KEY = "cityHash64(org_id)"
# Settings the server client uses in cluster mode (clickhouse-connect sends them per query).
CLUSTER_CLIENT_SETTINGS = {"distributed_foreground_insert": 1, "insert_deduplicate": 1}


def check_cluster_name(cluster: str) -> str:
    if not _NAME.match(cluster):
        raise ConfigError(f"COSTOBS_CLICKHOUSE_CLUSTER: not a cluster name: {cluster!r}")
    return cluster


def local(table: str) -> str:
    return f"{table}_local"


def schema_migrations_ddl(cluster: str | None) -> str:
    """The migration ledger: one replicated table shared by every node of the cluster."""
    columns = "(version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3))"
    if cluster is None:
        return (
            f"CREATE TABLE IF NOT EXISTS schema_migrations {columns} "
            "ENGINE = MergeTree ORDER BY version"
        )
    return (
        f"CREATE TABLE IF NOT EXISTS schema_migrations ON CLUSTER {cluster} {columns} "
        "ENGINE = ReplicatedMergeTree('/clickhouse/costobs/{database}/schema_migrations', "
        "'{shard}-{replica}') ORDER BY version"
    )


def cluster_statements(statements: list[str], cluster: str, tables: set[str]) -> list[str]:
    """The cluster form of single-node ``statements``; ``tables`` names every table the
    migrations create (so views can be pointed at the local ones)."""
    check_cluster_name(cluster)
    out: list[str] = []
    for statement in statements:
        out.extend(_one(statement.strip().rstrip(";").rstrip(), cluster, tables))
    return out


def _one(statement: str, cluster: str, tables: set[str]) -> list[str]:
    on = f"ON CLUSTER {cluster}"
    if m := _CREATE_TABLE.match(statement):
        name, columns, engine, args, rest = m.groups()
        if engine not in _MERGE_TREES:
            raise ConfigError(f"no replicated form of ENGINE = {engine} (table {name})")
        zk_args = f"'/clickhouse/tables/{{shard}}/{{database}}/{local(name)}', '{{replica}}'"
        replicated_args = f"{zk_args}, {args}" if args else zk_args
        return [
            f"CREATE TABLE IF NOT EXISTS {local(name)} {on}\n{columns}\n"
            f"ENGINE = Replicated{engine}({replicated_args}){rest}",
            f"CREATE TABLE IF NOT EXISTS {name} {on} AS {local(name)}\n"
            f"ENGINE = Distributed({cluster}, currentDatabase(), {local(name)}, {SHARDING_KEY})",
        ]
    if m := _CREATE_VIEW.match(statement):
        view, target, select = m.groups()
        select = _point_at_local(select, tables)
        return [f"CREATE MATERIALIZED VIEW IF NOT EXISTS {view} {on} TO {local(target)} AS{select}"]
    if m := _ALTER.match(statement):
        table, change = m.groups()
        if change.startswith("MODIFY SETTING non_replicated_deduplication_window"):
            # Replicated tables keep their insert-block log in Keeper already
            # (replicated_deduplication_window): the token-deduplicated flush needs nothing more.
            return []
        altered = [f"ALTER TABLE {local(table)} {on} {change}"]
        if re.match(r"(ADD|DROP|MODIFY|RENAME) COLUMN\b", change.lstrip()):
            # The Distributed table has the columns of the local one: change both.
            altered.append(f"ALTER TABLE {table} {on} {change}")
        return altered
    if m := _DROP.match(statement):
        kind, name = m.groups()
        if kind == "VIEW":
            return [f"DROP VIEW IF EXISTS {name} {on} SYNC"]
        return [
            f"DROP TABLE IF EXISTS {name} {on} SYNC",
            f"DROP TABLE IF EXISTS {local(name)} {on} SYNC",
        ]
    if statement.startswith("INSERT INTO "):
        return [statement]  # a backfill: Distributed to Distributed, once, from one node
    raise ConfigError(f"no cluster form for migration statement: {statement[:80]}…")


def _point_at_local(select: str, tables: set[str]) -> str:
    """A view's source tables become the local ones (views fire on local inserts)."""

    def swap(m: re.Match[str]) -> str:
        keyword, table = m.group(1), m.group(2)
        return f"{keyword} {local(table)}" if table in tables else m.group(0)

    return re.sub(r"\b(FROM|JOIN)\s+(\w+)\b", swap, select)
