"""``costobs.wrap``: find the adapter for a client (provider packages imported lazily)."""

from __future__ import annotations

import types
from typing import Any, TypeVar

from costobs._context import make_meta
from costobs._errors import UnsupportedClientError
from costobs._guard import logger, report

T = TypeVar("T")

SUPPORTED = (
    "openai.OpenAI / AsyncOpenAI / AzureOpenAI (and OpenAI-compatible base_url)",
    "anthropic.Anthropic / AsyncAnthropic",
    "google.genai.Client",
    'boto3.client("bedrock-runtime")',
    "the litellm module",
)


def _kind(client: Any) -> str | None:
    if isinstance(client, types.ModuleType):
        return "litellm" if client.__name__ == "litellm" else None
    for cls in type(client).__mro__:
        module, name = cls.__module__, cls.__name__
        if module.startswith("openai") and name in ("OpenAI", "AsyncOpenAI"):
            return "openai"
        if module.startswith("anthropic") and name in (
            "Anthropic",
            "AsyncAnthropic",
            "AnthropicBedrock",
            "AsyncAnthropicBedrock",
            "AnthropicVertex",
            "AsyncAnthropicVertex",
        ):
            return "anthropic"
        if module.startswith("google.genai") and name == "Client":
            return "google_genai"
        if module == "botocore.client" and name == "BaseClient":
            from costobs.integrations.bedrock import is_bedrock_runtime

            return "bedrock" if is_bedrock_runtime(client) else None
    return None


_DISTRIBUTIONS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google_genai": "google-genai",
    "bedrock": "botocore",  # botocore 1.N ships with boto3 1.N
    "litellm": "litellm",
}
_warned: set[str] = set()


def _check_version(kind: str, floor: tuple[int, ...]) -> None:
    """Warn (once) when the provider package is older than the floor the adapter is tested on."""
    from importlib.metadata import PackageNotFoundError, version

    dist = _DISTRIBUTIONS[kind]
    try:
        installed = version(dist)
    except PackageNotFoundError:
        return
    parts = tuple(int(p) if p.isdigit() else 0 for p in installed.split(".")[: len(floor)])
    if parts < floor and dist not in _warned:
        _warned.add(dist)
        logger.warning(
            "costobs: %s %s is older than %s, the oldest version the adapter is tested with",
            dist,
            installed,
            ".".join(map(str, floor)),
        )


def wrap(client: T, **defaults: Any) -> T:
    """Observe every supported call made through ``client``; returns the same client.

    Keyword arguments are wrap-time metadata (the nine fields; anything else is a tag).
    Wrapping twice is harmless: calls are observed once and the new defaults are merged in.
    """
    kind = _kind(client)
    if kind is None:
        raise UnsupportedClientError(
            f"costobs.wrap does not support {type(client).__module__}.{type(client).__qualname__}; "
            f"supported: {', '.join(SUPPORTED)}. Use costobs.record() for anything else."
        )
    meta = make_meta(defaults)
    try:
        if kind == "openai":
            from costobs.integrations import openai as adapter
        elif kind == "anthropic":
            from costobs.integrations import anthropic as adapter  # type: ignore[no-redef]
        elif kind == "google_genai":
            from costobs.integrations import google_genai as adapter  # type: ignore[no-redef]
        elif kind == "bedrock":
            from costobs.integrations import bedrock as adapter  # type: ignore[no-redef]
        else:
            from costobs.integrations import litellm as adapter  # type: ignore[no-redef]
        _check_version(kind, adapter.MIN_VERSION)
        adapter.instrument(client, meta)
    except Exception as exc:  # the client keeps working unobserved
        report(exc)
    return client
