"""Per-org overrides: negotiated discounts, custom entries, deployment-name aliases."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from costobs.pricing import PricingError, load_price_table

M = 1_000_000


@pytest.fixture(autouse=True)
def sdk() -> None:
    """Overrides the SDK suite's autouse shipper fixture: pricing is pure, needs no I/O."""


def test_overrides_return_a_new_table_and_leave_the_original_alone() -> None:
    base = load_price_table()
    org = base.with_overrides([{"kind": "discount", "provider": "openai", "multiplier": "0.8"}])
    assert org is not base
    assert base.quote("openai", "gpt-4o", {"input_tokens": M}).cost_usd == Decimal("2.5")
    assert org.quote("openai", "gpt-4o", {"input_tokens": M}).cost_usd == Decimal("2")
    assert org.version == base.version


def test_most_specific_discount_wins() -> None:
    org = load_price_table().with_overrides(
        [
            {"kind": "discount", "multiplier": "0.9", "label": "everything"},
            {"kind": "discount", "provider": "openai", "multiplier": "0.8"},
            {"kind": "discount", "provider": "openai", "model": "gpt-4o-mini", "multiplier": "0.5"},
        ]
    )
    assert org.quote("openai", "gpt-4o-mini", {"input_tokens": M}).cost_usd == Decimal("0.075")
    assert org.quote("openai", "gpt-4o", {"input_tokens": M}).cost_usd == Decimal("2")
    q = org.quote("anthropic", "claude-haiku-4-5", {"input_tokens": M, "output_tokens": 0})
    assert q.cost_usd == Decimal("0.9")
    assert q.to_dict()["discount"] == {"label": "everything", "multiplier": "0.9"}


def test_discount_window_respects_event_time() -> None:
    org = load_price_table().with_overrides(
        [
            {
                "kind": "discount",
                "provider": "anthropic",
                "multiplier": "0.7",
                "from": "2026-01-01",
                "until": "2026-07-01",
            },
        ]
    )
    usage = {"input_tokens": 100_000}  # claude-sonnet-4-5: 0.3
    inside = org.quote("anthropic", "claude-sonnet-4-5", usage, at=datetime(2026, 3, 1, tzinfo=UTC))
    after = org.quote("anthropic", "claude-sonnet-4-5", usage, at=datetime(2026, 7, 1, tzinfo=UTC))
    assert inside.cost_usd == Decimal("0.21")
    assert after.cost_usd == Decimal("0.3")


def test_discount_stacks_on_tier_and_region() -> None:
    org = load_price_table().with_overrides(
        [
            {"kind": "discount", "provider": "bedrock", "multiplier": "0.9"},
        ]
    )
    q = org.quote(
        "bedrock",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        {"input_tokens": 100_000},
        batch=True,
    )
    assert q.cost_usd == Decimal("0.1485")  # 0.3 * 0.5 * 1.1 * 0.9


def test_custom_self_hosted_entry() -> None:
    org = load_price_table().with_overrides(
        [
            {
                "id": "selfhosted/llama-70b",
                "provider": "selfhosted",
                "model": "llama-70b",
                "source": "internal GPU cost model",
                "prices": [{"from": "2026-01-01", "input": "0.10", "output": "0.20"}],
            },
        ]
    )
    q = org.quote("selfhosted", "llama-70b", {"input_tokens": M, "output_tokens": M})
    assert (q.cost_usd, q.entry, q.unpriced) == (Decimal("0.3"), "selfhosted/llama-70b", False)
    assert org.explain("selfhosted", "llama-70b")["custom"] is True


def test_custom_entry_with_same_id_replaces_the_table_entry() -> None:
    org = load_price_table().with_overrides(
        [
            {
                "kind": "entry",
                "id": "openai/gpt-4o",
                "provider": "openai",
                "model": "gpt-4o",
                "source": "contract #42",
                "prices": [{"from": "2020-01-01", "input": "2.00", "output": "8.00"}],
            },
        ]
    )
    q = org.quote("openai", "gpt-4o-2024-08-06", {"input_tokens": M, "output_tokens": M})
    assert q.cost_usd == Decimal(10)


def test_custom_entry_for_a_new_name_wins_over_snapshot_fallback() -> None:
    org = load_price_table().with_overrides(
        [
            {
                "id": "openai/gpt-4o-2024-11-20",
                "provider": "openai",
                "model": "gpt-4o-2024-11-20",
                "source": "negotiated",
                "prices": [{"from": "2024-11-20", "input": "1"}],
            },
        ]
    )
    assert org.quote("openai", "gpt-4o-2024-11-20", {"input_tokens": M}).cost_usd == Decimal(1)
    assert org.quote("openai", "gpt-4o-2024-08-06", {"input_tokens": M}).cost_usd == Decimal("2.5")


def test_azure_deployment_aliases() -> None:
    org = load_price_table().with_aliases(
        "azure", {"prod-chat": "gpt-4o-2024-08-06", "cheap": "gpt-4o-mini"}
    )
    q = org.quote("azure", "prod-chat", {"input_tokens": M})
    assert (q.cost_usd, q.entry) == (Decimal("2.5"), "openai/gpt-4o")
    regional = org.quote("azure_openai", "cheap", {"input_tokens": M}, region="westeurope")
    assert regional.cost_usd == Decimal("0.165")  # 0.15 * 1.1
    steps = org.explain("azure", "prod-chat")["steps"]
    assert "configured alias 'prod-chat' -> azure:gpt-4o-2024-08-06" in steps
    assert load_price_table().quote("azure", "prod-chat", {"input_tokens": 1}).unpriced


def test_alias_can_switch_provider_for_bedrock_application_profiles() -> None:
    arn = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc123"
    org = load_price_table().with_overrides(
        [
            {
                "kind": "alias",
                "provider": "bedrock",
                "name": arn,
                "model": "global.anthropic.claude-haiku-4-5-20251001-v1:0",
            },
        ]
    )
    assert org.quote("bedrock", arn, {"input_tokens": M}).cost_usd == Decimal(1)


def test_overrides_compose() -> None:
    org = (
        load_price_table()
        .with_aliases("azure", {"d1": "gpt-4o"})
        .with_overrides([{"kind": "discount", "provider": "azure", "multiplier": "0.5"}])
    )
    assert org.quote("azure", "d1", {"input_tokens": M}).cost_usd == Decimal("1.25")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"kind": "discount", "multiplier": 0.8}, "field 'multiplier'"),
        ({"kind": "discount", "multiplier": "0.8", "modle": "x"}, "field 'modle'"),
        ({"kind": "bogus"}, "unknown kind"),
        ({"kind": "alias", "provider": "azure", "name": "x"}, "field 'model'"),
        (
            {
                "id": "x/y",
                "provider": "x",
                "model": "y",
                "source": "s",
                "prices": [{"from": "2026-01-01", "input": "abc"}],
            },
            "entry 'x/y', field 'prices[0].input'",
        ),
    ],
)
def test_bad_overrides_are_named(override: dict[str, object], message: str) -> None:
    with pytest.raises(PricingError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_price_table().with_overrides([override])
