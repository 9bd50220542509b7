"""Alert rules: their validated specification and their exact semantics. Pure, no I/O.

Kinds (the period is a day or a month in the rule's time zone):

- ``daily_threshold {"threshold_usd"}``: fires when today's spend > threshold (equal does not).
- ``spike {"factor", "baseline": "rolling_7d" | "yesterday"}``: fires when today's spend >
  factor × baseline, where the baseline is yesterday's spend or the mean daily spend of the seven
  days before today (days without spend count as 0). A zero baseline never fires: there is no
  history to spike from (``daily_threshold`` covers absolute limits).
- ``monthly_budget {"budget_usd"}``: fires when month-to-date spend > budget.

A limit may be set in another currency instead: ``{"threshold": "50", "currency": "EUR"}``,
``{"budget": "900", "currency": "EUR"}``. Spend is then converted day by day with each day's
rate (``alerting.currency``) before the same comparison; a rule whose period holds spend on a
day without any rate does not evaluate (it cannot know) until a rate exists.
- ``projected_monthly_budget {"budget_usd"}``: fires when the month-end forecast > budget. The
  forecast is linear: month-to-date × days in month / days elapsed, with at least one day
  elapsed (so the first hours of a month do not extrapolate a few cents into a fortune).

Firing: a (rule, group) fires the first time it is breached in a period; while it stays
breached it fires again only once ``cooldown_minutes`` have passed since its last fire in that
period. A new period starts fresh.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from costobs_server.errors import InvalidInput
from costobs_server.vocabulary import ALERT_DIMENSIONS, TAG_KEY_RE, money_text

Kind = Literal["daily_threshold", "spike", "monthly_budget", "projected_monthly_budget"]
KINDS: tuple[str, ...] = ("daily_threshold", "spike", "monthly_budget", "projected_monthly_budget")

DIMENSIONS = ALERT_DIMENSIONS
"""Scope and group_by names → the event field / ClickHouse column they read."""

DEFAULT_COOLDOWN_MINUTES = 1440
ZERO = Decimal(0)


def _money(value: Any, name: str) -> Decimal:
    if isinstance(value, float):
        raise InvalidInput(f"{name} must be a decimal string or an integer, not a float")
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise InvalidInput(f"{name} must be a decimal number")
    try:
        number = Decimal(value)
    except ArithmeticError:
        raise InvalidInput(f"{name}: {value!r} is not a decimal number") from None
    if not number.is_finite() or number < 0:
        raise InvalidInput(f"{name} must be a finite number ≥ 0")
    return number


Values = str | list[str]


class Scope(BaseModel):
    """Which spend a rule watches; each field narrows it (a list means any of)."""

    model_config = ConfigDict(extra="forbid")

    provider: Values | None = None
    model: Values | None = None
    canonical_model: Values | None = None
    """The model across clouds (``claude-sonnet-4-5`` for Anthropic, Bedrock and Vertex)."""
    feature: Values | None = None
    team: Values | None = None
    customer: Values | None = None
    user: Values | None = None
    environment: Values | None = None
    tags: dict[str, Values] = Field(default_factory=dict)

    @field_validator("tags")
    @classmethod
    def _tag_keys(cls, tags: dict[str, Values]) -> dict[str, Values]:
        for key in tags:
            if not TAG_KEY_RE.match(key):
                raise InvalidInput(f"tag key {key!r} is not a valid tag name")
        return tags


class RuleSpec(BaseModel):
    """What a client sends to create or replace a rule."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=256)]
    kind: Kind
    config: dict[str, Any]
    scope: Scope = Field(default_factory=Scope)
    group_by: str | None = None
    timezone: str | None = None
    cooldown_minutes: Annotated[int, Field(ge=1, le=60 * 24 * 31)] = DEFAULT_COOLDOWN_MINUTES
    enabled: bool = True
    target_ids: list[str] = Field(default_factory=list)

    @field_validator("group_by")
    @classmethod
    def _group_by(cls, value: str | None) -> str | None:
        if value is None or value in DIMENSIONS:
            return value
        if value.startswith("tag:") and TAG_KEY_RE.match(value[4:]):
            return value
        raise InvalidInput(f"group_by must be one of {sorted(DIMENSIONS)} or 'tag:<key>'")

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is not None:
            zone(value)
        return value

    @model_validator(mode="after")
    def _config(self) -> RuleSpec:
        self.config = normalise_config(self.kind, self.config)
        return self


