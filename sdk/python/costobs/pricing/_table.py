"""``PriceTable`` and ``Quote``: the pure pricing engine (no I/O here)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ._compile import CompiledTable, Entry, Period, Tier
from ._dims import (
    COUNT_FIELDS,
    CTX,
    DECIMAL_FIELDS,
    IMAGES_KEY,
    PROMPT_FIELDS,
    TEXT_FIELDS,
    USAGE_FIELDS,
    ZERO,
    fmt,
    quantize,
)
from ._errors import PricingError
from ._match import Alias, Match, Matcher, ProviderIndex
from ._overrides import Overrides
from ._rates import Discount, RateSet, find_tier, region_multiplier, resolve

MAX_COUNT = 10**12
_MATCH_CACHE_SIZE = 8192
GATEWAY_PROVIDER = "openai_compatible"
"""The table's provider for calls through a gateway or any unknown OpenAI-style host
(``gateway_provider`` in sdk/providers.json): priced as the model it names."""
_VENDOR_PREFIXED = "bedrock"
"""The provider whose model ids are ``<vendor>.<model>`` (canonical model: the vendor's own)."""
_STANDARD_TIERS = frozenset({"", "default", "standard", "auto", "on_demand", "on-demand", "scale"})
_SCALE18 = 18


_ATTO_PER_USD = 10**_SCALE18


def _from_atto(value: int) -> Decimal:
    """1e-18 USD units -> Decimal, without trailing zeros or exponent notation."""
    whole, frac = divmod(value, _ATTO_PER_USD)
    if not frac:
        return Decimal(whole)
    return Decimal(value).scaleb(-_SCALE18, CTX).normalize(CTX)


class Quote:
    """The price of one event. ``cost_usd`` is exact; ``breakdown`` sums to it."""

    __slots__ = (
        "_parts",
        "_rates",
        "canonical_model",
        "cost_usd",
        "entry",
        "model",
        "provider",
        "unpriced",
        "unrated",
        "version",
    )

    def __init__(
        self,
        cost_usd: Decimal,
        entry: str | None,
        version: str,
        provider: str,
        model: str,
        parts: Sequence[tuple[str, int]] = (),
        rates: RateSet | None = None,
        unrated: tuple[str, ...] = (),
        canonical_model: str | None = None,
    ) -> None:
        self.cost_usd = cost_usd
        self.entry = entry
        self.version = version
        self.provider = provider
        self.model = model
        self.canonical_model = canonical_model or model
        """The model across clouds and spellings: the matched entry's canonical ``model``
        (``claude-sonnet-4-5`` for Anthropic, Bedrock profiles, Vertex ``@`` versions, Azure
        deployments through aliases), else the model as sent."""
        self.unpriced = entry is None
        self.unrated = unrated
        """Usage fields with a non-zero count that the matched entry has no rate for."""
        self._parts = parts
        self._rates = rates

    @property
    def breakdown(self) -> dict[str, Decimal]:
        """Per-dimension cost, keyed by rate key (``input``, ``cached_input``, ``output``…)."""
        return {key: _from_atto(atto) for key, atto in self._parts}

    @property
    def breakdown_atto(self) -> Sequence[tuple[str, int]]:
        """``breakdown`` in whole 1e-18 USD units (exact integers; the writer's hot path)."""
        return self._parts

    @property
    def service_tier(self) -> str | None:
        """The tier whose rates were applied (``None`` = standard)."""
        return self._rates.tier if self._rates is not None else None

    @property
    def long_context(self) -> bool:
        return self._rates.long_context if self._rates is not None else False

    def to_dict(self) -> dict[str, Any]:
        rates = self._rates
        result: dict[str, Any] = {
            "cost_usd": fmt(self.cost_usd),
            "unpriced": self.unpriced,
            "entry": self.entry,
            "version": self.version,
            "provider": self.provider,
            "model": self.model,
            "canonical_model": self.canonical_model,
            "breakdown": {key: fmt(value) for key, value in self.breakdown.items()},
        }
        if rates is not None:
            result.update(
                service_tier=rates.tier,
                long_context=rates.long_context,
                region_key=rates.region_key,
                region_multiplier=fmt(rates.region_multiplier),
                discount=None
                if rates.discount is None
                else {"label": rates.discount.label, "multiplier": fmt(rates.discount.multiplier)},
                rates=rates.shown(),
            )
        if self.unrated:
            result["unrated"] = list(self.unrated)
        return result

    def __repr__(self) -> str:
        return (
            f"Quote(cost_usd={fmt(self.cost_usd)!s}, entry={self.entry!r}, "
            f"unpriced={self.unpriced}, version={self.version!r})"
        )


def _count(key: str, value: object) -> int:
    if type(value) is int:
        count = value
    elif isinstance(value, bool):
        raise PricingError(f"usage field {key!r} must be a count, not {value!r}")
    elif isinstance(value, int | Decimal | str):
        try:
            number = Decimal(value) if not isinstance(value, int) else Decimal(int(value))
        except InvalidOperation:
            raise PricingError(f"usage field {key!r} must be a count, not {value!r}") from None
        if not number.is_finite() or number != number.to_integral_value():
            raise PricingError(f"usage field {key!r} must be a whole count, not {value!r}")
        count = int(number)
    else:
        raise PricingError(
            f"usage field {key!r} must be an int, Decimal or decimal string, not "
            f"{type(value).__name__} (floats are refused: they are not exact)"
        )
    if count < 0 or count > MAX_COUNT:
        raise PricingError(f"usage field {key!r} out of range 0..1e12: {count}")
    return count


def _seconds(key: str, value: object) -> Decimal:
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int | str) and not isinstance(value, bool):
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise PricingError(f"usage field {key!r} must be a decimal, not {value!r}") from None
    else:
        raise PricingError(
            f"usage field {key!r} must be a Decimal, int or decimal string, not "
            f"{type(value).__name__}"
        )
    if not number.is_finite() or number < 0:
        raise PricingError(f"usage field {key!r} must be a finite, non-negative decimal")
    return number


