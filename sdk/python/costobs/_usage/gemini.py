"""google-genai ``usage_metadata`` → normalised usage."""

from __future__ import annotations

from typing import Any

from costobs._usage._common import clean, g, n


def _modality(details: Any, name: str) -> int:
    total = 0
    for item in details or []:
        modality = g(item, "modality")
        label = str(getattr(modality, "value", modality) or "").upper()
        if label == name:
            total += n(item, "token_count")
    return total


def generate_usage(meta: Any) -> dict[str, Any]:
    """Prompt includes cached; candidates exclude thoughts; audio has its own rate."""
    prompt = n(meta, "prompt_token_count")
    cached = n(meta, "cached_content_token_count")
    audio_in = max(
        0,
        _modality(g(meta, "prompt_tokens_details"), "AUDIO")
        - _modality(g(meta, "cache_tokens_details"), "AUDIO"),
    )
    audio_out = _modality(g(meta, "candidates_tokens_details"), "AUDIO")
    thoughts = n(meta, "thoughts_token_count")
    candidates = n(meta, "candidates_token_count")
    return clean(
        {
            "input_tokens": max(0, prompt - cached - audio_in)
            + n(meta, "tool_use_prompt_token_count"),
            "cached_input_tokens": cached,
            "audio_input_tokens": audio_in,
            "output_tokens": max(0, candidates - audio_out) + thoughts,
            "reasoning_tokens": thoughts,
            "audio_output_tokens": audio_out,
        }
    )


def embed_usage(response: Any) -> dict[str, Any]:
    """Embeddings: Vertex reports billable characters; token statistics when present."""
    tokens = 0
    for item in g(response, "embeddings") or []:
        tokens += n(g(item, "statistics"), "token_count")
    usage = g(response, "usage_metadata")
    if usage is not None:
        tokens = tokens or n(usage, "prompt_token_count")
    return clean(
        {
            "input_tokens": tokens,
            "characters": n(g(response, "metadata"), "billable_character_count"),
        }
    )


def model_name(model: Any) -> str:
    text = str(model or "")
    for prefix in ("models/", "publishers/google/models/"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    if "/models/" in text:
        text = text.rsplit("/models/", 1)[1]
    return text
