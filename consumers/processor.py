"""Pure transform: one JetStream message → ``events`` rows as JSONEachRow lines. No I/O here.

The writer re-prices every event from its usage with the current price table and the org's
overrides (the authoritative ``cost_usd``) and keeps the SDK's estimate as ``sdk_cost_usd``.
Rows travel to ClickHouse as JSON lines because ClickHouse parses them in C++ far faster than
a Python driver serialises 57 columns (see bench/ingest_e2e.py); omitted fields take the
column defaults ('' / 0 / false).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple, Protocol

import orjson

from consumers.cost_parts import cost_parts
from costobs_server.errors import InvalidInput


class QuoteLike(Protocol):
    cost_usd: Decimal

    @property
    def breakdown_atto(self) -> Sequence[tuple[str, int]]: ...

    unpriced: bool
    entry: str | None
    version: str
    provider: str
    """The provider to record: a gateway call's is the provider of the model it names."""
    canonical_model: str


Price = Callable[[str, Mapping[str, Any], datetime], QuoteLike]
"""(org_id, event, timestamp) → quote."""


class PoisonMessage(InvalidInput):
    """A message that can never be written; it goes to the dead-letter subject."""


class MessageRows(NamedTuple):
    """One message's rows; plain lists so they cross a process boundary cheaply."""

    org_id: str
    request_ids: list[str]
    lines: list[bytes]
    """JSONEachRow lines in the ``events`` table's column names."""
    unpriced: int


def rows_from_message(payload: bytes, stream_seq: int, price: Price) -> MessageRows:
    try:
        envelope = orjson.loads(payload)
        org_id: str = envelope["org_id"]
        received_at: str = envelope["received_at"]
        events: list[dict[str, Any]] = envelope["events"]
        if not isinstance(org_id, str) or not isinstance(events, list):
            raise TypeError("org_id must be a string and events a list")
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise PoisonMessage(f"not an ingest envelope: {exc!r}") from exc
    request_ids, lines, unpriced = [], [], 0
    for index, event in enumerate(events):
        try:
            line, is_unpriced = _row(org_id, received_at, event, stream_seq, price)
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise PoisonMessage(f"event {index}: {exc!r}") from exc
        request_ids.append(event["request_id"])
        lines.append(line)
        unpriced += is_unpriced
    return MessageRows(org_id, request_ids, lines, unpriced)


def transform(batch: list[tuple[bytes, int]], price: Price) -> list[MessageRows | str]:
    """Rows per (payload, stream_seq), or the reason a message can never be written."""
    out: list[MessageRows | str] = []
    for payload, seq in batch:
        try:
            out.append(rows_from_message(payload, seq, price))
        except PoisonMessage as exc:
            out.append(str(exc))
        except Exception as exc:  # a bug in pricing must not stop the stream either
            out.append(f"processing failed: {exc!r}")
    return out


def _row(
    org_id: str, received_at: str, event: dict[str, Any], stream_seq: int, price: Price
) -> tuple[bytes, bool]:
    quote = price(org_id, event, datetime.fromisoformat(event["timestamp"]))
    event.pop("schema_version", None)
    usage = event.pop("usage", None)
    if usage:
        event.update(usage)  # usage fields are columns of their own
        event.update(cost_parts(quote.breakdown_atto, usage))  # for the FOCUS export
    if "cost_usd" in event:
        event["sdk_cost_usd"] = event.pop("cost_usd")
    if "pricing_version" in event:
        event["sdk_pricing_version"] = event.pop("pricing_version")
    event.setdefault("operation", "chat")
    event.setdefault("status", "ok")
    # The SDK's own attribution is an estimate like its cost: the table decides (an old SDK's
    # or record()'s openai_compatible event ends up as the direct call would).
    event["provider"] = quote.provider
    event["canonical_model"] = quote.canonical_model
    event["org_id"] = org_id
    event["received_at"] = received_at
    event["stream_seq"] = stream_seq
    event["cost_usd"] = format(quote.cost_usd, "f")
    event["unpriced"] = quote.unpriced
    event["price_entry"] = quote.entry or ""
    event["pricing_version"] = quote.version
    return orjson.dumps(event), quote.unpriced


class Merged(NamedTuple):
    block: bytes
    rows: int
    repeats: int
    """Rows dropped because the same (org, request_id) came earlier in the flush."""
    unpriced: int
    keys: list[tuple[str, str]]
    """(org_id, request_id) of each line of ``block``, in order."""

    def without(self, stored: set[tuple[str, str]]) -> Merged:
        """The rows whose key is not in ``stored``; ``repeats`` counts the dropped ones too."""
        if not stored:
            return self
        lines = self.block.split(b"\n")
        kept = [(k, line) for k, line in zip(self.keys, lines, strict=True) if k not in stored]
        return Merged(
            b"\n".join(line for _, line in kept),
            len(kept),
            self.repeats + self.rows - len(kept),
            self.unpriced,
            [k for k, _ in kept],
        )


def merge(messages: list[MessageRows]) -> Merged:
    """One JSONEachRow block for a flush, without repeats of an (org, request_id)."""
    seen: set[tuple[str, str]] = set()
    lines: list[bytes] = []
    keys: list[tuple[str, str]] = []
    repeats = unpriced = 0
    for message in messages:
        unpriced += message.unpriced
        for request_id, line in zip(message.request_ids, message.lines, strict=True):
            key = (message.org_id, request_id)
            if key in seen:
                repeats += 1
                continue
            seen.add(key)
            lines.append(line)
            keys.append(key)
    return Merged(b"\n".join(lines), len(lines), repeats, unpriced, keys)
