"""Reconciliation: tracked spend and billed amounts per provider and UTC day (provider bills are
per UTC day). Pure: each function returns a query."""

from __future__ import annotations

from datetime import date

from readapi.sql.common import DAYS, ORG, Query


def tracked_by_provider_day(org: str, first: date, last: date) -> Query:
    return Query(
        "SELECT provider, day, sum(requests), sum(cost_usd) FROM cost_daily "
        f"WHERE {ORG} AND {DAYS} GROUP BY provider, day ORDER BY provider, day",
        {"org": org, "d0": first, "d1": last},
    )


def billed_by_provider_day(org: str, first: date, last: date) -> Query:
    """Rows ``(provider, date, source, billed)``; FINAL applies the ReplacingMergeTree's
    last-sync-wins, and line items of one source add up."""
    return Query(
        "SELECT provider, date, source, sum(billed_usd) FROM billed_daily FINAL "
        "WHERE org_id = {org:String} AND date >= {d0:Date} AND date <= {d1:Date} "
        "GROUP BY provider, date, source ORDER BY provider, date, source",
        {"org": org, "d0": first, "d1": last},
    )


def tracked_by_provider_day_model(org: str, first: date, last: date) -> Query:
    return Query(
        "SELECT provider, day, model, sum(requests), sum(cost_usd) FROM cost_daily "
        f"WHERE {ORG} AND {DAYS} GROUP BY provider, day, model",
        {"org": org, "d0": first, "d1": last},
    )


def billed_items(org: str, first: date, last: date) -> Query:
    """Rows ``(provider, date, source, line_item, billed)``."""
    return Query(
        "SELECT provider, date, source, line_item, sum(billed_usd) FROM billed_daily FINAL "
        "WHERE org_id = {org:String} AND date >= {d0:Date} AND date <= {d1:Date} "
        "GROUP BY provider, date, source, line_item",
        {"org": org, "d0": first, "d1": last},
    )
