"""Bedrock Converse usage and model ids → normalised usage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from costobs._usage._common import clean, g, n

GEO_PREFIXES = ("us-gov", "us", "eu", "apac", "au", "ca", "jp", "global")


def converse_usage(usage: Any) -> dict[str, Any]:
    """``inputTokens`` is uncached input only; cache reads/writes are reported beside it."""
    write = n(usage, "cacheWriteInputTokens")
    w5m = w1h = 0
    for detail in g(usage, "cacheDetails") or []:
        ttl = str(g(detail, "ttl", ""))
        if ttl == "1h":
            w1h += n(detail, "inputTokens")
        else:
            w5m += n(detail, "inputTokens")
    w5m += max(0, write - w5m - w1h)
    return clean(
        {
            "input_tokens": n(usage, "inputTokens"),
            "cached_input_tokens": n(usage, "cacheReadInputTokens"),
            "cache_write_5m_tokens": w5m,
            "cache_write_1h_tokens": w1h,
            "output_tokens": n(usage, "outputTokens"),
        }
    )


def resolve_model(
    model_id: str, aliases: Mapping[str, str] | None = None
) -> tuple[str, str | None]:
    """(model, geo) from a Bedrock model id, inference profile id or ARN.

    ``us.anthropic.claude-…`` → (``anthropic.claude-…``, ``us``); an application-profile ARN
    is opaque and resolved through ``aliases`` (``configure(model_aliases=...)``).
    """
    if aliases and model_id in aliases:
        model_id = aliases[model_id]
    if model_id.startswith("arn:"):
        resource = model_id.split(":", 5)[-1]
        kind, _, rest = resource.partition("/")
        if kind in ("foundation-model", "inference-profile") and rest:
            model_id = rest
        else:
            return model_id, None
    head, dot, rest = model_id.partition(".")
    if dot and head in GEO_PREFIXES and "." in rest:
        return rest, head
    return model_id, None
