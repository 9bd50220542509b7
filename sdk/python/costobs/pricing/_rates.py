"""Resolve the rates in force for one (entry, period, tier, context, region, discount).

Order of application, documented in pricing/README.md:

1. explicit rates of the price period;
2. long-context rates replace them when the prompt exceeds ``long_context.above``;
3. a service tier with explicit ``rates`` replaces them (its ``long_context`` rates when the
   request is long-context);
4. ``derive`` rules fill rates not set explicitly (e.g. Anthropic cache reads 0.1x input,
   5-minute writes 1.25x, 1-hour writes 2x) from the rates after steps 1-3;
5. a service tier with a ``multiplier`` (batch 0.5, flex 0.5, priority …) scales the token
   rates; per-image, per-second, per-character and per-request fees are not scaled;
6. the regional multiplier (Bedrock geo/in-region 1.1 over global, …) scales every rate;
7. an org's negotiated-discount multiplier scales every rate.

The result is precomputed once per combination and cached on the period.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ._compile import Derive, Entry, Period, Provider, Tier
from ._dims import CTX, IMAGES_KEY, ONE, PLACES, RATE_KEYS, TOKEN_RATE_KEYS

_ATTO = Decimal(10) ** PLACES


@dataclass(frozen=True, slots=True)
class Dim:
    key: str
    field: str
    rate: Decimal
    """Effective rate per published unit (per 1M tokens, per minute, …)."""
    divisor: int
    atto: int | None
    """Exact price of one unit in 1e-18 USD when that is an integer (the fast path)."""
    split: bool = False
    """Output with a distinct reasoning rate: charge output_tokens - reasoning_tokens."""


@dataclass(frozen=True, slots=True)
class Discount:
    multiplier: Decimal
    provider: str | None
    model: str | None
    start: datetime | None
    end: datetime | None
    label: str


@dataclass(frozen=True, slots=True)
class RateSet:
    dims: tuple[Dim, ...]
    by_field: Mapping[str, Dim]
    images: Mapping[str, Decimal] | None
    images_atto: Mapping[str, int | None] | None
    split_reasoning: bool
    fields: frozenset[str]
    tier: str | None
    tier_multiplier: Decimal | None
    long_context: bool
    region_key: str | None
    region_multiplier: Decimal
    discount: Discount | None

    def shown(self) -> dict[str, str]:
        from ._dims import fmt

        shown = {d.key: fmt(d.rate) for d in self.dims}
        if self.images is not None:
            for key, value in self.images.items():
                shown[f"images[{key}]"] = fmt(value)
        return shown


def _atto(per_unit: Decimal) -> int | None:
    scaled = CTX.multiply(per_unit, _ATTO)
    integral = scaled.to_integral_value(context=CTX)
    return int(integral) if integral == scaled else None


def find_tier(
    name: str | None,
    period: Period,
    entry: Entry,
    providers: Mapping[str, Provider],
    request_provider: str,
) -> Tier | None:
    if name is None:
        return None
    for tiers in (
        period.tiers,
        entry.tiers,
        providers[request_provider].tiers if request_provider in providers else {},
        providers[entry.provider].tiers if entry.provider in providers else {},
    ):
        tier = tiers.get(name)
        if tier is not None:
            return tier
    return None


def region_multiplier(
    entry: Entry, providers: Mapping[str, Provider], request_provider: str, region_key: str | None
) -> Decimal:
    table = entry.regions.get(request_provider)
    if table is None:
        prov = providers.get(request_provider)
        table = prov.regions if prov is not None else {}
    if not table or region_key is None:
        return ONE
    return table.get(region_key, table.get("*", ONE))


def resolve(
    entry: Entry,
    period: Period,
    providers: Mapping[str, Provider],
    *,
    tier: Tier | None,
    long_context: bool,
    request_provider: str,
    region_key: str | None,
    discount: Discount | None,
) -> RateSet:
    rates: dict[str, Decimal] = dict(period.rates)
    images = dict(period.images) if period.images is not None else None
    lc = period.long_context
    if long_context and lc is not None:
        rates.update(lc.rates)
        if lc.images is not None:
            images = dict(lc.images)
    if tier is not None and tier.multiplier is None:
        rates.update(tier.long_context if long_context and tier.long_context else tier.rates)
        if tier.images is not None:
            images = dict(tier.images)
    derive: dict[str, Derive] = {}
    owner = providers.get(entry.provider)
    if owner is not None:
        derive.update(owner.derive)
    derive.update(entry.derive)
    for key, rule in derive.items():
        if key not in rates and rule.source in rates:
            rates[key] = CTX.multiply(rates[rule.source], rule.multiplier)
    token_mult = tier.multiplier if tier is not None and tier.multiplier is not None else ONE
    region_mult = region_multiplier(entry, providers, request_provider, region_key)
    all_mult = CTX.multiply(region_mult, discount.multiplier if discount is not None else ONE)
    dims: list[Dim] = []
    for key in RATE_KEYS:  # a fixed, documented order for breakdowns
        if key not in rates:
            continue
        field, unit = RATE_KEYS[key]
        rate = rates[key]
        if key in TOKEN_RATE_KEYS:
            rate = CTX.multiply(rate, token_mult)
        rate = CTX.multiply(rate, all_mult)
        exact_unit = unit in (1, 1_000, 1_000_000)
        atto = _atto(CTX.divide(rate, unit)) if exact_unit else None
        dims.append(Dim(key, field, rate, unit, atto, key == "output" and "reasoning" in rates))
    images_atto: dict[str, int | None] | None = None
    if images is not None:
        images = {k: CTX.multiply(v, all_mult) for k, v in images.items()}
        images_atto = {k: _atto(v) for k, v in images.items()}
    fields = {d.field for d in dims} | {"reasoning_tokens", "image_size", "image_quality"}
    if images is not None:
        fields.add(IMAGES_KEY)
    return RateSet(
        dims=tuple(dims),
        by_field={d.field: d for d in dims},
        images=images,
        images_atto=images_atto,
        split_reasoning="reasoning" in rates,
        fields=frozenset(fields),
        tier=tier.name if tier is not None else None,
        tier_multiplier=tier.multiplier if tier is not None else None,
        long_context=long_context and lc is not None,
        region_key=region_key,
        region_multiplier=region_mult,
        discount=discount,
    )
