"""Swapping one org-day's events for their re-priced rows, in ClickHouse, as a journal of
idempotent steps (table ``reprice_days``, migration 0011).

ClickHouse has no transaction across tables, and a day's figures live in ``events`` and in a
dozen rollups. So a day is swapped in steps, each recorded in the journal once done, each safe
to repeat, and completed by ``recover`` (run before every job and when the writer starts)
whenever a job was interrupted in the middle of a day:

1. ``chunk:<n>``: the day's re-priced rows, a JSONEachRow block per chunk of events read,
   each in one journal row; then ``staged`` seals the day. Nothing else has changed yet, and
   a day cut before its seal is dropped from the journal.
2. ``inserted:<n>``: each block inserted into ``events`` with an insert token of its own;
   the materialized views add the new figures to every rollup (as for a writer flush, a
   repeat with the same token completes what a failure left out and adds nothing twice).
3. ``rollup:<table>`` for each rollup a view fills: the old rows' figures subtracted, as one
   insert of the view's own SELECT over the old rows with every metric negated (unsigned
   counts wrap modulo 2^64, which summing undoes exactly; a key whose figures net to zero is
   dropped by the next merge). Only the swapped events are read, so events the live writer
   adds to the same day meanwhile are untouched and counted once.
4. ``deleted``: the old rows deleted from ``events`` (a lightweight delete).
5. ``done``: the day's pair rollups recomputed if the compactor had done the day
   (compaction.recompute), then the journal's rows for the day removed but this one.
   A day with a seal and without ``done`` was interrupted: ``recover`` applies it.

The old rows of a day are those whose request id has a row written by this job
(``repriced_by``) and which were not: so every step is defined by the tables alone, and
recovery needs nothing but the journal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson

from costobs_server.errors import StoreError
from costobs_server.store import EventStore, compaction
from costobs_server.store.verify import Rollup, rollups

READ_SETTINGS = {
    # decimals and 64-bit integers as strings: exact through JSON, never a float
    "output_format_json_quote_decimals": 1,
    "output_format_json_quote_64bit_integers": 1,
}
_DAY_WHERE = (
    "org_id = {org:String} AND timestamp >= {t0:DateTime64(3, 'UTC')} "
    "AND timestamp < {t1:DateTime64(3, 'UTC')}"
)
_OLD_ROWS = (
    f"{_DAY_WHERE} AND repriced_by != {{job:String}} AND request_id IN "
    f"(SELECT request_id FROM events WHERE {_DAY_WHERE} AND repriced_by = {{job:String}})"
)
_EVENTS = re.compile(r"\bFROM\s+(?:`?\w+`?\.)?`?events`?(?=\s|$)")
_JSON = {"date_time_input_format": "best_effort", "async_insert": 0}

StepHook = Callable[[str, str, date, str], None]
"""(job, org, day, step just recorded) → None; tests interrupt a job here."""


def day_params(job_id: str, org_id: str, day: date) -> dict[str, Any]:
    t0 = datetime.combine(day, datetime.min.time())
    return {"job": job_id, "org": org_id, "t0": t0, "t1": t0 + timedelta(days=1)}


CHUNK = 50_000
"""Events read, priced and staged at a time: a day of any size in bounded memory."""


def read_day(
    store: EventStore, org_id: str, day: date, provider: str, model: str, chunk: int = CHUNK
) -> Iterator[list[dict[str, Any]]]:
    """The org-day's events (of ``provider`` / ``model`` when given, '' = any) as JSON rows,
    ``chunk`` at a time in (timestamp, request_id) order."""
    params = day_params("", org_id, day) | {"provider": provider, "model": model, "n": chunk}
    after = ""
    while True:
        raw = store.client.raw_query(
            f"SELECT * FROM events WHERE {_DAY_WHERE} "
            "AND ({provider:String} = '' OR provider = {provider:String}) "
            "AND ({model:String} = '' OR model = {model:String}) "
            + (
                "AND (timestamp, request_id) > ({ts:DateTime64(3, 'UTC')}, {rid:String}) "
                if after
                else ""
            )
            + "ORDER BY timestamp, request_id LIMIT {n:UInt32}",
            parameters=params,
            settings=READ_SETTINGS,
            fmt="JSONEachRow",
        )
        rows = [orjson.loads(line) for line in raw.splitlines() if line]
        if rows:
            yield rows
        if len(rows) < chunk:
            return
        after = rows[-1]["request_id"]
        params |= {"ts": rows[-1]["timestamp"], "rid": after}


def negated(rollup: Rollup) -> str:
    """INSERT of the rollup's view SELECT over the day's old rows, every metric negated."""
    source = _EVENTS.sub(f"FROM (SELECT * FROM events WHERE {_OLD_ROWS}) AS events", rollup.select)
    if source == rollup.select:
        raise StoreError(f"the view of {rollup.table} does not read events")

    def minus(name: str, kind: str) -> str:
        if "Decimal" in kind or kind.startswith("Int"):
            return f"-{name}"
        return f"toUInt64(-toInt64({name}))"  # wraps; the sum with the new rows is exact

    metrics = [minus(m, k) for m, k in zip(rollup.metrics, rollup.metric_types, strict=True)]
    columns = ", ".join((*rollup.keys, *rollup.metrics))
    return (
        f"INSERT INTO {rollup.table} ({columns}) "
        f"SELECT {', '.join((*rollup.keys, *metrics))} FROM ({source})"
    )


def _record(store: EventStore, job: str, org: str, day: date, step: str, block: str = "") -> None:
    row = {"job_id": job, "org_id": org, "day": day.isoformat(), "step": step, "block": block}
    line = orjson.dumps(row | {"written_at": datetime.now(UTC).isoformat()})
    store.client.raw_insert("reprice_days", insert_block=line, fmt="JSONEachRow", settings=_JSON)


def stage(
    store: EventStore, job: str, org: str, day: date, part: int, rows: Iterable[Mapping[str, Any]]
) -> None:
    """One chunk of the day's re-priced rows into the journal (``chunk:<n>``)."""
    block = b"\n".join(orjson.dumps(r) for r in rows).decode()
    _record(store, job, org, day, f"chunk:{part:06d}", block)


