"""Pure extraction functions: provider shapes → normalised usage, no I/O."""

from __future__ import annotations

import pytest
from costobs._event import decimal_string
from costobs._usage import anthropic, gemini, openai
from costobs._usage._common import clean


@pytest.mark.parametrize(
    ("host", "provider"),
    [
        ("api.openai.com", "openai"),
        ("api.x.ai", "xai"),
        ("api.together.xyz", "together"),
        ("api.together.ai", "together"),
        ("api.fireworks.ai", "fireworks"),
        ("openrouter.ai", "openrouter"),
        ("api.groq.com", "groq"),
        ("api.deepseek.com", "deepseek"),
        ("api.mistral.ai", "mistral"),
        ("my-resource.openai.azure.com", "azure"),
        ("generativelanguage.googleapis.com", "gemini"),
        ("localhost", "openai_compatible"),
    ],
)
def test_provider_from_base_url_host(host: str, provider: str) -> None:
    assert openai.provider_for_host(host) == provider


def test_configured_hosts_win() -> None:
    assert openai.provider_for_host("gw.internal", 8443, {"gw.internal:8443": "openai"}) == "openai"
    assert openai.provider_for_host("gw.internal", None, {"gw.internal": "groq"}) == "groq"


def test_openai_cache_writes_are_not_input() -> None:
    usage = {
        "prompt_tokens": 1000,
        "completion_tokens": 10,
        "prompt_tokens_details": {"cached_tokens": 600, "cache_write_tokens": 300},
    }
    assert openai.chat_usage(usage, "openai") == (
        {
            "input_tokens": 100,
            "cached_input_tokens": 600,
            "cache_write_30m_tokens": 300,
            "output_tokens": 10,
        },
        None,
    )


def test_anthropic_streamed_values_replace_never_add() -> None:
    state: dict[str, object] = {}
    anthropic.merge_latest(
        state, {"input_tokens": 10, "output_tokens": 1, "cache_read_input_tokens": 5}
    )
    anthropic.merge_latest(state, {"output_tokens": 40})
    anthropic.merge_latest(state, {"output_tokens": 90, "input_tokens": None})
    assert anthropic.messages_usage(state) == {
        "input_tokens": 10,
        "cached_input_tokens": 5,
        "output_tokens": 90,
    }


def test_gemini_thoughts_are_output_and_reasoning() -> None:
    meta = {"prompt_token_count": 100, "candidates_token_count": 20, "thoughts_token_count": 30}
    assert gemini.generate_usage(meta) == {
        "input_tokens": 100,
        "output_tokens": 50,
        "reasoning_tokens": 30,
    }
    assert gemini.model_name("models/gemini-2.5-flash") == "gemini-2.5-flash"
    assert (
        gemini.model_name("projects/p/locations/l/publishers/google/models/gemini-2.0")
        == "gemini-2.0"
    )


def test_clean_keeps_the_wire_invariants() -> None:
    assert clean(
        {"output_tokens": 5, "reasoning_tokens": 9, "input_tokens": -3, "audio_seconds": 1.50}
    ) == {
        "output_tokens": 5,
        "reasoning_tokens": 5,
        "audio_seconds": "1.5",
    }


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("0.0012300", "0.00123"),
        (0, "0"),
        ("1E-20", "0"),
        ("12.5", "12.5"),
        ("-1", "0"),
        ("1E+3", "1000"),
    ],
)
def test_decimal_strings(value: str, text: str) -> None:
    from decimal import Decimal

    assert decimal_string(Decimal(value)) == text
