"""Explained drift: tracked vs billed per provider, UTC day and model. Pure.

Definitions (``GET /v1/reconcile/models`` and the Reconcile page use exactly these):

* **billed per model** — the line items of the bill chosen for the provider-day (``_reconcile``
  rules) whose item names a model (``"<model>, <kind>"``), summed per canonical model; items
  that name none (web search, code execution, unitemised totals) are ``other`` (model None).
* **tracked per model** — our events' cost for the provider-day, summed per canonical model.
* **untracked model** — a model billed in the range that no event of that provider tracked.
* **stable ratio** — a model with at least ``MIN_DAYS`` days where both billed and tracked are
  positive, every day's ``billed / tracked`` within ``TOLERANCE`` (relative) of the pooled
  ratio ``Σ billed / Σ tracked`` over those days, and the pooled ratio off 1 by more than
  ``THRESHOLD``. For such a model the suggestion is the per-org discount override that scales
  the model's rates by the pooled ratio (rounded to ``PLACES`` decimals), from the first of
  those days: applied, new events are priced the way the provider bills.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from readapi._money import ZERO, money, percent

MIN_DAYS = 7
TOLERANCE = Decimal("0.02")
THRESHOLD = Decimal("0.005")
PLACES = Decimal("0.0001")
OTHER = None
"""The model of costs no line item attributes to a model."""


@dataclass(frozen=True)
class Cell:
    requests: int = 0
    tracked: Decimal = ZERO
    billed: Decimal = ZERO
    billed_items: int = 0


Key = tuple[str, date, str | None]


def cells(
    tracked: Iterable[tuple[str, date, str, int, Decimal]],
    billed: Iterable[tuple[str, date, str | None, Decimal]],
) -> dict[Key, Cell]:
    """``tracked``: (provider, day, canonical model, requests, cost); ``billed``: (provider,
    day, canonical model or None, amount) of the chosen bills' line items."""
    out: dict[Key, Cell] = {}
    for provider, day, model, n, cost in tracked:
        c = out.get((provider, day, model), Cell())
        out[(provider, day, model)] = Cell(
            c.requests + n, c.tracked + cost, c.billed, c.billed_items
        )
    for provider, day, maybe_model, amount in billed:
        c = out.get((provider, day, maybe_model), Cell())
        out[(provider, day, maybe_model)] = Cell(
            c.requests, c.tracked, c.billed + amount, c.billed_items + 1
        )
    return out


def _suggestion(
    org_id: str, provider: str, model: str, days: list[tuple[date, Cell]]
) -> dict[str, Any] | None:
    both = [(d, c) for d, c in days if c.billed > 0 and c.tracked > 0]
    if len(both) < MIN_DAYS:
        return None
    billed = sum((c.billed for _, c in both), ZERO)
    tracked = sum((c.tracked for _, c in both), ZERO)
    ratio = billed / tracked
    if abs(ratio - 1) <= THRESHOLD:
        return None
    if any(abs(c.billed / c.tracked / ratio - 1) > TOLERANCE for _, c in both):
        return None
    multiplier = ratio.quantize(PLACES, ROUND_HALF_EVEN)
    first = min(d for d, _ in both)
    spec = {
        "kind": "discount",
        "provider": provider,
        "model": model,
        "multiplier": format(multiplier, "f"),
        "from": first.isoformat(),
        "label": f"reconcile: billed/tracked over {len(both)} days",
    }
    command = (
        f"costobs overrides add --org {shlex.quote(org_id)} "
        f"--spec {shlex.quote(json.dumps(spec, separators=(', ', ': ')))}"
    )
    return {
        "provider": provider,
        "model": model,
        "days": len(both),
        "billed_usd": money(billed),
        "tracked_usd": money(tracked),
        "ratio": format(ratio.quantize(Decimal("0.000001"), ROUND_HALF_EVEN), "f"),
        "override": spec,
        "command": command,
    }


def explain(org_id: str, by_cell: dict[Key, Cell]) -> dict[str, Any]:
    rows = []
    per_model: dict[tuple[str, str], list[tuple[date, Cell]]] = {}
    billed_models: dict[tuple[str, str], Decimal] = {}
    tracked_models: set[tuple[str, str]] = set()
    for (provider, day, model), c in sorted(
        by_cell.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or "")
    ):
        rows.append(
            {
                "provider": provider,
                "date": day.isoformat(),
                "model": model,
                "tracked_usd": money(c.tracked),
                "tracked_requests": c.requests,
                "billed_usd": money(c.billed) if c.billed_items else None,
                "drift_usd": money(c.billed - c.tracked) if c.billed_items else None,
                "drift_pct": percent(c.billed - c.tracked, c.tracked) if c.billed_items else None,
            }
        )
        if model is None:
            continue
        per_model.setdefault((provider, model), []).append((day, c))
        if c.requests:
            tracked_models.add((provider, model))
        if c.billed_items:
            billed_models[(provider, model)] = billed_models.get((provider, model), ZERO) + c.billed
    untracked = [
        {"provider": p, "model": m, "billed_usd": money(amount)}
        for (p, m), amount in sorted(billed_models.items())
        if (p, m) not in tracked_models and amount > 0
    ]
    suggestions = [
        s
        for (p, m), days in sorted(per_model.items())
        if (s := _suggestion(org_id, p, m, days)) is not None
    ]
    return {"rows": rows, "untracked_models": untracked, "suggestions": suggestions}