def seal(store: EventStore, job: str, org: str, day: date) -> None:
    """Every chunk of the day is staged: from here the day is swapped whatever happens. A
    day with chunks and no seal was cut while staging (nothing else changed): dropped."""
    _record(store, job, org, day, "staged")


def apply(
    store: EventStore,
    job: str,
    org: str,
    day: date,
    hook: StepHook | None = None,
    views: list[Rollup] | None = None,
) -> None:
    """Steps 2–5 for a staged day, skipping those the journal has done (``views``: the
    rollups, when the caller has them already)."""
    where = {"job": job, "org": org, "day": day}
    done = {
        str(step)
        for (step,) in store.query(
            "SELECT step FROM reprice_days "
            "WHERE job_id = {job:String} AND org_id = {org:String} AND day = {day:Date}",
            where,
        )
    }
    if "done" in done or "staged" not in done:
        return
    params = day_params(job, org, day)

    def step(name: str, action: Callable[[], object]) -> None:
        if name not in done:
            action()
            _record(store, job, org, day, name)
            if hook is not None:
                hook(job, org, day, name)

    token = f"reprice:{job}:{org}:{day.isoformat()}"
    for part in sorted(p for p in done if p.startswith("chunk:")):

        def insert(part: str = part) -> None:
            (block,) = store.query(
                "SELECT block FROM reprice_days WHERE job_id = {job:String} "
                "AND org_id = {org:String} AND day = {day:Date} AND step = {p:String}",
                where | {"p": part},
            )[0]
            store.insert_events(block.encode(), f"{token}:{part}")

        step(f"inserted:{part[6:]}", insert)
    for rollup in rollups(store) if views is None else views:

        def subtract(r: Rollup = rollup) -> None:
            store.command_once(negated(r), params, f"{token}:{r.table}")

        step(f"rollup:{rollup.table}", subtract)
    step(
        "deleted",
        lambda: store.client.command(
            f"DELETE FROM events WHERE {_OLD_ROWS}",
            parameters=params,
            settings={"lightweight_deletes_sync": 2, "mutations_sync": 2},
        ),
    )
    today = datetime.now(UTC).date()
    step("done", lambda: day < today and compaction.recompute(store, org, day))
    store.client.command(
        "DELETE FROM reprice_days WHERE job_id = {job:String} AND org_id = {org:String} "
        "AND day = {day:Date} AND step != 'done'",
        parameters=where,
        settings={"lightweight_deletes_sync": 2},
    )


def interrupted(store: EventStore) -> list[tuple[str, str, date]]:
    """(job, org, day) staged and not done: a job stopped in the middle of the day."""
    rows = store.query(
        "SELECT job_id, org_id, day FROM reprice_days GROUP BY job_id, org_id, day "
        "HAVING has(groupArray(toString(step)), 'staged') "
        "AND NOT has(groupArray(toString(step)), 'done') ORDER BY job_id, org_id, day"
    )
    return [(str(j), str(o), d) for j, o, d in rows]


def recover(store: EventStore, hook: StepHook | None = None) -> list[tuple[str, str, date]]:
    """Complete every interrupted day (so each holds the new figures), drop the chunks of
    days cut while staging; returns the days completed."""
    found = interrupted(store)
    views = rollups(store) if found else None
    for job, org, day in found:
        apply(store, job, org, day, hook, views)
    store.client.command(
        "DELETE FROM reprice_days WHERE (job_id, org_id, day) IN (SELECT job_id, org_id, day "
        "FROM reprice_days GROUP BY job_id, org_id, day "
        "HAVING NOT has(groupArray(toString(step)), 'staged'))",
        settings={"lightweight_deletes_sync": 2},
    )
    return found
