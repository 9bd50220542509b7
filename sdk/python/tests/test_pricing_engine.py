"""Engine behaviour: matching precedence, history, tiers, usage validation, exactness."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import costobs.pricing as pricing
import pytest
from costobs.pricing import PriceTable, PricingError, Quote, load_price_table, table_from_data

NOW = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def sdk() -> None:
    """Overrides the SDK suite's autouse shipper fixture: pricing is pure, needs no I/O."""


@pytest.fixture
def table() -> PriceTable:
    return load_price_table()


def tiny(**extra: object) -> PriceTable:
    """A two-provider table written out by hand for precise matching tests."""
    return table_from_data(
        {
            "version": "t1",
            "providers": {"p": {"tiers": {"batch": {"multiplier": "0.5"}}}},
            "entries": [
                {
                    "id": "p/m",
                    "provider": "p",
                    "model": "m",
                    "source": "https://x",
                    "prices": [{"from": "2025-01-01", "input": "1", "output": "2"}],
                },
                {
                    "id": "p/m-2025-05-05",
                    "provider": "p",
                    "model": "m-2025-05-05",
                    "source": "https://x",
                    "prices": [{"from": "2025-01-01", "input": "9"}],
                },
                {
                    "id": "p/voice",
                    "provider": "p",
                    "model": "voice",
                    "prefixes": ["voice-"],
                    "source": "https://x",
                    "prices": [{"from": "2025-01-01", "characters_per_1k": "1"}],
                },
                {
                    "id": "p/voice-pro",
                    "provider": "p",
                    "model": "voice-pro",
                    "prefixes": ["voice-pro-"],
                    "source": "https://x",
                    "prices": [{"from": "2025-01-01", "characters_per_1k": "3"}],
                },
            ],
            **extra,
        }
    )


def test_public_api_is_pinned() -> None:
    assert sorted(pricing.__all__) == [
        "BUNDLED_TABLE",
        "PriceTable",
        "PricingError",
        "Quote",
        "USAGE_COUNTS",
        "load_price_table",
        "read_table_file",
        "table_from_data",
    ]
    # what the CostObs server uses (it imports no private module of the SDK)
    assert pricing.BUNDLED_TABLE.is_file()
    assert pricing.USAGE_COUNTS[:2] == ("input_tokens", "cached_input_tokens")
    assert pricing.read_table_file(pricing.BUNDLED_TABLE)["entries"]


def test_bundled_table_is_cached_and_large(table: PriceTable) -> None:
    assert load_price_table() is table
    assert len(table.entries) > 150
    for provider in (
        "openai",
        "anthropic",
        "gemini",
        "vertex",
        "bedrock",
        "azure",
        "xai",
        "deepseek",
        "mistral",
        "groq",
        "together",
        "fireworks",
        "openrouter",
        "deepgram",
        "elevenlabs",
    ):
        assert provider in table.providers


def test_exact_entry_beats_snapshot_stripping() -> None:
    t = tiny()
    assert t.quote("p", "m-2025-05-05", {"input_tokens": 1_000_000}).entry == "p/m-2025-05-05"
    assert t.quote("p", "m-2025-06-06", {"input_tokens": 1_000_000}).entry == "p/m"
    assert t.quote("p", "M", {"input_tokens": 1_000_000}).cost_usd == Decimal(1)


def test_longest_declared_prefix_wins() -> None:
    t = tiny()
    assert t.quote("p", "voice-pro-anna", {"characters": 1000}).cost_usd == Decimal(3)
    assert t.quote("p", "voice-anna", {"characters": 1000}).cost_usd == Decimal(1)


def test_unknown_model_is_zero_and_flagged(table: PriceTable) -> None:
    q = table.quote("openai", "gpt-nonexistent", {"input_tokens": 10})
    assert (q.cost_usd, q.unpriced, q.entry, q.breakdown) == (Decimal(0), True, None, {})
    assert q.version == table.version
    assert q.to_dict()["unpriced"] is True
    explained = table.explain("openai", "gpt-nonexistent")
    assert explained["matched"] is False
    assert explained["steps"][-1] == "no entry matched: unpriced ($0)"


def test_explain_shows_steps_and_rates(table: PriceTable) -> None:
    e = table.explain("openai", "gpt-4o-2024-08-06", NOW)
    assert e["entry"] == "openai/gpt-4o"
    assert any("snapshot suffix stripped" in s for s in e["steps"])
    assert e["rates"]["input"] == "2.5"
    assert e["rates"]["output"] == "10"
    assert e["price_history"] == ["2024-05-13", "2024-10-02"]
    assert e["source"].startswith("https://")
    old = table.explain("openai", "gpt-4o", datetime(2024, 6, 1, tzinfo=UTC))
    assert old["rates"]["input"] == "5"
    geo = table.explain("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", NOW)
    assert geo["region_key"] == "us" and geo["region_multiplier"] == "1.1"
    assert geo["rates"]["input"] == "3.3"
    assert geo["long_context"]["above_prompt_tokens"] == 200000


