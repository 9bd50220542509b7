"""One observed call, and its wire v1 event (built off the hot path, in the shipper thread)."""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from costobs._context import Meta
from costobs._guard import report
from costobs._version import VERSION

_MAX_PLACES = Decimal(1).scaleb(-18)


class Call:
    """What an adapter learns about one provider call. Mutable until ``finish``."""

    __slots__ = (
        "batch",
        "deferred",
        "done",
        "error_type",
        "extra",
        "gateway",
        "gateway_host",
        "latency_ms",
        "meta",
        "model",
        "operation",
        "provider",
        "provider_cost",
        "provider_request_id",
        "region",
        "service_tier",
        "started",
        "status",
        "streaming",
        "t0",
        "ttft_ms",
        "usage",
    )

    def __init__(self, provider: str, model: str, operation: str, meta: Meta) -> None:
        self.provider = provider
        self.model = model
        self.operation = operation
        self.meta = meta
        self.started = time.time()
        self.t0 = time.perf_counter()
        self.latency_ms = 0
        self.ttft_ms: int | None = None
        self.streaming = False
        self.usage: dict[str, Any] = {}
        self.status = "ok"
        self.error_type: str | None = None
        self.service_tier: str | None = None
        self.batch = False
        self.region: str | None = None
        self.provider_cost: Decimal | None = None
        self.provider_request_id: str | None = None
        self.gateway: str | None = None
        """A well-known gateway recognised by host or response header (litellm, portkey…)."""
        self.gateway_host: str | None = None
        """The base_url host (``host[:port]``) of a call through a gateway or unknown host."""
        self.done = False
        self.extra: Any = None
        self.deferred: tuple[Any, tuple[Any, ...]] | None = None
        """(fn, args): usage extraction run in the shipper thread, off the caller's path."""

    def defer(self, fn: Any, *args: Any) -> None:
        self.deferred = (fn, args)

    def mark_first_token(self) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = int((time.perf_counter() - self.t0) * 1000)

    def stop_clock(self) -> None:
        self.latency_ms = int((time.perf_counter() - self.t0) * 1000)


def decimal_string(value: Decimal | int | str | float) -> str:
    """A non-negative decimal as the wire's decimal string (at most 18 places)."""
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    if not number.is_finite() or number <= 0:
        return "0"
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -18:
        number = number.quantize(_MAX_PLACES)
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _identifier(value: str | None) -> str | None:
    if not value:
        return None
    text = value.strip().lower().replace(" ", "_")[:64]
    if not text or not (text[0].isalnum()) or not all(c.isalnum() or c in "_.-" for c in text):
        return None
    return text


def to_wire(call: Call) -> dict[str, Any]:
    """The wire v1 event of a finished call (no pricing yet)."""
    if call.deferred is not None:
        fn, args = call.deferred
        call.deferred = None
        try:
            fn(call, *args)
        except Exception as exc:  # the event still ships, without the usage it could not read
            with contextlib.suppress(Exception):  # a debug hook that re-raises
                report(exc)
    event: dict[str, Any] = {
        "schema_version": 1,
        "request_id": str(uuid.uuid4()),
        "timestamp": datetime.fromtimestamp(call.started, UTC).isoformat(),
        "provider": _identifier(call.provider) or "unknown",
        "model": (call.model or "unknown")[:256],
        "operation": _identifier(call.operation) or "chat",
        "usage": dict(call.usage),
        "status": call.status,
        "latency_ms": max(0, min(call.latency_ms, 86_400_000)),
        "streaming": call.streaming,
        "batch": call.batch,
        "sdk_language": "python",
        "sdk_version": VERSION,
    }
    event.update(call.meta.fields)
    if call.meta.tags:
        event["tags"] = dict(call.meta.tags)
    if call.ttft_ms is not None:
        event["time_to_first_token_ms"] = max(0, min(call.ttft_ms, 86_400_000))
    if call.error_type:
        event["error_type"] = call.error_type[:128]
    tier = _identifier(call.service_tier)
    if tier:
        event["service_tier"] = tier
    if call.region:
        event["region"] = call.region[:64]
    if call.provider_cost is not None:
        event["provider_cost_usd"] = decimal_string(call.provider_cost)
    if call.provider_request_id:
        event["provider_request_id"] = call.provider_request_id[:256]
    if call.gateway_host:
        event["gateway_host"] = call.gateway_host[:256]
    gateway = _identifier(call.gateway)
    if gateway:
        event["gateway"] = gateway
    return event


_table_failed = False


def _table() -> Any:
    """The bundled price table, or None when it cannot be loaded (logged once).

    Without a table the event still ships: the writer prices every event on arrival.
    """
    global _table_failed
    if _table_failed:
        return None
    try:
        from costobs.pricing import load_price_table  # the bundled table, cached by the engine

        return load_price_table()
    except Exception as exc:
        _table_failed = True
        logging.getLogger("costobs").warning(
            "costobs: no price table (%r); events ship unpriced", exc
        )
        return None


def price(event: dict[str, Any]) -> None:
    """Add the local cost estimate, the price table version (unknown models cost 0) and the
    canonical model; a call through a gateway is recorded under the provider of the model it
    names (``PriceTable.quote_call``, the writer's rule too)."""
    table = _table()
    if table is None:
        return
    quote = table.quote_call(
        gateway="gateway_host" in event,
        provider=event["provider"],
        model=event["model"],
        usage=event["usage"],
        at=datetime.fromisoformat(event["timestamp"]),
        service_tier=event.get("service_tier"),
        batch=event["batch"],
        region=event.get("region"),
    )
    try:
        event["cost_usd"] = decimal_string(quote.cost_usd)
    except (InvalidOperation, ValueError, TypeError):
        event["cost_usd"] = "0"
    event["pricing_version"] = str(quote.version)[:64]
    event["provider"] = _identifier(quote.provider) or event["provider"]
    event["canonical_model"] = quote.canonical_model[:256]
