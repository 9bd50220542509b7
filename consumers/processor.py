"""Pure transform: one JetStream message → event rows for ClickHouse. No I/O here.

The writer re-prices every event from its usage with the current price table and the org's
overrides (the authoritative cost) and keeps the SDK's estimate beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import orjson

from costobs_server.store.columns import TEXT_DIMENSIONS, USAGE_COUNTS, ZERO


class QuoteLike(Protocol):
    cost_usd: Decimal
    unpriced: bool
    entry: str | None
    version: str


Price = Callable[[str, Mapping[str, Any], datetime], QuoteLike]
"""(org_id, event, timestamp) → quote."""


class PoisonMessage(ValueError):
    """A message that can never be written; it goes to the dead-letter subject."""


@dataclass(frozen=True)
class Row:
    org_id: str
    timestamp: datetime
    request_id: str
    values: tuple[Any, ...]
    unpriced: bool


def rows_from_message(payload: bytes, stream_seq: int, price: Price) -> list[Row]:
    try:
        envelope = orjson.loads(payload)
        org_id: str = envelope["org_id"]
        received_at = datetime.fromisoformat(envelope["received_at"])
        events: list[dict[str, Any]] = envelope["events"]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise PoisonMessage(f"not an ingest envelope: {exc!r}") from exc
    rows = []
    for index, event in enumerate(events):
        try:
            rows.append(_row(org_id, received_at, event, stream_seq, price))
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise PoisonMessage(f"event {index}: {exc!r}") from exc
    return rows


def _row(
    org_id: str, received_at: datetime, event: dict[str, Any], stream_seq: int, price: Price
) -> Row:
    timestamp = datetime.fromisoformat(event["timestamp"])
    usage: dict[str, Any] = event.get("usage") or {}
    quote = price(org_id, event, timestamp)
    sdk_cost = event.get("cost_usd")
    provider_cost = event.get("provider_cost_usd")
    ttft = event.get("time_to_first_token_ms")
    get = event.get
    values = (
        org_id,
        event["request_id"],
        timestamp,
        received_at,
        event["provider"],
        event["model"],
        get("operation", "chat"),
        *(get(name) or "" for name in TEXT_DIMENSIONS),
        get("tags") or {},
        *(int(usage.get(name, 0)) for name in USAGE_COUNTS),
        usage.get("image_size") or "",
        usage.get("image_quality") or "",
        Decimal(usage.get("audio_seconds", "0")),
        get("service_tier") or "",
        bool(get("batch", False)),
        get("region") or "",
        get("status", "ok"),
        get("error_type") or "",
        int(get("latency_ms", 0)),
        None if ttft is None else int(ttft),
        bool(get("streaming", False)),
        quote.cost_usd,
        None if sdk_cost is None else Decimal(sdk_cost),
        None if provider_cost is None else Decimal(provider_cost),
        quote.unpriced,
        quote.entry or "",
        quote.version,
        get("pricing_version") or "",
        get("provider_request_id") or "",
        get("sdk_language") or "",
        get("sdk_version") or "",
        stream_seq,
    )
    return Row(org_id, timestamp, event["request_id"], values, quote.unpriced)


def without_duplicates(rows: list[Row], stored: set[tuple[str, str]]) -> list[Row]:
    """Rows whose (org, request_id) is neither stored already nor earlier in this flush."""
    seen = set(stored)
    kept = []
    for row in rows:
        key = (row.org_id, row.request_id)
        if key not in seen:
            seen.add(key)
            kept.append(row)
    return kept


def columns(rows: list[Row]) -> list[tuple[Any, ...]]:
    return list(zip(*(row.values for row in rows), strict=True)) if rows else []


__all__ = [
    "ZERO",
    "PoisonMessage",
    "Price",
    "Row",
    "columns",
    "rows_from_message",
    "without_duplicates",
]