def test_history_default_at_is_now_and_before_first_date_uses_first(table: PriceTable) -> None:
    usage = {"input_tokens": 1_000_000}
    assert table.quote("openai", "o3", usage).cost_usd == Decimal(2)
    early = table.quote("openai", "o3", usage, at=datetime(2020, 1, 1, tzinfo=UTC))
    assert early.cost_usd == Decimal(10)


def test_naive_timestamp_is_refused(table: PriceTable) -> None:
    with pytest.raises(PricingError, match="timezone-aware"):
        table.quote("openai", "o3", {}, at=datetime(2025, 1, 1))


@pytest.mark.parametrize(
    ("usage", "message"),
    [
        ({"prompt_tokens": 1}, "unknown usage field 'prompt_tokens'"),
        ({"input_tokens": 1.5}, "floats are refused"),
        ({"input_tokens": -1}, "out of range"),
        ({"input_tokens": "1.5"}, "whole count"),
        ({"input_tokens": True}, "must be a count"),
        ({"output_tokens": 10, "reasoning_tokens": 11}, "cannot exceed"),
        ({"audio_seconds": -1}, "non-negative"),
        ({"audio_seconds": 1.0}, "must be a Decimal"),
        ({"input_tokens": 10**13}, "out of range"),
    ],
)
def test_bad_usage_raises(table: PriceTable, usage: dict[str, object], message: str) -> None:
    with pytest.raises(PricingError, match=message):
        table.quote("openai", "gpt-4o", usage)


def test_unknown_usage_field_raises_even_for_unknown_model(table: PriceTable) -> None:
    with pytest.raises(PricingError):
        table.quote("openai", "nope", {"prompt_tokens": 1})


def test_usage_accepts_int_decimal_string_and_none(table: PriceTable) -> None:
    q = table.quote(
        "openai",
        "gpt-4o",
        {
            "input_tokens": "1000",
            "output_tokens": Decimal(20),
            "cached_input_tokens": None,
            "image_size": None,
            "audio_seconds": Decimal(0),
        },
    )
    assert q.cost_usd == Decimal("0.0027")


def test_pydantic_style_full_usage_dict(table: PriceTable) -> None:
    usage = dict.fromkeys(
        [
            "input_tokens",
            "cached_input_tokens",
            "cache_write_5m_tokens",
            "cache_write_1h_tokens",
            "cache_write_30m_tokens",
            "cache_write_12h_tokens",
            "output_tokens",
            "reasoning_tokens",
            "audio_input_tokens",
            "audio_output_tokens",
            "image_input_tokens",
            "image_output_tokens",
            "images",
            "characters",
            "web_search_requests",
            "tool_requests",
            "requests",
        ],
        0,
    )
    usage.update(input_tokens=1000, output_tokens=20)
    full = {**usage, "image_size": None, "image_quality": None, "audio_seconds": Decimal(0)}
    assert table.quote("openai", "gpt-4o", full).cost_usd == Decimal("0.0027")


def test_breakdown_and_to_dict_are_decimal_strings(table: PriceTable) -> None:
    q = table.quote(
        "anthropic",
        "claude-sonnet-4-5",
        {
            "input_tokens": 1000,
            "cached_input_tokens": 10000,
            "cache_write_5m_tokens": 2000,
            "cache_write_1h_tokens": 1000,
            "output_tokens": 500,
        },
    )
    assert q.breakdown == {
        "input": Decimal("0.003"),
        "cached_input": Decimal("0.003"),
        "cache_write_5m": Decimal("0.0075"),
        "cache_write_1h": Decimal("0.006"),
        "output": Decimal("0.0075"),
    }
    d = q.to_dict()
    assert d["cost_usd"] == "0.027"
    assert d["breakdown"]["cache_write_5m"] == "0.0075"
    assert d["rates"]["cache_write_1h"] == "6"
    assert all(isinstance(v, str) for v in d["breakdown"].values())


def test_tiny_amounts_have_no_exponent_in_to_dict(table: PriceTable) -> None:
    q = table.quote("openai", "gpt-5-nano", {"input_tokens": 1})
    assert q.cost_usd == Decimal("0.00000005")
    assert q.to_dict()["cost_usd"] == "0.00000005"


def test_rounding_only_past_18_places(table: PriceTable) -> None:
    # 1 s of Deepgram nova-3 = 0.0043/60 = 0.0000716666… -> half-even at 18 places
    q = table.quote("deepgram", "nova-3", {"audio_seconds": "1"})
    assert q.cost_usd == Decimal("0.000071666666666667")
    # 0.5 s: 0.0043/120 = 0.00003583333… -> rounds down
    q = table.quote("deepgram", "nova-3", {"audio_seconds": "0.5"})
    assert q.cost_usd == Decimal("0.000035833333333333")