def parse_usage(usage: Mapping[str, object]) -> tuple[dict[str, Any], str | None, str | None]:
    """Validate usage; return non-zero quantities plus image size and quality."""
    values: dict[str, Any] = {}
    size = quality = None
    for key, value in usage.items():
        if type(value) is int and key in COUNT_FIELDS:  # the common case, kept cheap
            if value:
                if value < 0 or value > MAX_COUNT:
                    raise PricingError(f"usage field {key!r} out of range 0..1e12: {value}")
                values[key] = value
            continue
        if value is None or value == 0:
            if key not in USAGE_FIELDS:
                raise PricingError(f"unknown usage field {key!r}")
            continue
        if key in COUNT_FIELDS:
            values[key] = _count(key, value)
        elif key in DECIMAL_FIELDS:
            seconds = _seconds(key, value)
            if seconds:
                values[key] = seconds
        elif key in TEXT_FIELDS:
            if not isinstance(value, str):
                raise PricingError(f"usage field {key!r} must be a string")
            if key == "image_size":
                size = value.strip().lower()
            else:
                quality = value.strip().lower()
        else:
            raise PricingError(
                f"unknown usage field {key!r} (known: {', '.join(sorted(USAGE_FIELDS))})"
            )
    if values.get("reasoning_tokens", 0) > values.get("output_tokens", 0):
        raise PricingError("reasoning_tokens is part of output_tokens and cannot exceed it")
    return values, size, quality


def image_price_key(prices: Mapping[str, object], size: str | None, quality: str | None) -> str:
    if size and quality and f"{size}/{quality}" in prices:
        return f"{size}/{quality}"
    if size and size in prices:
        return size
    if quality and quality in prices:
        return quality
    return "*"


@dataclass(slots=True)  # not frozen: a frozen init costs ~0.5 µs a quote
class Terms:
    """What prices one call, before its usage is known: the entry matched, the price period
    in force, the requested service tier (``None`` = standard), the region key and the
    discount. ``quote`` and ``explain`` both start from it (``PriceTable._terms``)."""

    match: Match
    entry: Entry
    period: Period
    tier_name: str | None
    region_key: str | None
    discount: Discount | None


