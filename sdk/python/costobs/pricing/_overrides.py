"""An org's price overrides (``PriceTable.with_overrides``), parsed into what the table holds:
custom entries, aliases and discounts. Pure: mappings in, values out; errors name the override."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._compile import Entry, _Ctx, _timestamp, compile_entry, decimal_value
from ._errors import PricingError
from ._match import Alias
from ._rates import Discount

_DISCOUNT_FIELDS = frozenset({"kind", "multiplier", "provider", "model", "from", "until", "label"})


@dataclass
class Overrides:
    """What overrides add to a table: custom entries (by id, later ones replace earlier ones),
    aliases by (provider, lowercase name) and discounts (the most specific applies)."""

    custom: list[Entry] = field(default_factory=list)
    aliases: dict[tuple[str, str], Alias] = field(default_factory=dict)
    discounts: list[Discount] = field(default_factory=list)

    def add(
        self, overrides: Sequence[Mapping[str, Any]], provider_name: Callable[[str], str]
    ) -> Overrides:
        """Parse and add ``overrides``; ``provider_name`` resolves a provider's alias to its
        table name. Raises ``PricingError`` naming the override (``override #i``) and field."""
        for i, raw in enumerate(overrides):
            if not isinstance(raw, Mapping):
                raise PricingError(f"override #{i} must be a mapping")
            kind = raw.get("kind") or ("entry" if "prices" in raw else None)
            if kind == "entry":
                entry = compile_entry(raw, i, custom=True)
                self.custom = [e for e in self.custom if e.id != entry.id]
                self.custom.append(entry)
            elif kind == "alias":
                source, name, alias = _alias(raw, i, provider_name)
                self.aliases[(source, name)] = alias
            elif kind == "discount":
                self.discounts.append(_discount(raw, i, provider_name))
            else:
                raise PricingError(
                    f"override #{i}: unknown kind {kind!r} "
                    "(expected 'discount', 'entry' or 'alias')"
                )
        return self


def _alias(
    raw: Mapping[str, Any], i: int, provider_name: Callable[[str], str]
) -> tuple[str, str, Alias]:
    ctx = _Ctx(f"override #{i}")
    for name in ("provider", "name", "model"):
        if not isinstance(raw.get(name), str) or not raw.get(name):
            raise ctx.fail(name, "must be a non-empty string")
    target = raw.get("target_provider") or raw["provider"]
    return (
        provider_name(raw["provider"]),
        raw["name"].strip().lower(),
        Alias(provider_name(target), raw["model"]),
    )


def _discount(raw: Mapping[str, Any], i: int, provider_name: Callable[[str], str]) -> Discount:
    ctx = _Ctx(f"override #{i}")
    extra = set(raw) - _DISCOUNT_FIELDS
    if extra:
        raise ctx.fail(sorted(extra)[0], "unknown field of a discount override")
    provider, model = raw.get("provider"), raw.get("model")
    return Discount(
        multiplier=decimal_value(ctx, "multiplier", raw.get("multiplier")),
        provider=None if provider is None else provider_name(str(provider)),
        model=None if model is None else str(model).strip().lower(),
        start=None if raw.get("from") is None else _timestamp(ctx, "from", raw["from"]),
        end=None if raw.get("until") is None else _timestamp(ctx, "until", raw["until"]),
        label=str(raw.get("label") or f"override #{i}"),
    )