def test_big_counts_stay_exact(table: PriceTable) -> None:
    q = table.quote(
        "openai", "gpt-4o-mini", {"input_tokens": 10**12, "output_tokens": 999_999_999_999}
    )
    assert q.cost_usd == Decimal("150000") + Decimal("599999.9999994")


def test_unrated_usage_is_reported(table: PriceTable) -> None:
    q = table.quote(
        "openai", "text-embedding-3-small", {"input_tokens": 10, "audio_output_tokens": 5}
    )
    assert q.unrated == ("audio_output_tokens",)
    assert q.to_dict()["unrated"] == ["audio_output_tokens"]


def test_quote_repr_and_type(table: PriceTable) -> None:
    q = table.quote("openai", "gpt-4o", {"input_tokens": 1000})
    assert isinstance(q, Quote)
    assert "openai/gpt-4o" in repr(q)
    assert q.service_tier is None and q.long_context is False


def test_tier_and_long_context_reported(table: PriceTable) -> None:
    q = table.quote("anthropic", "claude-opus-4-6", {"input_tokens": 300_000}, batch=True)
    assert q.service_tier == "batch" and q.long_context is True
    assert q.cost_usd == Decimal("1.5")  # 300000 * 10/1M * 0.5


def test_repeated_quotes_are_stable(table: PriceTable) -> None:
    usage = {"input_tokens": 1234, "output_tokens": 567}
    first = table.quote("openai", "gpt-4.1", usage).cost_usd
    for _ in range(3):
        assert table.quote("openai", "gpt-4.1", usage).cost_usd == first == Decimal("0.007004")


GATEWAY_CASES = [
    # (model through a gateway, the same call direct): provider, model as the provider takes it
    ("gpt-4o-mini-2024-07-18", "openai", "gpt-4o-mini-2024-07-18"),
    ("openai/gpt-4o", "openai", "gpt-4o"),
    ("anthropic/claude-opus-4-1", "anthropic", "claude-opus-4-1-20250805"),
    ("claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"),
    (
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "bedrock",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    ),
    (
        "bedrock/global.anthropic.claude-haiku-4-5-20251001-v1:0",
        "bedrock",
        "global.anthropic.claude-haiku-4-5-20251001-v1:0",
    ),
    ("gemini/gemini-2.5-pro", "gemini", "gemini-2.5-pro"),
    ("x-ai/grok-4", "xai", "grok-4"),
    ("deepseek-chat", "deepseek", "deepseek-chat"),
    ("mistral-large-latest", "mistral", "mistral-large-latest"),
]


@pytest.mark.parametrize(
    ("via", "provider", "direct"), GATEWAY_CASES, ids=[c[0] for c in GATEWAY_CASES]
)
def test_a_gateway_call_is_priced_and_recorded_as_the_direct_call(
    table: PriceTable, via: str, provider: str, direct: str
) -> None:
    usage = {"input_tokens": 300_000, "cached_input_tokens": 1234, "output_tokens": 4321}
    through = table.quote_call("openai_compatible", via, usage, NOW)
    flagged = table.quote_call(provider, via, usage, NOW, gateway=True)  # an SDK's resolved event
    straight = table.quote_call(provider, direct, usage, NOW)
    assert not straight.unpriced and straight.cost_usd > 0
    assert through.cost_usd == flagged.cost_usd == straight.cost_usd  # long context, regions too
    assert through.provider == flagged.provider == provider
    assert through.canonical_model == straight.canonical_model
    assert through.model == via


def test_canonical_model_is_one_name_across_clouds(table: PriceTable) -> None:
    names = {
        table.quote(p, m, {}).canonical_model
        for p, m in [
            ("anthropic", "claude-sonnet-4-5-20250929"),
            ("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
            (
                "bedrock",
                "arn:aws:bedrock:us-east-1:1:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
            ),
            ("vertex", "claude-sonnet-4-5@20250929"),
            ("openrouter", "anthropic/claude-sonnet-4.5"),
        ]
    }
    assert names == {"claude-sonnet-4-5"}
    azure = table.with_aliases("azure", {"prod-chat": "gpt-4o"}).quote("azure", "prod-chat", {})
    assert azure.canonical_model == "gpt-4o"
    # a Bedrock model with no same-named entry at its vendor keeps the Bedrock name
    assert table.quote("bedrock", "amazon.nova-pro-v1:0", {}).canonical_model == "amazon.nova-pro"
    assert table.quote("acme", "foo-1", {}).canonical_model == "foo-1"  # unpriced: as sent


def test_the_gateway_provider_is_the_one_the_sdks_stamp() -> None:
    import json
    from pathlib import Path

    from costobs.pricing._table import GATEWAY_PROVIDER

    shared = Path(pricing.__file__).resolve().parent.parent / "_data" / "providers.json"
    assert json.loads(shared.read_text())["gateway_provider"] == GATEWAY_PROVIDER
