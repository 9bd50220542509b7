"""``GET /v1/reconcile/models`` in the display currency. Pure.

Each provider-day-model row converts at its UTC day's rate (``_display.convert_rows``). The
figures over several days — an untracked model's billed spend, a suggestion's billed and
tracked — are the exact sums of those rows' converted figures, so they equal what the rows
show; a day of them without any rate makes the sum null. The suggested override stays as it
is: its multiplier is a ratio, the same in every currency.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from costobs_server.currency import RateBook, exact_sum
from readapi._display import convert_rows, segment_json, shown
from readapi._money import dec

DRIFT_MONEY = ("tracked_usd", "billed_usd", "drift_usd")


def _sum(rows: Iterable[dict[str, Any]], field: str) -> Decimal | None:
    values = [r["display"][field] for r in rows]
    if any(v is None for v in values):
        return None
    return exact_sum(dec(v) for v in values)


def model_drift_display(
    book: RateBook, first: date, last: date, body: dict[str, Any]
) -> dict[str, Any]:
    """Adds ``display`` to each row of ``drift.explain``'s ``body``, ``display_billed`` to its
    untracked models, ``display_billed``/``display_tracked`` to its suggestions; returns the
    block of the totals and the rates used (by run of days)."""
    rows = body["rows"]
    block = convert_rows(book, rows, DRIFT_MONEY)
    block["rates"] = [segment_json(s) for s in book.segments(first, last)]

    by_model: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
    for row in rows:
        by_model.setdefault((row["provider"], row["model"]), []).append(row)

    def of(provider: str, model: str) -> list[dict[str, Any]]:
        return by_model.get((provider, model), [])

    for item in body["untracked_models"]:
        billed = [r for r in of(item["provider"], item["model"]) if r["billed_usd"] is not None]
        item["display_billed"] = shown(_sum(billed, "billed"))
    for s in body["suggestions"]:
        days = [  # the days the suggestion pools: billed and tracked both positive
            r
            for r in of(s["provider"], s["model"])
            if r["billed_usd"] is not None and dec(r["billed_usd"]) > 0 < dec(r["tracked_usd"])
        ]
        s["display_billed"] = shown(_sum(days, "billed"))
        s["display_tracked"] = shown(_sum(days, "tracked"))
    return block
