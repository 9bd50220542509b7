"""Per-usage-type cost parts (consumers/cost_parts.py) against the real price table."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from costobs.pricing import load_price_table

from consumers.cost_parts import PARTS, atto_text, cost_parts

TABLE = load_price_table()
VECTORS = json.loads((Path(__file__).parents[1] / "pricing/testdata/vectors.json").read_text())


def _parts(provider: str, model: str, usage: dict[str, Any]) -> tuple[Decimal, dict[str, str]]:
    quote = TABLE.quote(provider=provider, model=model, usage=usage)
    return quote.cost_usd, cost_parts(quote.breakdown_atto, usage)


def test_each_usage_type_priced_at_its_rate() -> None:
    # gpt-4o-2024-08-06: input $2.50, cached $1.25, output $10 per 1M; reasoning inside output
    usage = {
        "input_tokens": 1000,
        "cached_input_tokens": 2000,
        "output_tokens": 3000,
        "reasoning_tokens": 1000,
    }
    total, parts = _parts("openai", "gpt-4o-2024-08-06", usage)
    assert parts == {
        "cost_input_usd": "0.0025",
        "cost_cached_input_usd": "0.0025",
        "cost_output_usd": "0.02",
        "cost_reasoning_usd": "0.01",
    }
    assert total == sum(Decimal(v) for v in parts.values())


def test_a_separate_reasoning_rate_is_its_own_part() -> None:
    # gemini-2.5-flash-preview-04-17: output $0.60, reasoning $3.50 per 1M
    usage = {"input_tokens": 0, "output_tokens": 1_000_000, "reasoning_tokens": 400_000}
    total, parts = _parts("gemini", "gemini-2.5-flash-preview-04-17", usage)
    assert parts == {"cost_output_usd": "0.36", "cost_reasoning_usd": "1.4"}
    assert total == Decimal("1.76")


def test_atto_text() -> None:
    assert atto_text(0) == "0"
    assert atto_text(2_500_000_000_000_000) == "0.0025"
    assert atto_text(3 * 10**18) == "3"
    assert atto_text(10**19 + 1) == "10.000000000000000001"
    assert atto_text(-5 * 10**17) == "-0.5"


def test_half_even_share() -> None:
    assert cost_parts([("output", 5)], {"output_tokens": 2, "reasoning_tokens": 1}) == {
        "cost_output_usd": "0.000000000000000003",
        "cost_reasoning_usd": "0.000000000000000002",  # 2.5 → 2 (even)
    }


def test_rounding_of_the_reasoning_share_loses_nothing() -> None:
    usage = {"output_tokens": 7, "reasoning_tokens": 3}
    parts = cost_parts([("output", 10)], usage)  # 1e-17 USD over 7 tokens
    assert sum(Decimal(v) for v in parts.values()) == Decimal("1e-17")
    assert parts["cost_reasoning_usd"] == "0.000000000000000004"


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: str(v["id"]))
def test_parts_always_sum_to_the_quote(vector: dict[str, Any]) -> None:
    quote = TABLE.quote(
        provider=vector["provider"],
        model=vector["model"],
        usage=vector["usage"],
        at=datetime.fromisoformat(vector["at"]),
        service_tier=vector["service_tier"],
        batch=vector["batch"],
        region=vector["region"],
    )
    parts = cost_parts(quote.breakdown_atto, vector["usage"])
    assert set(parts) <= set(PARTS)
    assert sum((Decimal(v) for v in parts.values()), Decimal(0)) == quote.cost_usd
