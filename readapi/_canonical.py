"""The model across clouds at read time: (provider, model) → the canonical model the price
table names (``PriceTable.quote_call``), with the org's aliases, as the writer derives it.

Rollups group by the model as sent; the canonical model is derived from them here rather than
stored in every rollup, so it also holds for events written before it existed (and follows
alias overrides added later). The distinct (provider, model) pairs of a range are few, and
the engine caches each match: mapping them costs microseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from consumers.pricer import Pricer

LEVEL = "canonical_model"
BY_MODEL_ALONE = "openai_compatible"
"""The provider to name a model by when only the model is known (the prompt rollup): the
gateway provider, which finds the model's provider from its name."""
_ATTR = "_canonical_pricer"


def namer(services: Any, org_id: str) -> Callable[[str, str], str]:
    """``canonical(provider, model)`` for one org (its price overrides refreshed like the
    writer's)."""
    pricer: Pricer | None = getattr(services, _ATTR, None)
    if pricer is None:  # one per running app (Services is per app), built on first use
        pricer = Pricer(overrides=services.db.price_overrides)
        setattr(services, _ATTR, pricer)
    table = pricer.table_for(org_id)

    def canonical(provider: str, model: str) -> str:
        return table.quote_call(provider, model, {}).canonical_model

    return canonical
