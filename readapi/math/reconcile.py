"""Tracked vs billed spend per provider and UTC day. Pure.

Definitions (the Reconcile page and ``GET /v1/reconcile`` use exactly these):

* **tracked** — the sum of our events' (re-priced) cost for the provider-day.
* **billed** — the provider's bill for the day from ``billed_daily``. When several sources
  billed one provider-day, one source is used and the others ignored, never added together:
  ``api`` (billsyncd, from the provider's admin API) beats ``import`` (a manual invoice import),
  which beats ``demo``; any other source comes after those, alphabetically. Line items of the
  chosen source add up.
* **drift** — ``billed − tracked``, for provider-days with a bill; **drift %** —
  ``100 × drift / tracked``, null when tracked is 0.
* **untracked** — billed spend no tracked event accounts for, per provider-day: the whole bill
  when the provider-day has no tracked events, else ``max(0, billed − tracked)``. (With events
  whose tracked cost is 0 both rules give the whole bill.) Over-tracking on one day never
  offsets untracked spend on another.
* **totals** — tracked over every provider-day; billed, drift and drift % over the provider-days
  that have a bill (so drift compares like with like); untracked summed per provider-day.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from readapi._money import ZERO, money, percent

SOURCE_PRIORITY = ("api", "import", "demo")


def _rank(source: str) -> tuple[int, str]:
    try:
        return (SOURCE_PRIORITY.index(source), source)
    except ValueError:
        return (len(SOURCE_PRIORITY), source)


@dataclass(frozen=True)
class Bill:
    amount: Decimal
    source: str
    ignored_sources: tuple[str, ...]


def choose_bills(rows: Iterable[tuple[str, date, str, Decimal]]) -> dict[tuple[str, date], Bill]:
    """``(provider, day, source, amount)`` rows → one bill per provider-day."""
    by_day: dict[tuple[str, date], dict[str, Decimal]] = {}
    for provider, day, source, amount in rows:
        sources = by_day.setdefault((provider, day), {})
        sources[source] = sources.get(source, ZERO) + amount
    chosen = {}
    for key, sources in by_day.items():
        ordered = sorted(sources, key=_rank)
        chosen[key] = Bill(sources[ordered[0]], ordered[0], tuple(ordered[1:]))
    return chosen


def untracked(billed: Decimal, tracked: Decimal, tracked_requests: int) -> Decimal:
    if tracked_requests == 0:
        return billed
    return max(ZERO, billed - tracked)


def reconcile(
    tracked_rows: Iterable[tuple[str, date, int, Decimal]],
    bills: dict[tuple[str, date], Bill],
) -> dict[str, Any]:
    """``tracked_rows``: ``(provider, day, requests, cost)``. Returns the JSON body."""
    tracked = {(p, d): (int(n), c) for p, d, n, c in tracked_rows}
    rows = []
    totals = {"tracked": ZERO, "billed": ZERO, "tracked_billed": ZERO, "untracked": ZERO}
    providers: dict[str, dict[str, Decimal]] = {}
    for provider, day in sorted(set(tracked) | set(bills)):
        n, cost = tracked.get((provider, day), (0, ZERO))
        bill = bills.get((provider, day))
        per = providers.setdefault(
            provider, {k: ZERO for k in ("tracked", "billed", "tracked_billed", "untracked")}
        )
        totals["tracked"] += cost
        per["tracked"] += cost
        row: dict[str, Any] = {
            "provider": provider,
            "date": day.isoformat(),
            "tracked_usd": money(cost),
            "tracked_requests": n,
            "billed_usd": None,
            "billed_source": None,
            "ignored_sources": [],
            "drift_usd": None,
            "drift_pct": None,
            "untracked_usd": "0",
        }
        if bill is not None:
            gap = untracked(bill.amount, cost, n)
            row.update(
                billed_usd=money(bill.amount),
                billed_source=bill.source,
                ignored_sources=list(bill.ignored_sources),
                drift_usd=money(bill.amount - cost),
                drift_pct=percent(bill.amount - cost, cost),
                untracked_usd=money(gap),
            )
            for bucket in (totals, per):
                bucket["billed"] += bill.amount
                bucket["tracked_billed"] += cost
                bucket["untracked"] += gap
        rows.append(row)
    return {
        "billed_data": bool(bills),
        "rows": rows,
        "providers": [{"provider": p, **_summary(v)} for p, v in sorted(providers.items())],
        "totals": _summary(totals),
    }


def _summary(v: dict[str, Decimal]) -> dict[str, Any]:
    drift = v["billed"] - v["tracked_billed"]
    return {
        "tracked_usd": money(v["tracked"]),
        "billed_usd": money(v["billed"]),
        "tracked_on_billed_days_usd": money(v["tracked_billed"]),
        "drift_usd": money(drift),
        "drift_pct": percent(drift, v["tracked_billed"]),
        "untracked_usd": money(v["untracked"]),
    }