LIMIT_KEYS = {"daily_threshold": "threshold", "monthly_budget": "budget"}
LIMIT_KEYS["projected_monthly_budget"] = "budget"


def limit(rule: Rule) -> Decimal:
    """The rule's threshold or budget, in its currency (``rule_currency``)."""
    key = LIMIT_KEYS[rule.kind]
    return Decimal(rule.config.get(f"{key}_usd") or rule.config[key])


def rule_currency(config: Mapping[str, Any]) -> str:
    """The currency a rule's limit is in: USD unless set."""
    return str(config.get("currency") or "USD")


def normalise_config(kind: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The kind's config with money as exact decimal strings; ``InvalidInput`` (a
    ``ValueError``) naming the key."""
    if kind in LIMIT_KEYS and "currency" in config:
        from costobs_server.currency import currency

        key = LIMIT_KEYS[kind]
        unknown = set(config) - {key, "currency"}
        if unknown:
            raise InvalidInput(f"{kind} config in a currency has unknown key(s) {sorted(unknown)}")
        if key not in config:
            raise InvalidInput(f"{kind} config with 'currency' needs {key!r}")
        code = currency(config["currency"], "config.currency").code
        amount = money_text(_money(config[key], key))
        return {f"{key}_usd": amount} if code == "USD" else {key: amount, "currency": code}
    if kind == "daily_threshold":
        expected = {"threshold_usd"}
    elif kind == "spike":
        expected = {"factor", "baseline"}
    else:
        expected = {"budget_usd"}
    unknown = set(config) - expected
    if unknown:
        raise InvalidInput(f"{kind} config has unknown key(s) {sorted(unknown)}")
    if kind == "spike":
        baseline = config.get("baseline", "rolling_7d")
        if baseline not in ("rolling_7d", "yesterday"):
            raise InvalidInput("spike baseline must be 'rolling_7d' or 'yesterday'")
        if "factor" not in config:
            raise InvalidInput("spike config needs 'factor'")
        factor = _money(config["factor"], "factor")
        if factor <= 0:
            raise InvalidInput("factor must be > 0")
        return {"factor": money_text(factor), "baseline": baseline}
    (key,) = expected
    if key not in config:
        raise InvalidInput(f"{kind} config needs {key!r}")
    return {key: money_text(_money(config[key], key))}


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone {name!r}") from None


@dataclass(frozen=True)
class Rule:
    """A rule ready to evaluate (what alertd holds in memory)."""

    id: str
    org_id: str
    name: str
    kind: str
    config: Mapping[str, Any]
    tz: ZoneInfo
    scope: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """event field → allowed values."""
    tags: Mapping[str, frozenset[str]] = field(default_factory=dict)
    group_by: str | None = None
    """An event field (``customer_id``…) or ``tag:<key>``; None = one group for the rule."""
    cooldown: timedelta = timedelta(minutes=DEFAULT_COOLDOWN_MINUTES)
    target_ids: tuple[str, ...] = ()
    scope_raw: Mapping[str, Any] = field(default_factory=dict)
    group_by_raw: str | None = None

    @classmethod
    def build(
        cls,
        *,
        id: str,
        org_id: str,
        name: str,
        kind: str,
        config: Mapping[str, Any],
        scope: Mapping[str, Any],
        group_by: str | None,
        timezone: str,
        cooldown_minutes: int,
        target_ids: tuple[str, ...] | list[str] = (),
    ) -> Rule:
        parsed = Scope.model_validate(scope)

        def as_set(v: Values) -> frozenset[str]:
            return frozenset([v] if isinstance(v, str) else v)

        fields = {
            DIMENSIONS[name]: as_set(value)
            for name, value in parsed.model_dump(exclude={"tags"}).items()
            if value is not None
        }
        tags = {k: as_set(v) for k, v in parsed.tags.items()}
        group = None
        if group_by:
            group = group_by if group_by.startswith("tag:") else DIMENSIONS[group_by]
        return cls(
            id=id,
            org_id=org_id,
            name=name,
            kind=kind,
            config=normalise_config(kind, config),
            tz=zone(timezone),
            scope=fields,
            tags=tags,
            group_by=group,
            cooldown=timedelta(minutes=cooldown_minutes),
            target_ids=tuple(target_ids),
            scope_raw=parsed.model_dump(exclude_none=True, exclude_defaults=True),
            group_by_raw=group_by,
        )

    # -- matching events -------------------------------------------------------------

    def matches(self, event: Mapping[str, Any]) -> bool:
        for name, allowed in self.scope.items():
            if (event.get(name) or "") not in allowed:
                return False
        if self.tags:
            tags = event.get("tags") or {}
            for key, allowed in self.tags.items():
                if tags.get(key, "") not in allowed:
                    return False
        return True

    def group_of(self, event: Mapping[str, Any]) -> str | None:
        """The group an in-scope event counts towards; None = it counts towards none
        (a grouped rule skips events without a value for its dimension)."""
        if self.group_by is None:
            return ""
        if self.group_by.startswith("tag:"):
            value = (event.get("tags") or {}).get(self.group_by[4:], "")
        else:
            value = event.get(self.group_by) or ""
        return value or None

    # -- time -------------------------------------------------------------------------

    def local_day(self, at: datetime) -> date:
        return at.astimezone(self.tz).date()

    def window(self, now: datetime) -> tuple[date, date]:
        """The local days (first, last inclusive) this rule needs counted at ``now``."""
        today = self.local_day(now)
        first = min(today.replace(day=1), today - timedelta(days=7))
        return first, today

    def utc_start(self, day: date) -> datetime:
        """The instant local ``day`` begins, in UTC."""
        return datetime.combine(day, time(0), self.tz).astimezone(UTC)


@dataclass(frozen=True)
class Breach:
    group: str
    period: str
    observed: Decimal
    threshold: Decimal
    details: dict[str, Any]


def evaluate(
    rule: Rule, days: Mapping[date, Decimal], now: datetime, group: str = ""
) -> Breach | None:
    """Whether ``group`` breaches ``rule`` at ``now``, from its spend per local day."""
    today = rule.local_day(now)
    spent_today = days.get(today, ZERO)
    if rule.kind == "daily_threshold":
        threshold = limit(rule)
        if spent_today > threshold:
            details = {"day": today.isoformat()}
            return Breach(group, today.isoformat(), spent_today, threshold, details)
        return None
    if rule.kind == "spike":
        factor = Decimal(rule.config["factor"])
        if rule.config["baseline"] == "yesterday":
            baseline = days.get(today - timedelta(days=1), ZERO)
        else:
            week = sum((days.get(today - timedelta(days=n), ZERO) for n in range(1, 8)), ZERO)
            baseline = week / 7
        if baseline <= 0:
            return None
        over = factor * baseline
        if spent_today > over:
            details = {
                "day": today.isoformat(),
                "baseline_usd": money_text(baseline),  # spike rules have no currency
                "baseline": rule.config["baseline"],
                "factor": rule.config["factor"],
            }
            return Breach(group, today.isoformat(), spent_today, over, details)
        return None
    month_start = today.replace(day=1)
    month_to_date = sum((v for d, v in days.items() if month_start <= d <= today), ZERO)
    budget = limit(rule)
    period = month_start.strftime("%Y-%m")
    if rule.kind == "monthly_budget":
        if month_to_date > budget:
            return Breach(group, period, month_to_date, budget, {"month": period})
        return None
    in_month = calendar.monthrange(today.year, today.month)[1]
    elapsed_s = int((now - rule.utc_start(month_start)).total_seconds())
    elapsed_days = max(Decimal(elapsed_s) / 86400, Decimal(1))
    forecast = month_to_date * in_month / elapsed_days
    if forecast > budget:
        details = {
            "month": period,
            ("month_to_date_usd" if rule_currency(rule.config) == "USD" else "month_to_date"): (
                money_text(month_to_date)
            ),
            "days_elapsed": money_text(elapsed_days.quantize(Decimal("0.0001"))),
            "days_in_month": str(in_month),
        }
        return Breach(group, period, forecast.quantize(Decimal("0.000001")), budget, details)
    return None


@dataclass(frozen=True)
class LastFire:
    seq: int
    fired_at: datetime


def next_seq(last: LastFire | None, now: datetime, cooldown: timedelta) -> int | None:
    """The claim number of a fire now, or None while the cooldown holds.

    ``last`` is the latest fire of the same (rule, group) in the same period."""
    if last is None:
        return 0
    if now - last.fired_at >= cooldown:
        return last.seq + 1
    return None
