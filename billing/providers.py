"""Provider admin APIs that report what was billed, per UTC day. Amounts stay exact: JSON
numbers are read from their text as ``Decimal`` and never pass through a float.

- OpenAI ``GET /v1/organization/costs`` (admin key as Bearer): daily buckets of results whose
  ``amount.value`` is in dollars, seen both as a JSON number and as a string.
- Anthropic ``GET /v1/organizations/cost_report`` (admin key as ``x-api-key``): daily buckets
  whose ``amount`` is a decimal string in cents ("123.45" = $1.2345).

Both paginate with ``has_more`` / ``next_page`` passed back as ``page``. Costs are asked per
line item (OpenAI ``group_by=line_item``: ``"gpt-4o-2024-08-06, input"``; Anthropic
``group_by[]=description``: model and token type per result, kept as ``"<model>, <token
type>"``), so Reconcile can explain drift per model (``ITEM_SEPARATOR`` splits the model off).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import httpx

from billing.line_items import ITEM_SEPARATOR
from costobs_server.errors import CostObsError, InvalidInput

log = logging.getLogger(__name__)

MAX_PAGES = 100

Items = dict[date, dict[str, Decimal]]
"""Per UTC day: line item → billed dollars ('' = not itemised)."""


class ProviderError(CostObsError):
    """A provider API call failed; ``retryable`` says whether a later attempt may succeed."""

    def __init__(self, provider: str, message: str, *, status: int | None, retryable: bool):
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.status = status
        self.retryable = retryable


@dataclass(frozen=True)
class Retry:
    attempts: int = 4
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0


def decode(text: str) -> Any:
    """JSON with every non-integer number as an exact Decimal."""
    return json.loads(text, parse_float=Decimal)


def money(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise InvalidInput(f"{what}: {value!r} is not an amount")
    amount = Decimal(value)
    if not amount.is_finite():
        raise InvalidInput(f"{what}: {value!r} is not a finite amount")
    return amount


def _utc_day(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


async def get_json(
    client: httpx.AsyncClient,
    provider: str,
    url: str,
    *,
    headers: dict[str, str],
    params: dict[str, Any],
    retry: Retry,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Any:
    """GET with retries on network errors, 408, 429 and 5xx (honouring Retry-After)."""
    for attempt in range(1, retry.attempts + 1):
        delay = retry.base_delay_s * 2 ** (attempt - 1)
        try:
            response = await client.get(url, headers=headers, params=params)
        except httpx.HTTPError as exc:
            error = ProviderError(provider, f"request failed: {exc!r}", status=None, retryable=True)
        else:
            status = response.status_code
            if status == 200:
                try:
                    return decode(response.text)
                except ValueError as exc:
                    raise ProviderError(
                        provider, f"answer is not JSON: {exc}", status=200, retryable=False
                    ) from None
            detail = response.text[:300]
            if status in (401, 403):
                raise ProviderError(
                    provider,
                    f"HTTP {status}: the admin key was refused ({detail})",
                    status=status,
                    retryable=False,
                )
            retryable = status in (408, 429) or status >= 500
            error = ProviderError(
                provider, f"HTTP {status}: {detail}", status=status, retryable=retryable
            )
            if not retryable:
                raise error
            after = response.headers.get("retry-after")
            if after:
                with contextlib.suppress(ValueError):
                    delay = max(delay, float(after))
        if attempt == retry.attempts:
            raise error
        delay = min(delay, retry.max_delay_s)
        log.warning("%s; retry %d/%d in %.1fs", error, attempt, retry.attempts - 1, delay)
        await sleep(delay)
    raise AssertionError("unreachable")


async def _pages(
    client: httpx.AsyncClient,
    provider: str,
    url: str,
    headers: dict[str, str],
    params: dict[str, Any],
    retry: Retry,
) -> list[dict[str, Any]]:
    buckets: list[dict[str, Any]] = []
    page: str | None = None
    for _ in range(MAX_PAGES):
        query = dict(params)
        if page:
            query["page"] = page
        body = await get_json(client, provider, url, headers=headers, params=query, retry=retry)
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise ProviderError(provider, "answer has no 'data' list", status=200, retryable=False)
        buckets.extend(body["data"])
        page = body.get("next_page")
        if not body.get("has_more") or not page:
            return buckets
    raise ProviderError(provider, f"more than {MAX_PAGES} pages", status=200, retryable=False)


def _add(sums: dict[str, Decimal], key: str, amount: Decimal) -> None:
    sums[key] = sums.get(key, Decimal(0)) + amount


def day_totals(items: Items) -> dict[date, Decimal]:
    return {day: sum(by_item.values(), Decimal(0)) for day, by_item in items.items()}


async def openai_costs(
    client: httpx.AsyncClient, base_url: str, key: str, first: date, last: date, retry: Retry
) -> Items:
    """Billed dollars per UTC day and line item, ``first``..``last`` inclusive."""
    params = {
        "start_time": int(_utc_day(first).timestamp()),
        "end_time": int(_utc_day(last + timedelta(days=1)).timestamp()),
        "bucket_width": "1d",
        "limit": min(180, (last - first).days + 1),
        "group_by": "line_item",
    }
    buckets = await _pages(
        client,
        "openai",
        base_url.rstrip("/") + "/v1/organization/costs",
        {"Authorization": f"Bearer {key}"},
        params,
        retry,
    )
    return openai_items(buckets)


def openai_days(buckets: list[dict[str, Any]]) -> dict[date, Decimal]:
    return day_totals(openai_items(buckets))


def openai_items(buckets: list[dict[str, Any]]) -> Items:
    days: Items = {}
    for bucket in buckets:
        day = datetime.fromtimestamp(int(bucket["start_time"]), UTC).date()
        items = days.setdefault(day, {})
        for result in bucket.get("results") or ():
            amount = result.get("amount") or {}
            currency = str(amount.get("currency") or "usd").lower()
            if currency != "usd":
                raise ProviderError(
                    "openai", f"amount in {currency!r}, not usd", status=200, retryable=False
                )
            value = money(amount.get("value", 0), "openai amount.value")
            _add(items, str(result.get("line_item") or ""), value)
    return days


async def anthropic_costs(
    client: httpx.AsyncClient, base_url: str, key: str, first: date, last: date, retry: Retry
) -> Items:
    """Billed dollars per UTC day (the API reports cents) and line item (model and token
    type), ``first``..``last`` inclusive."""
    params = {
        "starting_at": _utc_day(first).isoformat().replace("+00:00", "Z"),
        "ending_at": _utc_day(last + timedelta(days=1)).isoformat().replace("+00:00", "Z"),
        "bucket_width": "1d",
        "limit": 31,
        "group_by[]": "description",
    }
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    buckets = await _pages(
        client,
        "anthropic",
        base_url.rstrip("/") + "/v1/organizations/cost_report",
        headers,
        params,
        retry,
    )
    return anthropic_items(buckets)


def anthropic_days(buckets: list[dict[str, Any]]) -> dict[date, Decimal]:
    return day_totals(anthropic_items(buckets))


def _anthropic_item(result: dict[str, Any]) -> str:
    model = result.get("model")
    kind = result.get("token_type") or result.get("cost_type") or "tokens"
    if model:
        return f"{model}{ITEM_SEPARATOR}{kind}"
    return str(result.get("description") or result.get("cost_type") or "")


def anthropic_items(buckets: list[dict[str, Any]]) -> Items:
    days: Items = {}
    for bucket in buckets:
        start = datetime.fromisoformat(str(bucket["starting_at"]).replace("Z", "+00:00"))
        day = start.astimezone(UTC).date()
        items = days.setdefault(day, {})
        for result in bucket.get("results") or ():
            currency = str(result.get("currency") or "USD").upper()
            if currency != "USD":
                raise ProviderError(
                    "anthropic", f"amount in {currency!r}, not USD", status=200, retryable=False
                )
            cents = money(result.get("amount", "0"), "anthropic amount")
            _add(items, _anthropic_item(result), cents.scaleb(-2))
    return days
