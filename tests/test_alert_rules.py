"""Rule semantics at their exact boundaries, without any server (alerting/rules.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from alerting.counters import RuleCounter, reconcile_query
from alerting.rules import LastFire, Rule, RuleSpec, evaluate, next_seq

D = Decimal


def rule(kind: str, config: dict[str, object], tz: str = "UTC", **kw: object) -> Rule:
    return Rule.build(
        id="r1",
        org_id="o1",
        name="test rule",
        kind=kind,
        config=config,
        scope=kw.pop("scope", {}),  # type: ignore[arg-type]
        group_by=kw.pop("group_by", None),  # type: ignore[arg-type]
        timezone=tz,
        cooldown_minutes=kw.pop("cooldown_minutes", 60),  # type: ignore[arg-type]
    )


NOON = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TODAY = date(2026, 11, 20)


def test_daily_threshold_fires_above_not_at_the_threshold() -> None:
    r = rule("daily_threshold", {"threshold_usd": 50})
    assert evaluate(r, {TODAY: D("50")}, NOON) is None
    assert evaluate(r, {TODAY: D("50.000000000000000001")}, NOON) is not None
    breach = evaluate(r, {TODAY: D("50.01"), TODAY - timedelta(days=1): D(999)}, NOON)
    assert breach is not None
    assert (breach.observed, breach.threshold, breach.period) == (D("50.01"), D(50), "2026-11-20")


def test_day_boundary_is_midnight_in_the_rule_time_zone() -> None:
    r = rule("daily_threshold", {"threshold_usd": "10"}, tz="Europe/Berlin")  # UTC+1 in Nov
    before = datetime(2026, 11, 20, 22, 59, 59, 999000, tzinfo=UTC)  # 23:59:59.999 Berlin
    midnight = datetime(2026, 11, 20, 23, 0, tzinfo=UTC)  # 00:00 Berlin, Nov 21
    assert r.local_day(before) == date(2026, 11, 20)
    assert r.local_day(midnight) == date(2026, 11, 21)
    spend = {r.local_day(before): D("10.5")}
    assert evaluate(r, spend, before) is not None
    assert evaluate(r, spend, midnight) is None  # a new local day starts at zero
    # ... while in UTC both instants are still Nov 20
    utc = rule("daily_threshold", {"threshold_usd": "10"})
    assert utc.local_day(midnight) == date(2026, 11, 20)
    assert r.utc_start(date(2026, 11, 21)) == midnight


def test_month_starts_at_local_midnight_on_the_first() -> None:
    r = rule("monthly_budget", {"budget_usd": "100"}, tz="America/New_York")  # UTC-4 on Nov 1
    oct_31_late = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)  # 23:00 Oct 31 in New York
    nov_1 = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)  # 00:00 Nov 1 in New York
    assert r.local_day(oct_31_late) == date(2026, 10, 31)
    spend = {date(2026, 10, 31): D("150"), date(2026, 10, 5): D("1")}
    breach = evaluate(r, spend, oct_31_late)
    assert breach is not None and breach.period == "2026-10" and breach.observed == D(151)
    assert evaluate(r, spend, nov_1) is None  # October's spend does not count in November
    spend[date(2026, 11, 1)] = D("100")
    assert evaluate(r, spend, nov_1) is None  # equal to the budget
    spend[date(2026, 11, 1)] = D("100.01")
    breach = evaluate(r, spend, nov_1)
    assert breach is not None and breach.period == "2026-11" and breach.observed == D("100.01")


def test_spike_against_yesterday_and_rolling_week() -> None:
    yesterday = rule("spike", {"factor": 2, "baseline": "yesterday"})
    spend = {TODAY - timedelta(days=1): D(10), TODAY: D(20)}
    assert evaluate(yesterday, spend, NOON) is None  # 20 is not > 2 × 10
    spend[TODAY] = D("20.01")
    breach = evaluate(yesterday, spend, NOON)
    assert breach is not None and breach.threshold == D(20)

    week = rule("spike", {"factor": "1.5", "baseline": "rolling_7d"})
    # 7 days before today: 14 in total (days without spend count as 0) → baseline 2 → limit 3
    spend = {TODAY - timedelta(days=3): D(7), TODAY - timedelta(days=7): D(7), TODAY: D(3)}
    spend[TODAY - timedelta(days=8)] = D(1000)  # outside the week
    assert evaluate(week, spend, NOON) is None
    spend[TODAY] = D("3.000001")
    breach = evaluate(week, spend, NOON)
    assert breach is not None
    assert breach.details["baseline_usd"] == "2" and breach.threshold == D(3)


def test_spike_with_zero_baseline_never_fires() -> None:
    for baseline in ("yesterday", "rolling_7d"):
        r = rule("spike", {"factor": 2, "baseline": baseline})
        assert evaluate(r, {TODAY: D(1_000_000)}, NOON) is None
        assert evaluate(r, {TODAY: D(5), TODAY - timedelta(days=1): D(0)}, NOON) is None


def test_projected_monthly_budget_forecast() -> None:
    r = rule("projected_monthly_budget", {"budget_usd": "300"})
    # Nov has 30 days; 10 days elapsed at Nov 11 00:00 → forecast = 100 × 30 / 10 = 300
    at = datetime(2026, 11, 11, 0, 0, tzinfo=UTC)
    spend = {date(2026, 11, d): D(10) for d in range(1, 11)}
    assert evaluate(r, spend, at) is None  # forecast equals the budget
    spend[date(2026, 11, 11)] = D("0.01")
    breach = evaluate(r, spend, at)
    assert breach is not None
    assert breach.observed == D("300.03") and breach.details["month_to_date_usd"] == "100.01"
    # the first hours of a month count as a whole day (no extrapolating cents into fortunes)
    early = datetime(2026, 11, 1, 0, 30, tzinfo=UTC)
    assert evaluate(r, {date(2026, 11, 1): D(10)}, early) is None  # 10 × 30 / 1 = 300
    assert evaluate(r, {date(2026, 11, 1): D("10.01")}, early) is not None


def test_cooldown_edge_and_new_period() -> None:
    fired = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    cooldown = timedelta(minutes=60)
    assert next_seq(None, fired, cooldown) == 0
    last = LastFire(0, fired)
    assert next_seq(last, fired + cooldown - timedelta(microseconds=1), cooldown) is None
    assert next_seq(last, fired + cooldown, cooldown) == 1
    assert next_seq(LastFire(3, fired), fired + 2 * cooldown, cooldown) == 4


def test_scope_and_group_by() -> None:
    r = rule(
        "daily_threshold",
        {"threshold_usd": 1},
        scope={"provider": "openai", "team": ["a", "b"], "tags": {"env": "prod"}},
        group_by="customer",
    )
    base = {"provider": "openai", "team": "a", "tags": {"env": "prod"}, "customer_id": "c1"}
    assert r.matches(base) and r.group_of(base) == "c1"
    assert not r.matches({**base, "provider": "anthropic"})
    assert not r.matches({**base, "team": "c"})
    assert not r.matches({**base, "tags": {"env": "dev"}})
    assert not r.matches({**base, "tags": {}})
    assert r.group_of({**base, "customer_id": ""}) is None  # no customer: no group
    tagged = rule("daily_threshold", {"threshold_usd": 1}, group_by="tag:pr")
    assert tagged.group_of({"tags": {"pr": "12"}}) == "12"
    assert rule("daily_threshold", {"threshold_usd": 1}).group_of({}) == ""


def test_counter_reconcile_does_not_double_count() -> None:
    r = rule("daily_threshold", {"threshold_usd": 1})
    counter = RuleCounter(r)
    counter.add(5, {("", TODAY): D(2)})
    counter.add(6, {("", TODAY): D(3)})
    assert counter.days("") == {TODAY: D(5)}
    # ClickHouse has message 5 (and older spend of 10): total = 10 + 2 + the unconfirmed 3
    counter.apply([("", TODAY, D(12))], confirmed={5})
    assert counter.days("") == {TODAY: D(15)}
    counter.apply([("", TODAY, D(15))], confirmed={6})
    assert counter.days("") == {TODAY: D(15)} and not counter.pending


def test_reconcile_query_binds_every_value() -> None:
    r = rule(
        "daily_threshold",
        {"threshold_usd": 1},
        tz="Asia/Kolkata",
        scope={"model": ["x'; DROP TABLE events"], "tags": {"k": "v"}},
        group_by="tag:pr",
    )
    sql, params = reconcile_query(r, NOON, [1, 2])
    assert "DROP" not in sql and "Asia" not in sql
    assert params["f0"] == ["x'; DROP TABLE events"] and params["gk"] == "pr"
    assert params["start"] == datetime(2026, 10, 31, 18, 30, tzinfo=UTC)  # Nov 1 IST


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"config": {"threshold_usd": 1.5}}, "not a float"),
        ({"config": {"threshold": 1}}, "unknown key"),
        ({"config": {"threshold_usd": "-1"}}, "≥ 0"),
        ({"group_by": "colour"}, "group_by"),
        ({"timezone": "Mars/Olympus"}, "time zone"),
        ({"scope": {"region": "eu"}}, "region"),
        ({"kind": "weekly"}, "kind"),
        ({"cooldown_minutes": 0}, "cooldown"),
    ],
)
def test_rule_spec_rejects(change: dict[str, object], problem: str) -> None:
    spec = {"name": "n", "kind": "daily_threshold", "config": {"threshold_usd": "5"}} | change
    with pytest.raises(ValidationError) as info:
        RuleSpec.model_validate(spec)
    assert problem in str(info.value)


def test_rule_spec_keeps_money_exact() -> None:
    spec = RuleSpec.model_validate(
        {"name": "n", "kind": "monthly_budget", "config": {"budget_usd": D("1000.10")}}
    )
    assert spec.config == {"budget_usd": "1000.1"}
    spike = RuleSpec.model_validate({"name": "n", "kind": "spike", "config": {"factor": 2}})
    assert spike.config == {"factor": "2", "baseline": "rolling_7d"}
