"""The shared, hand-worked vectors of pricing/testdata/vectors.json, priced by the engine."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from costobs.pricing import load_price_table

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def sdk() -> None:
    """Overrides the SDK suite's autouse shipper fixture: pricing is pure, needs no I/O."""


VECTORS: dict[str, Any] = json.loads((ROOT / "pricing" / "testdata" / "vectors.json").read_text())


def test_there_are_enough_vectors_and_ids_are_unique() -> None:
    ids = [v["id"] for v in VECTORS["vectors"]]
    assert len(ids) >= 60
    assert len(ids) == len(set(ids))


def test_vectors_match_the_bundled_table_version() -> None:
    assert load_price_table().version == VECTORS["table_version"]


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["id"])
def test_vector(vector: dict[str, Any]) -> None:
    quote = load_price_table().quote(
        provider=vector["provider"],
        model=vector["model"],
        usage=vector["usage"],
        at=datetime.fromisoformat(vector["at"].replace("Z", "+00:00")),
        service_tier=vector["service_tier"],
        batch=vector["batch"],
        region=vector["region"],
    )
    assert isinstance(quote.cost_usd, Decimal)
    assert quote.cost_usd == Decimal(vector["expected_cost"]), vector["work"]
    assert quote.to_dict()["cost_usd"] == vector["expected_cost"]
    assert quote.entry == vector["expected_entry"]
    assert quote.unpriced is (vector["expected_entry"] is None)
    assert sum(quote.breakdown.values(), Decimal(0)) == quote.cost_usd
