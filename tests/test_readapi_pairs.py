"""Two-level breakdowns of customer/user × an attribute, of a tag × customer/user and of two
tags read the pair rollups (migration 0006) for the UTC days and half-months the compactor
has completed and other sources for the rest: exact before compaction, after it, after late
events land on a compacted day, and after the pair rows of a day were damaged; the compactor
redoes only what changed."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from costobs_server.store import compaction, pairs
from costobs_server.store.pairs import Done, days_of, half_end, half_start
from readapi.math import cover, ranges
from readapi.sql import breakdowns, pair_state
from readapi.sql.common import Level
from tests.helpers import Running
from tests.readapi_seed import dec, in_range, send
from tests.test_readapi_half_months import expected_rows, got_rows, month_events

pytestmark = pytest.mark.timeout(240)

# --- which breakdowns, pure ---------------------------------------------------------------


def levels(*names: str) -> tuple[Level, ...]:
    return tuple(
        Level("tag", n[4:]) if n.startswith("tag:") else Level("dimension", n) for n in names
    )


def test_which_breakdowns_the_pair_rollups_answer() -> None:
    assert pair_state.pair_levels(levels("customer", "feature")) == ("customer", "feature")
    assert pair_state.pair_levels(levels("team", "user")) == ("user", "team")
    assert pair_state.pair_levels(levels("user", "status")) == ("user", "status")
    assert pair_state.pair_levels(levels("user", "customer")) == ("customer", "user")
    assert pair_state.pair_levels(levels("tag:pr", "customer")) == ("tag:pr", "customer")
    assert pair_state.pair_levels(levels("user", "tag:region")) == ("tag:region", "user")
    assert pair_state.pair_levels(levels("tag:region", "tag:pr")) == ("tag:pr", "tag:region")
    # answered elsewhere: by model/provider rollups, daily attribute rollups, or not at all
    for names in (
        ("customer", "model"),
        ("user", "provider"),
        ("feature", "team"),
        ("tag:pr", "model"),
        ("customer",),
    ):
        assert pair_state.pair_levels(levels(*names)) is None, names
    # stored tag pairs are ordered; nothing else pairs
    assert pairs.pair_of("tag:region", "tag:pr") == ("tag:pr", "tag:region")
    assert pairs.pair_of("feature", "model") is None


def test_done_days_and_half_months_are_those_whose_counts_match() -> None:
    nov = [date(2026, 11, d) for d in range(1, 31)]
    counts = {d: 10 for d in nov} | {date(2026, 11, 7): 0}
    counts.pop(date(2026, 11, 7))
    done: dict[tuple[str, date], int] = {("day", d): 10 for d in nov if d.day != 7}
    done[("day", date(2026, 11, 20))] = 9  # a late event since
    done[("half", date(2026, 11, 1))] = 140  # 14 days × 10
    done[("half", date(2026, 11, 16))] = 149  # built before the late event
    state = pairs.done_units(counts, done, date(2026, 11, 1), date(2026, 11, 30))
    # Nov 7 has no events and no record: nothing to hold, so complete
    assert date(2026, 11, 7) in state.days
    assert state.days == frozenset(nov) - {date(2026, 11, 20)}
    assert state.halves == frozenset({date(2026, 11, 1)})  # the 16th's half disagrees by one
    # the compactor redoes the changed day first, and the half-month once its days are done
    today = date(2026, 12, 2)
    assert pairs.stale_days(counts, done, today) == [date(2026, 11, 20)]
    assert pairs.stale_halves(counts, done, today) == []
    done[("day", date(2026, 11, 20))] = 10
    assert pairs.stale_halves(counts, done, today) == [date(2026, 11, 16)]
    # days not yet closed are left alone
    assert pairs.stale_days({date(2026, 12, 2): 5}, {}, today) == []
    assert pairs.stale_halves({date(2026, 12, 1): 5}, {("day", date(2026, 12, 1)): 5}, today) == []


def _day_weights(c: cover.Cover | cover.PairCover) -> dict[date, int]:
    out: dict[date, int] = {}

    def add(a: date, b: date, sign: int) -> None:
        for d in days_of(a, b):
            out[d] = out.get(d, 0) + sign

    if isinstance(c, cover.Cover):
        if c.halves is not None:
            add(c.halves[0], c.halves[1] - timedelta(days=1), 1)
        for a, b in c.days:
            add(a, b, 1)
        for a, b in c.days_removed:
            add(a, b, -1)
    else:
        for h in c.halves:
            add(h, half_end(h), 1)
        for (a, b), sign in c.days + c.fallback:
            add(a, b, sign)
    return {d: n for d, n in out.items() if n}


@pytest.mark.parametrize("timezone", ["UTC", "Europe/Berlin", "Asia/Kolkata"])
def test_pair_cover_reads_every_day_once_whatever_is_complete(timezone: str) -> None:
    rng = random.Random(5)
    span = list(days_of(date(2026, 9, 20), date(2027, 1, 10)))
    for _ in range(150):
        first = rng.choice(span[:70])
        last = first + timedelta(days=rng.choice([0, 1, 6, 13, 16, 29, 30, 44, 89]))
        w = ranges.window(first, last, timezone)
        plain = cover.cover(w, halves=True, subtract=True)
        complete = rng.random()
        done = Done(
            frozenset(d for d in span if rng.random() < complete),
            frozenset(half_start(d) for d in span if rng.random() < complete),
        )
        got = cover.pair_cover(plain, done)
        assert _day_weights(got) == _day_weights(plain), (first, last)
        assert set(got.halves) <= done.halves
        assert all(set(days_of(a, b)) <= done.days for (a, b), _ in got.days)
        assert not any(set(days_of(a, b)) & done.days for (a, b), _ in got.fallback)
        assert (got.raw, got.raw_removed) == (plain.raw, plain.raw_removed)


# --- through the pipeline -------------------------------------------------------------------

TODAY = date(2026, 12, 6)
Key = Callable[[dict[str, Any]], tuple[str, str]]
BREAKDOWNS: dict[tuple[str, str], Key] = {
    ("customer", "feature"): lambda e: (e["customer_id"], e["feature"]),
    ("user", "team"): lambda e: (e["user_id"], e["team"]),
    ("environment", "customer"): lambda e: (e["environment"], e["customer_id"]),
    ("user", "status"): lambda e: (e["user_id"], e["status"]),
    ("user", "customer"): lambda e: (e["user_id"], e["customer_id"]),
    ("customer", "prompt_version"): lambda e: (e["customer_id"], e.get("prompt_version", "")),
    ("tag:pr", "customer"): lambda e: (e["tags"].get("pr", ""), e["customer_id"]),
    ("user", "tag:region"): lambda e: (e["user_id"], e["tags"].get("region", "")),
    ("tag:region", "tag:pr"): lambda e: (e["tags"].get("region", ""), e["tags"].get("pr", "")),
    ("tag:pr", "tag:engineer"): lambda e: (e["tags"].get("pr", ""), e["tags"].get("engineer", "")),
}
RANGES = [
    ("2026-10-20", "2026-12-05"),  # halves, days added and subtracted, today's raw events
    ("2026-11-03", "2026-11-13"),  # a half-month minus days
    ("2026-11-05", "2026-11-20"),  # days across the half-month boundary
]


async def _check(running: Running, events: list[dict[str, Any]], timezone: str) -> None:
    for first, last in RANGES:
        inside = in_range(events, first, last, timezone)
        for (by, then), key in BREAKDOWNS.items():
            expected = expected_rows(inside, key)
            assert len(expected) > 5
            r = await running.client.get(
                "/v1/breakdown",
                params={"by": by, "then": then, "from": first, "to": last, "limit": 1000},
                headers=running.org.headers,
            )
            assert r.status_code == 200, r.text
            assert got_rows(r.json()) == expected, (by, then, first, last, timezone)


def _done(running: Running, first: str, last: str) -> Done:
    store = running.stack.services.store  # type: ignore[union-attr]
    w = ranges.window(date.fromisoformat(first), date.fromisoformat(last), "UTC")
    q = pair_state.pair_state(running.org.id, w)
    return pair_state.pair_done(w, store.query(q.sql, q.params))


def _late(events: list[dict[str, Any]], day: date) -> dict[str, Any]:
    """A copy of an event of ``day`` (UTC), a second later, as a new request."""
    e = next(
        e for e in events if datetime.fromisoformat(e["timestamp"]).astimezone(UTC).date() == day
    )
    at = datetime.fromisoformat(e["timestamp"]) + timedelta(seconds=1)
    assert at.astimezone(UTC).date() == day
    return {**e, "request_id": str(uuid.uuid4()), "timestamp": at.isoformat()}


@pytest.mark.parametrize("timezone", ["UTC", "Asia/Kolkata"])
async def test_pair_breakdowns_stay_exact_through_compaction_late_events_and_damage(
    running: Running, timezone: str
) -> None:
    store = running.stack.services.store  # type: ignore[union-attr]
    events = month_events()
    await send(running, events)
    r = await running.client.patch(
        "/v1/org", json={"timezone": timezone}, headers=running.org.headers
    )
    assert r.status_code == 200, r.text

    # nothing compacted yet: every day is read from raw events
    assert _done(running, "2026-10-20", "2026-12-05").halves == frozenset()
    await _check(running, events, timezone)

    # compacted: closed days and half-months come from the pair rollups
    first = await asyncio.to_thread(compaction.compact, store, TODAY, None, running.org.id)
    days = {datetime.fromisoformat(e["timestamp"]).astimezone(UTC).date() for e in events} - {TODAY}
    assert first.days >= len(days) and first.halves == 3  # Oct 16–31, Nov 1–15, Nov 16–30
    state = _done(running, "2026-10-20", "2026-12-05")
    assert days <= state.days and TODAY not in state.days
    assert {date(2026, 11, 1), date(2026, 11, 16)} <= state.halves
    w = ranges.window(date(2026, 10, 20), date(2026, 12, 5), timezone)
    sql = breakdowns.breakdown(running.org.id, w, levels("customer", "feature"), 10, state).sql
    assert "cost_pair_half" in sql and "cost_pair_daily" in sql
    await _check(running, events, timezone)
    again = await asyncio.to_thread(compaction.compact, store, TODAY, None, running.org.id)
    assert (again.days, again.halves) == (0, 0)

    # a late event on a compacted day: that day (and its half-month) is read elsewhere
    late = _late(events, date(2026, 11, 10))
    events.append(late)
    await send(running, events)
    state = _done(running, "2026-10-20", "2026-12-05")
    assert date(2026, 11, 10) not in state.days and date(2026, 11, 1) not in state.halves
    await _check(running, events, timezone)
    redo = await asyncio.to_thread(compaction.compact, store, TODAY, None, running.org.id)
    assert (redo.days, redo.halves) == (1, 1)
    state = _done(running, "2026-10-20", "2026-12-05")
    assert date(2026, 11, 10) in state.days and date(2026, 11, 1) in state.halves
    await _check(running, events, timezone)

    # damage (a difference applied twice, an insert cut short): the record no longer matches,
    # reads go around the day, and the next run repairs it
    damaged = date(2026, 11, 20)
    params = {"org": running.org.id, "day": damaged}
    await asyncio.to_thread(
        store.client.command,
        "INSERT INTO cost_pair_daily SELECT org_id, a, b, day, a_value, b_value, requests, "
        "input_tokens, output_tokens, cost_usd FROM cost_pair_daily "
        "WHERE org_id = {org:String} AND day = {day:Date} AND a = 'customer' AND b = 'feature'",
        parameters=params,
    )
    await asyncio.to_thread(compaction._record, store, "day", running.org.id, damaged)
    state = _done(running, "2026-10-20", "2026-12-05")
    assert damaged not in state.days
    assert date(2026, 11, 16) in state.halves  # its own rows are intact
    await _check(running, events, timezone)
    repair = await asyncio.to_thread(compaction.compact, store, TODAY, None, running.org.id)
    assert (repair.days, repair.halves) == (1, 0)
    assert damaged in _done(running, "2026-10-20", "2026-12-05").days
    await _check(running, events, timezone)
    totals = (
        await running.client.get(
            "/v1/breakdown",
            params={"by": "customer", "then": "feature", "from": "2026-10-20", "to": "2026-12-05"},
            headers=running.org.headers,
        )
    ).json()["totals"]
    inside = in_range(events, "2026-10-20", "2026-12-05", timezone)
    assert dec(totals["cost_usd"]) == sum((dec(e["cost_usd"]) for e in inside), dec("0"))


async def test_the_writer_role_runs_the_compactor(running: Running) -> None:
    """``costobs up`` and the writer role compact in the background (tests turn it off)."""
    from costobs_server.serve import Stack
    from costobs_server.settings import load_settings

    await send(running, month_events()[:200])
    s = running.stack.settings
    settings = load_settings(
        data_dir=s.data_dir,
        nats_url=s.nats_url,
        metadata_url=s.metadata_url,
        writer_id="compacting",
        compact_interval_s=3600,
    )
    store = running.stack.services.store  # type: ignore[union-attr]
    started = datetime.now(UTC).replace(tzinfo=None)
    stack = Stack(settings, frozenset({"writer"}), nats_auth=running.stack.nats_auth)
    await stack.start()
    try:
        assert stack.compactor is not None
        for _ in range(300):
            if stack.compactor.last is not None:
                break
            await asyncio.sleep(0.1)
        assert stack.compactor.last is not None and stack.compactor.last.days > 0
    finally:
        await stack.stop()
    written = await asyncio.to_thread(
        store.query,
        "SELECT count() FROM cost_pair_done WHERE written_at >= {t:DateTime64(6)}",
        {"t": started},
    )
    assert written[0][0] >= stack.compactor.last.days