class PriceTable:
    """A compiled, immutable price table. Build it with ``load_price_table``."""

    def __init__(
        self,
        compiled: CompiledTable,
        *,
        custom_entries: Sequence[Entry] = (),
        aliases: Mapping[tuple[str, str], Alias] | None = None,
        discounts: Sequence[Discount] = (),
        overrides: tuple[Mapping[str, Any], ...] = (),
    ) -> None:
        self._compiled = compiled
        self.version: str = compiled.version
        self._custom = tuple(custom_entries)
        self._aliases = dict(aliases or {})
        self._discounts = tuple(discounts)
        self._overrides = overrides
        self._providers = compiled.providers
        indexes: dict[str, ProviderIndex] = {}
        self._entries: dict[str, Entry] = {}
        for entry in (*compiled.entries, *self._custom):
            indexes.setdefault(entry.provider, ProviderIndex()).add(entry)
            self._entries[entry.id] = entry
        for index in indexes.values():
            index.finish()
        self._matcher = Matcher(self._providers, indexes, self._aliases)
        self._match_cache: dict[str, dict[str, Match]] = {}
        self._cache_size = 0
        self._rate_cache: dict[tuple[Any, ...], RateSet] = {}
        self._canonical: dict[str, str] = {}

    # -- introspection -------------------------------------------------------------

    @property
    def entries(self) -> tuple[str, ...]:
        """Ids of every entry, custom ones included."""
        return tuple(self._entries)

    @property
    def providers(self) -> tuple[str, ...]:
        return tuple(self._providers)

    def __repr__(self) -> str:
        return f"PriceTable(version={self.version!r}, entries={len(self._entries)})"

    # -- matching ------------------------------------------------------------------

    def match(self, provider: str, model: str) -> Match:
        by_model = self._match_cache.get(provider)
        if by_model is not None:
            found = by_model.get(model)
            if found is not None:
                return found
        result = self._matcher.match(provider, model)
        if self._cache_size >= _MATCH_CACHE_SIZE:
            self._match_cache.clear()
            self._cache_size = 0
        self._match_cache.setdefault(provider, {})[model] = result
        self._cache_size += 1
        return result

    def _period(self, entry: Entry, at: datetime | None) -> Period:
        periods = entry.periods
        if len(periods) == 1:
            return periods[0]
        if at is None:
            at = datetime.now(UTC)
        i = bisect_right(periods, at, key=lambda p: p.start)
        return periods[max(i - 1, 0)]

    def _discount(self, match: Match, entry: Entry, at: datetime | None) -> Discount | None:
        best: Discount | None = None
        best_rank = -1
        when = at if at is not None else datetime.now(UTC)
        for d in self._discounts:
            if d.start is not None and when < d.start:
                continue
            if d.end is not None and when >= d.end:
                continue
            if d.provider is not None and d.provider not in (match.provider, entry.provider):
                continue
            if d.model is not None and d.model not in (entry.id.lower(), entry.model.lower()):
                continue
            rank = (2 if d.model is not None else 0) + (1 if d.provider is not None else 0)
            if rank >= best_rank:
                best, best_rank = d, rank
        return best

    # -- resolving: the one step quote and explain share -----------------------------

    def _terms(
        self,
        match: Match,
        at: datetime | None,
        service_tier: str | None = None,
        batch: bool = False,
        region: str | None = None,
    ) -> Terms | None:
        """The terms of a call that matched ``match`` (``None`` when it matched no entry):
        the period in force at ``at`` (now when ``None``), the tier (``batch`` wins over
        ``service_tier``; the standard tier's names mean none), the region key (a Bedrock geo
        prefix wins over ``region``, else the provider's default) and the org's discount."""
        entry = match.entry
        if entry is None:
            return None
        periods = entry.periods
        period = periods[0] if len(periods) == 1 else self._period(entry, at)
        tier_name = "batch" if batch else (service_tier.lower() if service_tier else None)
        if tier_name in _STANDARD_TIERS:
            tier_name = None
        region_key = match.geo or (region.lower() if region else None)
        if region_key is None:
            prov = self._providers.get(match.provider)
            region_key = prov.default_region if prov is not None else None
        discount = self._discount(match, entry, at) if self._discounts else None
        return Terms(match, entry, period, tier_name, region_key, discount)

    def _rates_for(self, terms: Terms, long_context: bool) -> RateSet:
        """The rates of ``terms`` (cached: a table's rates never change)."""
        key = (
            id(terms.period),
            terms.tier_name,
            long_context,
            terms.match.provider,
            terms.region_key,
            id(terms.discount),
        )
        rates = self._rate_cache.get(key)
        if rates is None:
            rates = resolve(
                terms.entry,
                terms.period,
                self._providers,
                tier=self._tier(terms),
                long_context=long_context,
                request_provider=terms.match.provider,
                region_key=terms.region_key,
                discount=terms.discount,
            )
            self._rate_cache[key] = rates
        return rates

    def _tier(self, terms: Terms) -> Tier | None:
        return find_tier(
            terms.tier_name, terms.period, terms.entry, self._providers, terms.match.provider
        )

    # -- quoting -------------------------------------------------------------------

    def quote(
        self,
        provider: str,
        model: str,
        usage: Mapping[str, object],
        at: datetime | None = None,
        service_tier: str | None = None,
        batch: bool = False,
        region: str | None = None,
    ) -> Quote:
        """Price one event. Never raises for an unknown model (it is $0 and ``unpriced``);
        raises ``PricingError`` for an unknown usage field or an invalid count."""
        values, size, quality = parse_usage(usage)
        if at is not None and at.tzinfo is None:
            raise PricingError("'at' must be timezone-aware (e.g. datetime.now(UTC))")
        by_model = self._match_cache.get(provider)
        match = by_model.get(model) if by_model is not None else None
        if match is None:
            match = self.match(provider, model)
        terms = self._terms(match, at, service_tier, batch, region)
        if terms is None:
            return Quote(ZERO, None, self.version, provider, model)
        entry = terms.entry
        lc = terms.period.long_context
        long_context = False
        if lc is not None:
            prompt = 0
            for name, qty in values.items():
                if name in PROMPT_FIELDS:
                    prompt += qty
            long_context = prompt > lc.above
        rates = self._rates_for(terms, long_context)
        parts: list[tuple[str, int]] = []
        total = 0
        by_field = rates.by_field
        unrated: list[str] | None = None
        for field, qty in values.items():
            dim = by_field.get(field)
            if dim is None:
                if field not in rates.fields:
                    unrated = [*(unrated or ()), field]
                continue
            if dim.split:
                qty -= values.get("reasoning_tokens", 0)
                if not qty:
                    continue
            atto = dim.atto
            if atto is not None and type(qty) is int:
                amount = qty * atto
            else:
                exact = CTX.multiply(qty, dim.rate)
                if dim.divisor != 1:
                    exact = CTX.divide(exact, dim.divisor)
                amount = int(quantize(exact).scaleb(_SCALE18, CTX))
            parts.append((dim.key, amount))
            total += amount
        images = values.get(IMAGES_KEY)
        if images and rates.images is not None and rates.images_atto is not None:
            pkey = image_price_key(rates.images, size, quality)
            atto = rates.images_atto[pkey]
            if atto is None:
                exact = CTX.multiply(images, rates.images[pkey])
                amount = int(quantize(exact).scaleb(_SCALE18, CTX))
            else:
                amount = images * atto
            parts.append((IMAGES_KEY, amount))
            total += amount
        return Quote(
            _from_atto(total),
            entry.id,
            self.version,
            provider,
            model,
            parts,
            rates,
            tuple(sorted(unrated)) if unrated else (),
            self.canonical_model(entry),
        )

    def canonical_model(self, entry: Entry) -> str:
        """An entry's model across clouds: its ``model``; for a Bedrock entry
        (``<vendor>.<model>``) the vendor's own model when the vendor's API has an entry of
        exactly that name (``anthropic.claude-sonnet-4-5`` is ``claude-sonnet-4-5``)."""
        found = self._canonical.get(entry.id)
        if found is None:
            found = entry.model
            if entry.provider == _VENDOR_PREFIXED and "." in found:
                name = found.split(".", 1)[1]
                direct = self.match(GATEWAY_PROVIDER, name).entry
                if direct is not None and direct.model == name:
                    found = name
            self._canonical[entry.id] = found
        return found

    def quote_call(
        self,
        provider: str,
        model: str,
        usage: Mapping[str, object],
        at: datetime | None = None,
        service_tier: str | None = None,
        batch: bool = False,
        region: str | None = None,
        *,
        gateway: bool = False,
    ) -> Quote:
        """Price one observed call and say under which provider to record it.

        A call through a gateway (``gateway=True``: the event names a ``gateway_host``) or
        with the gateway provider ``openai_compatible`` is priced as the model it names, as
        a direct call to the provider of the entry matched (that provider's regions and tiers,
        the Bedrock geo prefix as region key), so gateway and direct cost the same to the
        digit; ``Quote.provider`` is then that provider and ``Quote.model`` the model as
        sent. Any other call is ``quote(...)`` unchanged. The SDKs and the writer both record
        ``Quote.provider`` and ``Quote.canonical_model``."""
        if gateway or self._matcher.provider_name(provider) == GATEWAY_PROVIDER:
            match = self.match(GATEWAY_PROVIDER, model)
            entry = match.entry
            if entry is not None:
                region = match.geo or region
                q = self.quote(entry.provider, entry.model, usage, at, service_tier, batch, region)
                if q.unpriced:  # an entry id its own provider does not match back: price it here
                    q = self.quote(GATEWAY_PROVIDER, model, usage, at, service_tier, batch, region)
                    q.provider = entry.provider
                q.model = model
                return q
        return self.quote(provider, model, usage, at, service_tier, batch, region)

    # -- explain -------------------------------------------------------------------

    def explain(
        self,
        provider: str,
        model: str,
        at: datetime | None = None,
        *,
        service_tier: str | None = None,
        batch: bool = False,
        region: str | None = None,
    ) -> dict[str, Any]:
        """Which entry matches, the steps that led there, and the rates in force at ``at``."""
        if at is not None and at.tzinfo is None:
            raise PricingError("'at' must be timezone-aware")
        match = self._matcher.match(provider, model)
        result: dict[str, Any] = {
            "provider": provider,
            "model": model,
            "version": self.version,
            "matched": match.entry is not None,
            "entry": None,
            "steps": list(match.steps),
        }
        entry = match.entry
        if entry is None:
            return result
        when = at if at is not None else datetime.now(UTC)
        terms = self._terms(match, when, service_tier, batch, region)
        assert terms is not None  # the entry matched
        period, region_key, discount = terms.period, terms.region_key, terms.discount
        tier = self._tier(terms)
        standard = self._rates_for(terms, long_context=False)
        tiers: dict[str, Any] = {}
        for source in (
            self._providers[entry.provider].tiers if entry.provider in self._providers else {},
            self._providers[match.provider].tiers if match.provider in self._providers else {},
            entry.tiers,
            period.tiers,
        ):
            for name, t in source.items():
                tiers[name] = (
                    {"multiplier": fmt(t.multiplier)}
                    if t.multiplier is not None
                    else {"rates": {k: fmt(v) for k, v in t.rates.items()}}
                )
        result.update(
            entry=entry.id,
            entry_provider=entry.provider,
            entry_model=entry.model,
            canonical_model=self.canonical_model(entry),
            source=entry.source,
            notes=entry.notes,
            unverified=entry.unverified,
            custom=entry.custom,
            at=when.isoformat(),
            effective_from=period.start.isoformat(),
            price_history=[p.start.date().isoformat() for p in entry.periods],
            service_tier=tier.name if tier is not None else None,
            service_tier_requested=terms.tier_name,
            region_key=region_key,
            region_multiplier=fmt(
                region_multiplier(entry, self._providers, match.provider, region_key)
            ),
            discount=None
            if discount is None
            else {"label": discount.label, "multiplier": fmt(discount.multiplier)},
            rates=standard.shown(),
            units={
                "tokens": "USD per 1M",
                "audio_per_*": "USD per second/minute/hour",
                "characters_per_*": "USD per 1k/1M characters",
                "*_per_1k": "USD per 1k requests",
                "images": "USD per image",
            },
            available_tiers=tiers,
        )
        if period.long_context is not None:
            lc = self._rates_for(terms, long_context=True)
            result["long_context"] = {
                "above_prompt_tokens": period.long_context.above,
                "rates": lc.shown(),
            }
        return result

    # -- overrides -------------------------------------------------------------------

    def with_overrides(self, overrides: Sequence[Mapping[str, Any]]) -> PriceTable:
        """A new table with an org's overrides applied (this one is unchanged).

        Each override is a mapping with ``kind``:

        * ``"discount"``: ``{"multiplier": "0.8", "provider"?: "openai", "model"?: "gpt-4o"
          or an entry id, "from"?: ISO, "until"?: ISO}`` — scales every rate of the
          matching entries; the most specific one (model > provider > all) applies;
        * ``"entry"`` (or no kind but ``prices``): a custom entry in the YAML entry shape;
          same id replaces a table entry, otherwise it is added and wins matching;
        * ``"alias"``: ``{"provider": "azure", "name": "prod-gpt4o", "model": "gpt-4o",
          "target_provider"?: "openai"}`` — e.g. Azure deployment names.
        """
        parsed = Overrides(list(self._custom), dict(self._aliases), list(self._discounts))
        parsed.add(overrides, self._matcher.provider_name)
        return PriceTable(
            self._compiled,
            custom_entries=parsed.custom,
            aliases=parsed.aliases,
            discounts=parsed.discounts,
            overrides=(*self._overrides, *overrides),
        )

    def with_aliases(self, provider: str, aliases: Mapping[str, str]) -> PriceTable:
        """Map deployment names to models, e.g. ``with_aliases("azure", {"prod-4o": "gpt-4o"})``.

        A value ``"openai:gpt-4o"`` also switches provider."""
        overrides: list[dict[str, Any]] = []
        for name, target in aliases.items():
            head, sep, tail = target.partition(":")
            override: dict[str, Any] = {"kind": "alias", "provider": provider, "name": name}
            if sep and self._matcher.provider_name(head) in self._providers:
                override.update(model=tail, target_provider=head)
            else:
                override["model"] = target
            overrides.append(override)
        return self.with_overrides(overrides)
