"""OpenAI and OpenAI-compatible response shapes → normalised usage."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from costobs._usage._common import clean, dec, g, n

# Provider detection is shared by every SDK: ``sdk/providers.json``, copied into each
# package by ``make sync-pricing`` (a stale copy fails a test).
_PROVIDERS = json.loads(
    (Path(__file__).resolve().parent.parent / "_data" / "providers.json").read_text("utf-8")
)
# Hosts of OpenAI-compatible APIs → provider identifier stamped on events.
HOSTS: dict[str, str] = dict(_PROVIDERS["openai_compatible_hosts"])
HOST_SUFFIXES: dict[str, str] = dict(_PROVIDERS["host_suffixes"])

# Providers documented to accept ``stream_options={"include_usage": true}``; the others
# report streamed usage on their own (Groq in ``x_groq``, Mistral/Together on the last
# chunk), and an unknown parameter could be refused, so it is only injected for these.
INCLUDE_USAGE_PROVIDERS = frozenset(_PROVIDERS["include_usage_providers"])

# An unknown host (a LiteLLM proxy, Portkey, Helicone, Cloudflare AI Gateway, an in-house
# gateway): priced as the model it names and recorded under that model's provider.
GATEWAY_PROVIDER: str = _PROVIDERS["gateway_provider"]
GATEWAY_HOSTS: dict[str, str] = dict(_PROVIDERS["gateway_hosts"])
GATEWAY_HEADERS: dict[str, str] = dict(_PROVIDERS["gateway_headers"])
GATEWAY_COST_HEADERS: dict[str, str] = dict(_PROVIDERS["gateway_cost_headers"])
INCLUDE_USAGE_UNKNOWN_HOSTS: bool = bool(_PROVIDERS["include_usage_unknown_hosts"])

XAI_TICKS_PER_USD = Decimal(10) ** 10


def provider_for_host(
    host: str, port: int | None = None, extra: dict[str, str] | None = None
) -> str:
    """The provider behind an OpenAI-compatible base_url host."""
    host = host.lower()
    if extra:
        if port is not None and f"{host}:{port}" in extra:
            return extra[f"{host}:{port}"]
        if host in extra:
            return extra[host]
    if host in HOSTS:
        return HOSTS[host]
    for suffix, provider in HOST_SUFFIXES.items():
        if host.endswith(suffix):
            return provider
    for known, provider in HOSTS.items():
        if host.endswith("." + known):
            return provider
    return GATEWAY_PROVIDER


def host_key(host: str, port: int | None, default_port: int | None = None) -> str:
    """``host`` or ``host:port`` (a non-default port): how a gateway host is named."""
    host = host.lower()
    return host if port is None or port == default_port else f"{host}:{port}"


def gateway_for_host(host: str) -> str | None:
    """The well-known gateway behind a host (a subdomain of a listed host counts too)."""
    host = host.lower()
    for known, gateway in GATEWAY_HOSTS.items():
        if host == known or host.endswith("." + known):
            return gateway
    return None


def gateway_from_headers(headers: Any, streamed: bool) -> tuple[str | None, Decimal | None]:
    """(gateway named by a response header, the gateway's own cost in USD) from a response's
    headers. A streamed response's headers leave before the cost is known: no cost then."""
    gateway = None
    for name, known in GATEWAY_HEADERS.items():
        if headers.get(name) is not None:
            gateway = known
            break
    cost = None
    if not streamed:
        for name in GATEWAY_COST_HEADERS:
            value = dec(headers.get(name))
            if value is not None and value >= 0:
                cost = value
                break
    return gateway, cost


def rejects_stream_options(status_code: int | None, message: str) -> bool:
    """A gateway's refusal of the injected ``stream_options`` (400/422 naming it)."""
    return status_code in (400, 422) and ("stream_options" in message or "include_usage" in message)


def chat_usage(usage: Any, provider: str = "openai") -> tuple[dict[str, Any], Decimal | None]:
    """Chat Completions ``usage`` → (normalised usage, provider-reported cost in USD)."""
    prompt = n(usage, "prompt_tokens")
    completion = n(usage, "completion_tokens")
    ptd = g(usage, "prompt_tokens_details")
    ctd = g(usage, "completion_tokens_details")
    cached = n(ptd, "cached_tokens")
    cache_write = n(ptd, "cache_write_tokens") or n(usage, "cache_creation_input_tokens")
    audio_in = n(ptd, "audio_tokens")
    image_in = n(ptd, "image_tokens")
    reasoning = n(ctd, "reasoning_tokens")
    audio_out = n(ctd, "audio_tokens")
    if not cached:
        cached = n(usage, "cache_read_input_tokens")
    cost: Decimal | None = None

    if provider == "deepseek" and g(usage, "prompt_cache_hit_tokens") is not None:
        cached = n(usage, "prompt_cache_hit_tokens")
        miss = g(usage, "prompt_cache_miss_tokens")
        prompt = cached + (
            n(usage, "prompt_cache_miss_tokens") if miss is not None else max(0, prompt - cached)
        )
    output = max(0, completion - audio_out)
    if provider == "xai":
        # xAI reports reasoning outside completion_tokens (it is in total_tokens).
        output = completion + reasoning - audio_out
        ticks = dec(g(usage, "cost_in_usd_ticks"))
        if ticks is not None:
            cost = ticks / XAI_TICKS_PER_USD
    if provider == "openrouter":
        cost = dec(g(usage, "cost"))

    write_field = (
        "cache_write_30m_tokens" if provider in ("openai", "azure") else "cache_write_5m_tokens"
    )
    writes = {
        "cache_write_5m_tokens": 0,
        "cache_write_30m_tokens": 0,
        "cache_write_1h_tokens": 0,
        "cache_write_12h_tokens": 0,
    }
    # TTL breakdown when the gateway reports one (litellm: cache_creation_token_details)
    ttl = g(ptd, "cache_creation_token_details") or g(usage, "cache_creation")
    for ttl_name in ("5m", "30m", "1h", "12h"):
        writes[f"cache_write_{ttl_name}_tokens"] = n(ttl, f"ephemeral_{ttl_name}_input_tokens")
    writes[write_field] += max(0, cache_write - sum(writes.values()))
    uncached = prompt - cached - audio_in - image_in
    if uncached >= cache_write:
        uncached -= cache_write
    # else: the prompt cannot contain the writes (older gateways, e.g. litellm < 1.7x for
    # Anthropic, report prompt = input + cache reads): they were never inside it.
    normalised = {
        "input_tokens": max(0, uncached),
        "cached_input_tokens": cached,
        **writes,
        "web_search_requests": n(ptd, "web_search_requests")
        or n(g(usage, "server_tool_use"), "web_search_requests"),
        "output_tokens": output,
        "reasoning_tokens": reasoning,
        "audio_input_tokens": audio_in,
        "audio_output_tokens": audio_out,
        "image_input_tokens": image_in,
    }
    return clean(normalised), cost


def responses_usage(usage: Any, tool_usage: Any = None) -> dict[str, Any]:
    """Responses API ``usage`` (+ ``tool_usage``) → normalised usage."""
    total_in = n(usage, "input_tokens")
    itd = g(usage, "input_tokens_details")
    cached = n(itd, "cached_tokens")
    cache_write = n(itd, "cache_write_tokens")
    cwd = g(itd, "cache_write_tokens_details")
    w12 = n(cwd, "ttl_12h_tokens")
    w30 = n(cwd, "ttl_30m_tokens")
    w30 += max(0, cache_write - w12 - w30)
    web = n(g(tool_usage, "web_search"), "num_requests")
    return clean(
        {
            "input_tokens": max(0, total_in - cached - w30 - w12),
            "cached_input_tokens": cached,
            "cache_write_30m_tokens": w30,
            "cache_write_12h_tokens": w12,
            "output_tokens": n(usage, "output_tokens"),
            "reasoning_tokens": n(g(usage, "output_tokens_details"), "reasoning_tokens"),
            "web_search_requests": web,
        }
    )


def embedding_usage(usage: Any) -> dict[str, Any]:
    return clean({"input_tokens": n(usage, "prompt_tokens") or n(usage, "input_tokens")})


def image_usage(
    response: Any, size: str | None = None, quality: str | None = None
) -> dict[str, Any]:
    """Images API: token usage (gpt-image) or per-image count by size/quality (DALL·E)."""
    usage = g(response, "usage")
    if usage is None:
        data = g(response, "data") or []
        return clean(
            {
                "images": len(data),
                "image_size": g(response, "size") or size,
                "image_quality": g(response, "quality") or quality,
            }
        )
    itd = g(usage, "input_tokens_details")
    otd = g(usage, "output_tokens_details")
    image_in = n(itd, "image_tokens")
    text_in = (
        n(itd, "text_tokens") if itd is not None else max(0, n(usage, "input_tokens") - image_in)
    )
    if otd is not None:
        image_out, text_out = n(otd, "image_tokens"), n(otd, "text_tokens")
    else:
        image_out, text_out = n(usage, "output_tokens"), 0
    return clean(
        {
            "input_tokens": text_in,
            "image_input_tokens": image_in,
            "output_tokens": text_out,
            "image_output_tokens": image_out,
            "image_size": g(response, "size") or size,
            "image_quality": g(response, "quality") or quality,
        }
    )


def transcription_usage(usage: Any) -> dict[str, Any]:
    """Transcription usage: tokens (gpt-4o-transcribe) or duration seconds (whisper)."""
    if usage is None:
        return {}
    if g(usage, "type") == "duration" or (
        g(usage, "seconds") is not None and g(usage, "input_tokens") is None
    ):
        return clean({"audio_seconds": g(usage, "seconds")})
    details = g(usage, "input_token_details") or g(usage, "input_tokens_details")
    total_in = n(usage, "input_tokens")
    audio = n(details, "audio_tokens")
    text = n(details, "text_tokens") if details is not None else 0
    if details is None:
        audio, text = total_in, 0
    return clean(
        {
            "audio_input_tokens": audio,
            "input_tokens": text,
            "output_tokens": n(usage, "output_tokens"),
        }
    )


def speech_usage(text: Any) -> dict[str, Any]:
    """TTS returns audio bytes and no usage: characters of the input are what is billed."""
    return clean({"characters": len(text) if isinstance(text, str) else 0})
