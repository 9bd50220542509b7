"""``costobs verify [--repair]``: every rollup a materialized view fills from ``events``, checked
against ``events`` per org and UTC day (per half-month for the half-month rollup), and
re-derived exactly where they differ.

The rollups and what they hold are read from ClickHouse itself (each view's SELECT and its
target's columns), so a new rollup is checked without a change here. A unit is compared by
every summed metric (requests, tokens, cost…: exact integers and decimals); a repair deletes
the unit's rows and inserts the view's own SELECT over that org's events of the unit, with
insert deduplication off (the rows may equal an earlier insert's). Metrics are unsigned and
quantile states cannot be subtracted, so delete and re-insert rather than signed deltas.
Run it with the writer stopped (embedded mode: ``costobs up`` holds the store anyway): an
event written between the delete and the insert would be counted twice.

The pair rollups are not views; their compactor keeps a record per day (compaction.py).
Verify reports closed days whose record disagrees and ``--repair`` runs the compactor.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from costobs_server.store import EventStore, compaction, pairs

_TARGET = re.compile(r"\bTO\s+(?:`?\w+`?\.)?`?(\w+)`?")


@dataclass(frozen=True)
class Rollup:
    table: str
    select: str
    """The view's SELECT over ``events``."""
    unit: str
    """SQL for a row's unit: its UTC day, or its half-month's first day."""
    columns: tuple[str, ...]
    metrics: tuple[str, ...]
    keys: tuple[str, ...] = ()
    """The sorting-key columns (a row's identity; metrics are summed per key)."""
    metric_types: tuple[str, ...] = ()
    """Each metric's ClickHouse type, in ``metrics`` order."""


@dataclass(frozen=True)
class Mismatch:
    table: str
    org_id: str
    unit: date
    stored: tuple[Any, ...]
    derived: tuple[Any, ...]


@dataclass
class Report:
    checked: dict[str, int] = field(default_factory=dict)
    """Units (org × day) compared, per rollup."""
    mismatches: list[Mismatch] = field(default_factory=list)
    repaired: int = 0
    stale_pair_days: int = 0
    compacted_days: int = 0


def rollups(store: EventStore) -> list[Rollup]:
    """Every materialized view that reads ``events``, with its target's unit and metrics."""
    found = []
    views = store.query(
        "SELECT as_select, create_table_query FROM system.tables "
        "WHERE database = currentDatabase() AND engine = 'MaterializedView' ORDER BY name"
    )
    for select, create in views:
        if not re.search(r"\bFROM\s+(?:\w+\.)?events\b", select):
            continue
        target = _TARGET.search(create.split(" AS SELECT", 1)[0])
        if target is None:
            continue
        table = target.group(1)
        columns = store.query(
            "SELECT name, type, is_in_sorting_key FROM system.columns "
            "WHERE database = currentDatabase() AND table = {t:String} ORDER BY position",
            {"t": table},
        )
        unit = next(
            (
                f"toDate({name})" if kind.startswith("DateTime") else name
                for name, kind, in_key in columns
                if in_key and kind.split("(")[0] in ("Date", "Date32", "DateTime", "DateTime64")
            ),
            None,
        )
        summed = [
            (name, kind)
            for name, kind, in_key in columns
            if not in_key
            and (
                kind.startswith(("UInt", "Int", "Decimal"))
                or kind.startswith("SimpleAggregateFunction(sum")
            )
        ]
        if unit is None or not summed:
            continue
        names = tuple(name for name, _, _ in columns)
        keys = tuple(name for name, _, in_key in columns if in_key)
        metrics = tuple(name for name, _ in summed)
        types = tuple(kind for _, kind in summed)
        found.append(Rollup(table, select, unit, names, metrics, keys, types))
    return found


def _sums(store: EventStore, source: str, rollup: Rollup, org: str | None) -> dict[Any, Any]:
    sums = ", ".join(f"sum({m})" for m in rollup.metrics)
    rows = store.query(
        f"SELECT org_id, {rollup.unit} AS u, {sums} FROM {source} "
        "WHERE {org:String} = '' OR org_id = {org:String} GROUP BY org_id, u",
        {"org": org or ""},
    )
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


def check(store: EventStore, rollup: Rollup, org: str | None = None) -> tuple[int, list[Mismatch]]:
    stored = _sums(store, rollup.table, rollup, org)
    derived = _sums(store, f"({rollup.select})", rollup, org)
    zero = tuple(0 for _ in rollup.metrics)
    out = []
    for key in sorted(stored.keys() | derived.keys()):
        have, want = stored.get(key, zero), derived.get(key, zero)
        if have != want:
            out.append(Mismatch(rollup.table, key[0], key[1], have, want))
    return len(stored.keys() | derived.keys()), out


def repair(store: EventStore, rollup: Rollup, org_id: str, unit: date) -> None:
    """The unit's rows re-derived from events by the view's own SELECT."""
    params = {"org": org_id, "u": unit}
    where = "WHERE org_id = {org:String} AND " + rollup.unit + " = {u:Date}"
    store.client.command(
        f"ALTER TABLE {rollup.table} DELETE {where}",
        parameters=params,
        settings={"mutations_sync": 2},
    )
    columns = ", ".join(rollup.columns)
    store.client.command(
        f"INSERT INTO {rollup.table} ({columns}) SELECT {columns} FROM ({rollup.select}) {where}",
        parameters=params,
        settings=store.no_dedup,
    )


def _stale_pair_days(store: EventStore, org: str | None) -> Iterator[tuple[str, date]]:
    today = datetime.now(UTC).date()
    for org_id, (counts, done) in compaction.state(store, today, org).items():
        for day in pairs.stale_days(counts, done, today):
            yield org_id, day


def verify(store: EventStore, fix: bool = False, org: str | None = None) -> Report:
    report = Report()
    for rollup in rollups(store):
        units, mismatches = check(store, rollup, org)
        report.checked[rollup.table] = units
        report.mismatches += mismatches
        if fix:
            for m in mismatches:
                repair(store, rollup, m.org_id, m.unit)
                report.repaired += 1
    report.stale_pair_days = sum(1 for _ in _stale_pair_days(store, org))
    if fix and report.stale_pair_days:
        report.compacted_days = compaction.compact(store, org=org).days
    return report
