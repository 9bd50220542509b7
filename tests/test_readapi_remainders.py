"""Breakdowns by a tag: the plan that says which queries answer them (``readapi.sql.breakdowns``)
and the inclusion–exclusion that brings back the events a tag rollup leaves out
(``readapi.math.remainders``), checked against the same breakdown computed event by event.
Pure: no store."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from readapi.math import ranges, remainders
from readapi.math.remainders import Metrics, Rows
from readapi.sql import breakdowns
from readapi.sql.common import DIMENSIONS, Level

Event = tuple[str | None, str | None, str, int, int, int, Decimal]
"""(value of tag s or None, value of tag t or None, team, requests, input, output, cost)."""


def _events(seed: int, n: int = 300) -> list[Event]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        s = rng.choice([None, None, "a", "b", "c"])
        t = rng.choice([None, "x", "y"])
        cost = Decimal(rng.randint(0, 10**6)).scaleb(-9)
        out.append((s, t, rng.choice(["ml", "web", ""]), 1, rng.randint(0, 900), 7, cost))
    return out


def _row(events: list[Event]) -> tuple[Any, ...]:
    """A store row ``(requests, input, output, cost)`` summing ``events``."""
    return (
        sum(e[3] for e in events),
        sum(e[4] for e in events),
        sum(e[5] for e in events),
        sum((e[6] for e in events), Decimal(0)),
    )


def _grouped(events: list[Event], key: Any) -> list[tuple[Any, ...]]:
    """Store rows ``(value, requests, input, output, cost)``, one per value of ``key``."""
    groups: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        groups[key(e)].append(e)
    return [(value, *_row(es)) for value, es in groups.items()]


def _expected(events: list[Event], key: Any) -> dict[tuple[str, ...], Metrics]:
    return {(*v,): remainders.metrics(rest) for v, *rest in _grouped(events, key)}


def _as_dict(rows: Rows) -> dict[tuple[str, ...], Metrics]:
    out = {tuple(keys): m for keys, m in rows}
    assert len(out) == len(rows), "a key appears twice"
    return out


SEEDS = range(5)


@pytest.mark.parametrize("seed", SEEDS)
def test_one_tag_untagged_is_totals_minus_tagged(seed: int) -> None:
    events = _events(seed)
    totals = remainders.metrics(_row(events))
    tagged = _row([e for e in events if e[0] is not None])
    got = _as_dict(remainders.untagged(totals, tagged))
    assert got == {("",): remainders.metrics(_row([e for e in events if e[0] is None]))}


def test_one_tag_on_every_event_leaves_no_untagged_row() -> None:
    events = [e for e in _events(1) if e[0] is not None]
    totals = remainders.metrics(_row(events))
    assert remainders.untagged(totals, _row(events)) == []


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("tag_first", [True, False])
def test_tag_by_dimension_untagged_per_value(seed: int, tag_first: bool) -> None:
    events = _events(seed)
    tagged = _grouped([e for e in events if e[0] is not None], lambda e: e[2])
    every = _grouped(events, lambda e: e[2])
    got = _as_dict(remainders.untagged_by_value(tagged, every, tag_first))
    untagged = [e for e in events if e[0] is None]
    expected = _expected(untagged, lambda e: ("", e[2]) if tag_first else (e[2], ""))
    assert got == expected


@pytest.mark.parametrize("seed", SEEDS)
def test_two_tags_inclusion_exclusion(seed: int) -> None:
    events = _events(seed)
    both_events = [e for e in events if e[0] is not None and e[1] is not None]
    both: Rows = [
        (list(k), remainders.metrics(m)) for k, *m in _grouped(both_events, lambda e: (e[0], e[1]))
    ]
    first = _grouped([e for e in events if e[0] is not None], lambda e: e[0])
    second = _grouped([e for e in events if e[1] is not None], lambda e: e[1])
    totals = remainders.metrics(_row(events))
    got = _as_dict(remainders.without_a_tag(both, first, second, totals))
    missing = [e for e in events if e[0] is None or e[1] is None]
    assert got == _expected(missing, lambda e: (e[0] or "", e[1] or ""))
    # with the rows carrying both, every event is counted exactly once
    assert sum(m["requests"] for m in got.values()) + len(both_events) == len(events)


# --- the plan ------------------------------------------------------------------------------


def _level(name: str) -> Level:
    return Level("tag", name[4:]) if name.startswith("tag:") else Level("dimension", name)


def test_plan_names_what_comes_back() -> None:
    team, pr, region = _level("team"), _level("tag:pr"), _level("tag:region")
    assert breakdowns.plan((team,)).rest is None
    assert breakdowns.plan((pr,)).rest == breakdowns.Untagged("pr", None, tag_first=True)
    assert breakdowns.plan((team, pr)).rest == breakdowns.Untagged("pr", team, tag_first=False)
    assert breakdowns.plan((pr, region)).rest == breakdowns.WithoutATag(pr, region)
    assert breakdowns.plan((_level("customer"), pr)).pair == ("tag:pr", "customer")
    assert breakdowns.plan((team, _level("model"))).pair is None


LEVELS = [*DIMENSIONS, "tag:pr", "tag:region"]


@pytest.mark.parametrize(
    "names",
    [(a,) for a in LEVELS] + [p for p in itertools.permutations(LEVELS, 2)],
)
def test_a_plan_with_a_rest_is_exactly_a_breakdown_of_tagged_events(names: tuple[str, ...]) -> None:
    """The route adds remainders exactly when the breakdown's query keeps only the events
    carrying its tags (a zone with partial hours, so raw events are read at the edges)."""
    levels = tuple(_level(n) for n in names)
    w = ranges.window(date(2026, 3, 3), date(2026, 3, 20), "Asia/Kolkata")
    sql = breakdowns.breakdown("o", w, levels, 10).sql
    assert "FROM events" in sql
    assert (breakdowns.plan(levels).rest is not None) == ("mapContains(tags" in sql)
