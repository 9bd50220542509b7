"""Turn the raw table (parsed YAML/JSON) into checked, precomputed structures.

Validation here needs no third-party package: every problem raises ``PricingError``
naming the entry id and the field path, e.g. ``entry 'openai/gpt-4o', field
'prices[0].input': must be a decimal string such as "2.50"``. The server-side
``costobs pricing validate`` additionally checks the JSON Schema (``prices.schema.json``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ._dims import IMAGES_KEY, RATE_KEYS
from ._errors import PricingError

_DECIMAL_RE = re.compile(r"^\d{1,12}(\.\d{1,18})?$")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_.\-]*/[A-Za-z0-9_.:@/\-]+$")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")

ENTRY_KEYS = frozenset(
    {
        "id",
        "provider",
        "model",
        "aliases",
        "prefixes",
        "source",
        "notes",
        "unverified",
        "prices",
        "tiers",
        "regions",
        "derive",
    }
)
PERIOD_KEYS = frozenset(RATE_KEYS) | {"from", IMAGES_KEY, "long_context", "tiers", "notes"}
TIER_KEYS = frozenset({"multiplier", "rates", "long_context", "notes"})
PROVIDER_KEYS = frozenset(
    {
        "source",
        "aliases",
        "strip_prefixes",
        "strip_suffixes",
        "geo_prefixes",
        "default_region",
        "regions",
        "tiers",
        "derive",
        "delegate",
        "notes",
    }
)
DELEGATE_KEYS = frozenset({"prefix", "to", "keep_prefix", "dots_to_dashes"})
TOP_KEYS = frozenset({"version", "currency", "notes", "providers", "entries"})


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    multiplier: Decimal | None
    rates: Mapping[str, Decimal]
    images: Mapping[str, Decimal] | None
    long_context: Mapping[str, Decimal] | None


@dataclass(frozen=True, slots=True)
class LongContext:
    above: int
    rates: Mapping[str, Decimal]
    images: Mapping[str, Decimal] | None


@dataclass(frozen=True, slots=True)
class Derive:
    source: str
    multiplier: Decimal


@dataclass(slots=True)
class Period:
    start: datetime
    rates: Mapping[str, Decimal]
    images: Mapping[str, Decimal] | None
    long_context: LongContext | None
    tiers: Mapping[str, Tier]


@dataclass(slots=True)
class Entry:
    id: str
    provider: str
    model: str
    aliases: tuple[str, ...]
    prefixes: tuple[str, ...]
    source: str
    notes: str | None
    periods: tuple[Period, ...]
    tiers: Mapping[str, Tier]
    regions: Mapping[str, Mapping[str, Decimal]]
    derive: Mapping[str, Derive]
    custom: bool = False
    # Why this entry's rates are not confirmed against the provider's page (None = confirmed).
    unverified: str | None = None


@dataclass(frozen=True, slots=True)
class Delegate:
    prefix: str | None
    to: str
    keep_prefix: bool
    dots_to_dashes: bool


@dataclass(slots=True)
class Provider:
    name: str
    source: str | None = None
    aliases: tuple[str, ...] = ()
    strip_prefixes: tuple[str, ...] = ()
    strip_suffixes: tuple[str, ...] = ()
    geo_prefixes: tuple[str, ...] = ()
    default_region: str | None = None
    regions: Mapping[str, Decimal] = field(default_factory=dict)
    tiers: Mapping[str, Tier] = field(default_factory=dict)
    derive: Mapping[str, Derive] = field(default_factory=dict)
    delegate: tuple[Delegate, ...] = ()


# --- small checked readers -------------------------------------------------------------


class _Ctx:
    """Where we are in the document, for error messages."""

    __slots__ = ("entry",)

    def __init__(self, entry: str | None) -> None:
        self.entry = entry

    def fail(self, path: str, message: str) -> PricingError:
        return PricingError(message, entry=self.entry, field=path)


def _mapping(ctx: _Ctx, path: str, value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ctx.fail(path, f"must be a mapping, not {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise ctx.fail(path, f"keys must be strings, found {key!r}")
    return value


def _unknown(ctx: _Ctx, path: str, value: Mapping[str, Any], allowed: frozenset[str]) -> None:
    extra = sorted(set(value) - allowed)
    if extra:
        where = f"{path}.{extra[0]}" if path else extra[0]
        raise ctx.fail(where, f"unknown field (allowed: {', '.join(sorted(allowed))})")


def _str(ctx: _Ctx, path: str, value: object, *, pattern: re.Pattern[str] | None = None) -> str:
    if not isinstance(value, str) or not value:
        raise ctx.fail(path, f"must be a non-empty string, not {value!r}")
    if pattern is not None and not pattern.match(value):
        raise ctx.fail(path, f"{value!r} does not match {pattern.pattern}")
    return value


def _str_list(ctx: _Ctx, path: str, value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ctx.fail(path, "must be a list of strings")
    return tuple(_str(ctx, f"{path}[{i}]", item) for i, item in enumerate(value))


def decimal_value(ctx: _Ctx, path: str, value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str):
        hint = (
            " (quote it in YAML: a float would lose exactness)"
            if isinstance(value, int | float)
            else ""
        )
        raise ctx.fail(path, f'must be a decimal string such as "2.50", not {value!r}{hint}')
    if not _DECIMAL_RE.match(value):
        raise ctx.fail(path, f'must be a non-negative decimal string such as "2.50", not {value!r}')
    try:
        return Decimal(value)
    except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
        raise ctx.fail(path, f"not a decimal: {value!r}") from None


def _timestamp(ctx: _Ctx, path: str, value: object) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ctx.fail(path, f"must be an ISO date or timestamp, not {value!r}") from None
    else:
        raise ctx.fail(path, f"must be an ISO date or timestamp, not {value!r}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _rates(
    ctx: _Ctx, path: str, raw: Mapping[str, Any], *, skip: frozenset[str]
) -> dict[str, Decimal]:
    rates: dict[str, Decimal] = {}
    for key, value in raw.items():
        if key in skip:
            continue
        if key not in RATE_KEYS:
            raise ctx.fail(f"{path}.{key}", f"unknown rate (known: {', '.join(RATE_KEYS)})")
        rates[key] = decimal_value(ctx, f"{path}.{key}", value)
    audio = [k for k in rates if k.startswith("audio_per_")]
    if len(audio) > 1:
        raise ctx.fail(path, f"more than one audio-seconds rate: {', '.join(audio)}")
    chars = [k for k in rates if k.startswith("characters_per_")]
    if len(chars) > 1:
        raise ctx.fail(path, f"more than one characters rate: {', '.join(chars)}")
    requests = [k for k in rates if k in ("requests_per_1k", "per_request")]
    if len(requests) > 1:
        raise ctx.fail(path, "both requests_per_1k and per_request")
    return rates


def _images(ctx: _Ctx, path: str, raw: object) -> dict[str, Decimal] | None:
    if raw is None:
        return None
    table = _mapping(ctx, path, raw)
    if "*" not in table:
        raise ctx.fail(path, 'needs a "*" price used when size/quality match no other key')
    return {k.lower(): decimal_value(ctx, f"{path}.{k}", v) for k, v in table.items()}


def _multiplier(ctx: _Ctx, path: str, value: object) -> Decimal:
    result = decimal_value(ctx, path, value)
    if result == 0:
        raise ctx.fail(path, "a multiplier of 0 is not allowed (use a $0 entry instead)")
    return result


_LC_SKIP = frozenset({"above", IMAGES_KEY})


def _long_context(ctx: _Ctx, path: str, raw: object) -> LongContext | None:
    if raw is None:
        return None
    table = _mapping(ctx, path, raw)
    _unknown(ctx, path, table, frozenset(RATE_KEYS) | _LC_SKIP)
    above = table.get("above")
    if isinstance(above, bool) or not isinstance(above, int) or above <= 0:
        raise ctx.fail(f"{path}.above", f"must be a positive integer token count, not {above!r}")
    return LongContext(
        above=above,
        rates=_rates(ctx, path, table, skip=_LC_SKIP),
        images=_images(ctx, f"{path}.images", table.get(IMAGES_KEY)),
    )


def _tiers(ctx: _Ctx, path: str, raw: object) -> dict[str, Tier]:
    if raw is None:
        return {}
    tiers: dict[str, Tier] = {}
    for name, value in _mapping(ctx, path, raw).items():
        tpath = f"{path}.{name}"
        _str(ctx, tpath, name, pattern=_NAME_RE)
        table = _mapping(ctx, tpath, value)
        _unknown(ctx, tpath, table, TIER_KEYS)
        multiplier = table.get("multiplier")
        rates_raw = table.get("rates")
        if (multiplier is None) == (rates_raw is None):
            raise ctx.fail(tpath, "needs exactly one of 'multiplier' or 'rates'")
        rates: dict[str, Decimal] = {}
        images = None
        if rates_raw is not None:
            rtable = _mapping(ctx, f"{tpath}.rates", rates_raw)
            rates = _rates(ctx, f"{tpath}.rates", rtable, skip=frozenset({IMAGES_KEY}))
            images = _images(ctx, f"{tpath}.rates.images", rtable.get(IMAGES_KEY))
        lc = None
        if table.get("long_context") is not None:
            lpath = f"{tpath}.long_context"
            ltable = _mapping(ctx, lpath, table["long_context"])
            lc = _rates(ctx, lpath, ltable, skip=frozenset())
        tiers[name] = Tier(
            name=name,
            multiplier=None
            if multiplier is None
            else _multiplier(ctx, f"{tpath}.multiplier", multiplier),
            rates=rates,
            images=images,
            long_context=lc,
        )
    return tiers


def _derive(ctx: _Ctx, path: str, raw: object) -> dict[str, Derive]:
    if raw is None:
        return {}
    derive: dict[str, Derive] = {}
    for key, value in _mapping(ctx, path, raw).items():
        dpath = f"{path}.{key}"
        if key not in RATE_KEYS:
            raise ctx.fail(dpath, "unknown rate")
        table = _mapping(ctx, dpath, value)
        _unknown(ctx, dpath, table, frozenset({"from", "multiplier"}))
        source = _str(ctx, f"{dpath}.from", table.get("from"))
        if source not in RATE_KEYS:
            raise ctx.fail(f"{dpath}.from", f"unknown rate {source!r}")
        if isinstance(raw, Mapping) and source in raw:
            raise ctx.fail(f"{dpath}.from", "may not itself be derived")
        derive[key] = Derive(
            source, decimal_value(ctx, f"{dpath}.multiplier", table.get("multiplier"))
        )
    return derive


def _region_map(ctx: _Ctx, path: str, raw: object) -> dict[str, Decimal]:
    return {
        k.lower(): _multiplier(ctx, f"{path}.{k}", v) for k, v in _mapping(ctx, path, raw).items()
    }


# --- public compile functions --------------------------------------------------------


def compile_provider(name: str, raw: object) -> Provider:
    ctx = _Ctx(None)
    path = f"providers.{name}"
    _str(ctx, path, name, pattern=_NAME_RE)
    table = _mapping(ctx, path, raw if raw is not None else {})
    _unknown(ctx, path, table, PROVIDER_KEYS)
    delegates: list[Delegate] = []
    raw_delegate = table.get("delegate") or []
    if not isinstance(raw_delegate, Sequence) or isinstance(raw_delegate, str):
        raise ctx.fail(f"{path}.delegate", "must be a list")
    for i, item in enumerate(raw_delegate):
        dpath = f"{path}.delegate[{i}]"
        dtable = _mapping(ctx, dpath, item)
        _unknown(ctx, dpath, dtable, DELEGATE_KEYS)
        prefix = dtable.get("prefix")
        delegates.append(
            Delegate(
                prefix=None if prefix is None else _str(ctx, f"{dpath}.prefix", prefix).lower(),
                to=_str(ctx, f"{dpath}.to", dtable.get("to"), pattern=_NAME_RE),
                keep_prefix=bool(dtable.get("keep_prefix", False)),
                dots_to_dashes=bool(dtable.get("dots_to_dashes", False)),
            )
        )
    default_region = table.get("default_region")
    return Provider(
        name=name,
        source=None
        if table.get("source") is None
        else _str(ctx, f"{path}.source", table["source"]),
        aliases=tuple(a.lower() for a in _str_list(ctx, f"{path}.aliases", table.get("aliases"))),
        strip_prefixes=tuple(
            p.lower() for p in _str_list(ctx, f"{path}.strip_prefixes", table.get("strip_prefixes"))
        ),
        strip_suffixes=tuple(
            p.lower() for p in _str_list(ctx, f"{path}.strip_suffixes", table.get("strip_suffixes"))
        ),
        geo_prefixes=tuple(
            p.lower() for p in _str_list(ctx, f"{path}.geo_prefixes", table.get("geo_prefixes"))
        ),
        default_region=None
        if default_region is None
        else _str(ctx, f"{path}.default_region", default_region).lower(),
        regions=_region_map(ctx, f"{path}.regions", table.get("regions") or {}),
        tiers=_tiers(ctx, f"{path}.tiers", table.get("tiers")),
        derive=_derive(ctx, f"{path}.derive", table.get("derive")),
        delegate=tuple(delegates),
    )


def compile_entry(raw: object, index: int, *, custom: bool = False) -> Entry:
    label = f"entries[{index}]"
    if isinstance(raw, Mapping) and isinstance(raw.get("id"), str):
        label = raw["id"]
    ctx = _Ctx(label)
    table = _mapping(ctx, "", raw)
    _unknown(ctx, "", table, ENTRY_KEYS | ({"kind"} if custom else frozenset()))
    entry_id = _str(ctx, "id", table.get("id"), pattern=_ID_RE)
    provider = _str(ctx, "provider", table.get("provider"), pattern=_NAME_RE)
    if not entry_id.startswith(provider + "/"):
        raise ctx.fail("id", f"must start with the provider name: '{provider}/…'")
    model = _str(ctx, "model", table.get("model"))
    source = _str(ctx, "source", table.get("source"))
    if not custom and not source.startswith(("https://", "http://")):
        raise ctx.fail("source", "must be the URL of the provider's pricing page")
    notes = table.get("notes")
    if notes is not None:
        _str(ctx, "notes", notes)
    unverified = table.get("unverified")
    if unverified is not None:
        _str(ctx, "unverified", unverified)
    raw_prices = table.get("prices")
    if not isinstance(raw_prices, Sequence) or isinstance(raw_prices, str) or not raw_prices:
        raise ctx.fail("prices", "must be a non-empty list of dated rate sets")
    periods: list[Period] = []
    for i, item in enumerate(raw_prices):
        ppath = f"prices[{i}]"
        ptable = _mapping(ctx, ppath, item)
        _unknown(ctx, ppath, ptable, PERIOD_KEYS)
        if "from" not in ptable:
            raise ctx.fail(f"{ppath}.from", "missing: the date these rates took effect")
        start = _timestamp(ctx, f"{ppath}.from", ptable["from"])
        if periods and start <= periods[-1].start:
            raise ctx.fail(f"{ppath}.from", "price periods must be in increasing date order")
        rates = _rates(
            ctx,
            ppath,
            ptable,
            skip=frozenset({"from", IMAGES_KEY, "long_context", "tiers", "notes"}),
        )
        images = _images(ctx, f"{ppath}.images", ptable.get(IMAGES_KEY))
        if not rates and images is None:
            raise ctx.fail(ppath, "has no rates")
        periods.append(
            Period(
                start=start,
                rates=rates,
                images=images,
                long_context=_long_context(
                    ctx, f"{ppath}.long_context", ptable.get("long_context")
                ),
                tiers=_tiers(ctx, f"{ppath}.tiers", ptable.get("tiers")),
            )
        )
    regions: dict[str, Mapping[str, Decimal]] = {}
    raw_regions = table.get("regions")
    if raw_regions is not None:
        for prov, value in _mapping(ctx, "regions", raw_regions).items():
            regions[prov.lower()] = _region_map(ctx, f"regions.{prov}", value)
    return Entry(
        id=entry_id,
        provider=provider,
        model=model,
        aliases=_str_list(ctx, "aliases", table.get("aliases")),
        prefixes=_str_list(ctx, "prefixes", table.get("prefixes")),
        source=source,
        notes=notes,
        periods=tuple(periods),
        tiers=_tiers(ctx, "tiers", table.get("tiers")),
        regions=regions,
        derive=_derive(ctx, "derive", table.get("derive")),
        custom=custom,
        unverified=unverified,
    )


@dataclass(slots=True)
class CompiledTable:
    version: str
    providers: dict[str, Provider]
    entries: list[Entry]


def compile_table(raw: object) -> CompiledTable:
    ctx = _Ctx(None)
    table = _mapping(ctx, "", raw)
    _unknown(ctx, "", table, TOP_KEYS)
    version = table.get("version")
    if isinstance(version, int | float) and not isinstance(version, bool):
        raise ctx.fail("version", "must be a string (quote it in YAML)")
    version = _str(ctx, "version", version)
    providers = {
        name: compile_provider(name, value)
        for name, value in _mapping(ctx, "providers", table.get("providers") or {}).items()
    }
    raw_entries = table.get("entries")
    if not isinstance(raw_entries, Sequence) or isinstance(raw_entries, str):
        raise ctx.fail("entries", "must be a list")
    entries = [compile_entry(item, i) for i, item in enumerate(raw_entries)]
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        if entry.id in seen:
            raise PricingError(
                f"duplicate id (also entries[{seen[entry.id]}])", entry=entry.id, field="id"
            )
        seen[entry.id] = i
    for name, prov in providers.items():
        for j, d in enumerate(prov.delegate):
            if d.to not in providers:
                raise PricingError(
                    f"delegates to unknown provider {d.to!r}",
                    field=f"providers.{name}.delegate[{j}].to",
                )
    return CompiledTable(version=version, providers=providers, entries=entries)
