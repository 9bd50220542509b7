"""billsyncd: provider bills into ``billed_daily``, through JetStream like every other write.

Opt-in by design: with no admin key set it creates no HTTP client, opens no connection and
idles. With keys, every ``COSTOBS_BILLING_INTERVAL_S`` it fetches the last
``COSTOBS_BILLING_LOOKBACK_DAYS`` UTC days from each configured provider and publishes them to
``costobs.bills.<org>`` with ``source: "api"``; the bills writer stores them. Re-syncing the
same days is idempotent: the message id is the content hash (JetStream drops a repeat) and
``billed_daily`` replaces a row with the same (org, provider, date, source, line_item).
Providers are synced independently: one failing (bad key, rate limit, outage) is reported in
``/healthz`` and the log and does not stop the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from nats.aio.client import Client as NATS
from prometheus_client import Counter, Gauge

from billing.providers import Items, ProviderError, Retry, anthropic_costs, openai_costs
from costobs_server.settings import Settings
from costobs_server.vocabulary import money_text
from ingest.publisher import Publisher, publish_bills

log = logging.getLogger(__name__)

SYNCS = Counter("costobs_billsyncd_syncs_total", "Provider sync runs", ["provider", "outcome"])
LAST_SUCCESS = Gauge(
    "costobs_billsyncd_last_success_timestamp", "Unix time of the last good sync", ["provider"]
)

Fetch = Callable[[httpx.AsyncClient, str, str, date, date, Retry], Awaitable[Items]]


@dataclass(frozen=True)
class Provider:
    name: str
    base_url: str
    key: str
    fetch: Fetch


@dataclass
class Status:
    ok: bool | None = None
    last_attempt: str | None = None
    last_success: str | None = None
    days: int = 0
    error: str = ""


def configured(settings: Settings) -> list[Provider]:
    """The providers whose admin key is set; empty means billsyncd stays offline."""
    found = []
    if settings.billing_openai_admin_key is not None:
        found.append(
            Provider(
                "openai",
                settings.billing_openai_base_url,
                settings.billing_openai_admin_key.get_secret_value(),
                openai_costs,
            )
        )
    if settings.billing_anthropic_admin_key is not None:
        found.append(
            Provider(
                "anthropic",
                settings.billing_anthropic_base_url,
                settings.billing_anthropic_admin_key.get_secret_value(),
                anthropic_costs,
            )
        )
    return found


def bill_rows(provider: str, days: Items) -> list[dict[str, object]]:
    """One row per day and line item. The '' item (costs not itemised) is always sent, 0 when
    none: it replaces the day's total row an earlier, unitemised sync stored, so a day is
    never counted twice."""
    return [
        {
            "provider": provider,
            "date": day.isoformat(),
            "billed_usd": money_text(amount),
            "source": "api",
            "line_item": item,
        }
        for day, items in sorted(days.items())
        for item, amount in sorted({"": Decimal(0), **items}.items())
    ]


@dataclass
class BillSync:
    settings: Settings
    nc: NATS | None
    retry: Retry = field(default_factory=Retry)
    today: Callable[[], date] = field(default=lambda: datetime.now(UTC).date())
    status: dict[str, Status] = field(default_factory=dict)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.providers = configured(self.settings)
        self.status = {p.name: Status() for p in self.providers}
        self.runs = 0

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        if not self.providers:
            log.info(
                "billing sync is idle: no provider admin key is set "
                "(COSTOBS_BILLING_OPENAI_ADMIN_KEY, COSTOBS_BILLING_ANTHROPIC_ADMIN_KEY)"
            )
            await self._stop.wait()
            return
        while not self._stop.is_set():
            started = time.monotonic()
            await self.sync_once()
            left = self.settings.billing_interval_s - (time.monotonic() - started)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=max(left, 0.0))

    async def sync_once(self) -> dict[str, Status]:
        """One run over every configured provider; each one's failure stays its own."""
        if not self.providers:
            return {}
        last = self.today()
        first = last - timedelta(days=self.settings.billing_lookback_days - 1)
        async with httpx.AsyncClient(timeout=self.settings.billing_timeout_s) as client:
            await asyncio.gather(*(self._sync(client, p, first, last) for p in self.providers))
        self.runs += 1
        return self.status

    async def _sync(
        self, client: httpx.AsyncClient, provider: Provider, first: date, last: date
    ) -> None:
        status = self.status[provider.name]
        status.last_attempt = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            days = await provider.fetch(
                client, provider.base_url, provider.key, first, last, self.retry
            )
            await self._publish(bill_rows(provider.name, days))
        except (ProviderError, ValueError, KeyError, TypeError) as exc:
            status.ok, status.error = False, str(exc)[:500]
            SYNCS.labels(provider.name, "failed").inc()
            log.error("billing sync of %s failed: %s", provider.name, exc)
            return
        except Exception as exc:
            status.ok, status.error = False, f"{type(exc).__name__}: {exc}"[:500]
            SYNCS.labels(provider.name, "failed").inc()
            log.exception("billing sync of %s failed", provider.name)
            return
        status.ok, status.error, status.days = True, "", len(days)
        status.last_success = status.last_attempt
        SYNCS.labels(provider.name, "ok").inc()
        LAST_SUCCESS.labels(provider.name).set(time.time())
        log.info("billing sync of %s: %d days %s..%s", provider.name, len(days), first, last)

    async def _publish(self, bills: list[dict[str, object]]) -> None:
        if not bills:
            return
        if self.nc is None:
            raise RuntimeError("billing sync has no NATS connection to publish through")
        publisher = Publisher(self.nc, max_inflight=4)
        for start in range(0, len(bills), 1000):
            await publish_bills(publisher, self.settings.billing_org, bills[start : start + 1000])

    def health(self) -> dict[str, Any]:
        return {
            "nats": bool(self.nc and self.nc.is_connected),
            "enabled": bool(self.providers),
            "providers": {name: vars(s) for name, s in self.status.items()},
        }
