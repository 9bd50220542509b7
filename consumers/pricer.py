"""The writer's pricing: the price table plus each org's overrides, refreshed periodically."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from costobs.pricing import PriceTable, Quote, load_price_table

OverridesSource = Callable[[str], Sequence[Mapping[str, Any]]]
"""org_id → that org's override entries (from the metadata DB)."""


class Pricer:
    def __init__(
        self,
        table: PriceTable | None = None,
        overrides: OverridesSource | None = None,
        refresh_seconds: float = 30.0,
    ) -> None:
        self.table = table or load_price_table()
        self._overrides = overrides
        self._refresh = refresh_seconds
        self._per_org: dict[str, tuple[float, PriceTable]] = {}

    def table_for(self, org_id: str) -> PriceTable:
        if self._overrides is None:
            return self.table
        now = time.monotonic()
        cached = self._per_org.get(org_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        entries = self._overrides(org_id)
        table = self.table.with_overrides(entries) if entries else self.table
        self._per_org[org_id] = (now + self._refresh, table)
        return table

    def __call__(self, org_id: str, event: Mapping[str, Any], at: datetime) -> Quote:
        return self.table_for(org_id).quote_call(
            gateway=bool(event.get("gateway_host")),
            provider=event["provider"],
            model=event["model"],
            usage=event.get("usage") or {},
            at=at,
            service_tier=event.get("service_tier"),
            batch=bool(event.get("batch", False)),
            region=event.get("region"),
        )
