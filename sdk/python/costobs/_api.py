"""configure / record / flush / shutdown / stats."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from costobs import _config
from costobs._context import EMPTY as _EMPTY
from costobs._context import FIELDS, effective, make_meta
from costobs._event import Call
from costobs._fields import USAGE_FIELDS as _USAGE_SET
from costobs._guard import report
from costobs._stats import Stats
from costobs._usage._common import clean, dec

_FIELD_SET = frozenset(FIELDS)


def configure(
    ingest_url: str | None = None,
    api_key: str | None = None,
    *,
    enabled: bool | None = None,
    environment: str | None = None,
    service: str | None = None,
    max_batch_events: int | None = None,
    max_batch_bytes: int | None = None,
    flush_interval: float | None = None,
    max_queue_events: int | None = None,
    max_buffer_bytes: int | None = None,
    max_retries: int | None = None,
    backoff_base: float | None = None,
    backoff_max: float | None = None,
    request_timeout: float | None = None,
    shutdown_timeout: float | None = None,
    gzip: bool | None = None,
    spill_dir: str | os.PathLike[str] | None = None,
    spill_max_bytes: int | None = None,
    model_aliases: Mapping[str, str] | None = None,
    provider_hosts: Mapping[str, str] | None = None,
    include_usage_hosts: Mapping[str, bool] | None = None,
    on_internal_error: Callable[[BaseException], None] | None = None,
) -> None:
    """Set the SDK up. Each argument left out falls back to ``COSTOBS_<NAME>``, then the default.

    Raises :class:`costobs.ConfigError` naming the argument or variable with a bad value.
    """
    values = {k: v for k, v in locals().items() if v is not None}
    settings = _config.resolve(**values)
    _config.set_current(settings)
    if settings.enabled and settings.spill_dir:
        from costobs import _shipper

        _shipper.resume_spilled(settings.spill_dir)


def record(
    provider: str,
    model: str,
    operation: str = "chat",
    *,
    status: str = "ok",
    error_type: str | None = None,
    latency_ms: int = 0,
    streaming: bool = False,
    service_tier: str | None = None,
    batch: bool = False,
    region: str | None = None,
    provider_cost_usd: Decimal | str | int | None = None,
    provider_request_id: str | None = None,
    tags: Mapping[str, Any] | None = None,
    **fields: Any,
) -> None:
    """Record a call made without an adapter; priced locally, shipped in the background.

    Usage is given by its normalised field names (``input_tokens=…``, ``characters=…``,
    ``audio_seconds=…``); the nine metadata fields and ``tags`` are per-call metadata
    layered over the active request scope; any other keyword is a tag.
    """
    try:
        if not _config.current().enabled:
            return
        usage = {k: v for k, v in fields.items() if k in _USAGE_SET}
        meta_values = {k: v for k, v in fields.items() if k not in _USAGE_SET}
        call = Call(
            provider, model, operation, effective(_config_defaults(), make_meta(meta_values, tags))
        )
        call.usage = clean(usage)
        call.status = status if status in ("ok", "error", "cancelled", "timeout") else "error"
        call.error_type = error_type
        call.latency_ms = max(0, int(latency_ms))
        call.streaming = bool(streaming)  # the wire takes JSON booleans only, never 1 or "yes"
        call.service_tier = service_tier
        call.batch = bool(batch)
        call.region = region
        call.provider_cost = dec(provider_cost_usd)
        call.provider_request_id = provider_request_id
        call.done = True
        from costobs import _shipper

        _shipper.submit(call)
    except Exception as exc:
        report(exc)


def _config_defaults() -> Any:
    settings = _config.current()
    if settings.environment or settings.service:
        return make_meta({"environment": settings.environment, "service": settings.service})
    return _EMPTY


def flush(timeout: float = 5.0) -> bool:
    """Send what is queued; True when everything was delivered (or given up on) in time."""
    from costobs import _shipper

    return _shipper.flush(timeout)


def shutdown(timeout: float | None = None) -> bool:
    """Stop intake, drain for at most ``timeout`` seconds, stop the thread; count what is left."""
    from costobs import _shipper

    return _shipper.shutdown(timeout)


def stats() -> Stats:
    """The SDK's counters: sent, retried, dropped by reason, queued, internal errors."""
    from costobs import _shipper

    return _shipper.stats()
