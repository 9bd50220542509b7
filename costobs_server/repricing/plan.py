"""Re-pricing one stored event, pure: a row of ``events`` (as ClickHouse's JSONEachRow gives
it, decimals and 64-bit integers quoted) → the row the writer would store today, and whether
that changes anything. No I/O here; ``swap`` writes, ``run`` drives.

An event is priced from its stored usage with the same call the writer makes
(``consumers.pricer.Pricer``: the price table plus the org's overrides, at the event's own
timestamp), so re-pricing works for any event ever stored, long after the stream dropped it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from consumers.cost_parts import PARTS, cost_parts
from consumers.processor import Price, QuoteLike
from costobs_server.store.columns import USAGE_COUNTS

MONEY = ("cost_usd", *PARTS)
"""The decimal columns a price sets."""
_FIGURES = ("provider", "unpriced", "price_entry")
"""Other columns a price sets that rollups or reads depend on."""


def usage_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """The normalised usage the writer priced, back from its columns (zeros are no usage)."""
    usage: dict[str, Any] = {k: int(row[k]) for k in USAGE_COUNTS if int(row[k])}
    seconds = Decimal(row["audio_seconds"])
    if seconds:
        usage["audio_seconds"] = seconds
    for text in ("image_size", "image_quality"):
        if row[text]:
            usage[text] = row[text]
    return usage


def timestamp_of(row: Mapping[str, Any]) -> datetime:
    """ClickHouse's ``2026-11-26 10:00:00.000`` (UTC) as an aware datetime."""
    return datetime.fromisoformat(row["timestamp"]).replace(tzinfo=UTC)


def quote_row(org_id: str, row: Mapping[str, Any], price: Price) -> QuoteLike:
    event = {
        "provider": row["provider"],
        "model": row["model"],
        "usage": usage_of(row),
        "service_tier": row["service_tier"] or None,
        "batch": bool(row["batch"]),
        "region": row["region"] or None,
        # a call through a gateway is priced as the model it names, as the writer did
        "gateway_host": row["gateway_host"] or row["gateway"],
    }
    return price(org_id, event, timestamp_of(row))


def repriced(row: Mapping[str, Any], quote: QuoteLike, job_id: str) -> dict[str, Any] | None:
    """The row as ``quote`` prices it, or None when no figure changes. The ingest cost and
    version columns are carried as they are (the row read gives them explicitly)."""
    parts = dict.fromkeys(PARTS, "0") | cost_parts(quote.breakdown_atto, usage_of(row))
    new = {"cost_usd": format(quote.cost_usd, "f"), **parts}
    same = all(Decimal(row[c]) == Decimal(new[c]) for c in MONEY) and (
        row["provider"],
        bool(row["unpriced"]),
        row["price_entry"],
    ) == (quote.provider, quote.unpriced, quote.entry or "")
    if same:
        return None
    return {
        **row,
        **new,
        "provider": quote.provider,
        "canonical_model": quote.canonical_model,
        "unpriced": quote.unpriced,
        "price_entry": quote.entry or "",
        "pricing_version": quote.version,
        "repriced_by": job_id,
    }


@dataclass
class Tally:
    """Events checked and changed, and their cost before and after, for one group."""

    checked: int = 0
    changed: int = 0
    old_cost: Decimal = Decimal(0)
    new_cost: Decimal = Decimal(0)

    def add(self, old: Decimal, new: Decimal, changed: bool) -> None:
        self.checked += 1
        self.changed += changed
        self.old_cost += old
        self.new_cost += new

    def merge(self, other: Tally) -> None:
        self.checked += other.checked
        self.changed += other.changed
        self.old_cost += other.old_cost
        self.new_cost += other.new_cost

    @classmethod
    def of(cls, tallies: Iterable[Tally]) -> Tally:
        out = cls()
        for tally in tallies:
            out.merge(tally)
        return out


@dataclass
class DayPlan:
    """One org-day: the re-priced rows and the tallies per (provider, model) as stored."""

    org_id: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    by_model: dict[tuple[str, str], Tally] = field(default_factory=dict)

    @property
    def total(self) -> Tally:
        return Tally.of(self.by_model.values())


def plan_day(org_id: str, rows: Sequence[Mapping[str, Any]], price: Price, job_id: str) -> DayPlan:
    plan = DayPlan(org_id)
    for row in rows:
        new = repriced(row, quote_row(org_id, row, price), job_id)
        key = (row["provider"], row["model"])
        tally = plan.by_model.setdefault(key, Tally())
        old_cost = Decimal(row["cost_usd"])
        tally.add(old_cost, Decimal(new["cost_usd"]) if new else old_cost, new is not None)
        if new is not None:
            plan.rows.append(new)
    return plan
