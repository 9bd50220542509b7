"""The org's display currency and exchange rates in the metadata DB.

Every write is one transaction: an import stores all its lines or none. Validation is
``costobs_server.currency``'s (pure); this module only reads and writes rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from costobs_server.currency import (
    STORED,
    CurrencyError,
    RateBook,
    RateLine,
    currency,
    parse_rate,
    rate_text,
)
from costobs_server.metadata.db import MetadataDB
from costobs_server.metadata.models import ExchangeRate, Org, OrgCurrency


@dataclass(frozen=True)
class StoredRate:
    currency: str
    day: date
    rate: Decimal
    source: str

    def as_json(self) -> dict[str, str]:
        return {
            "currency": self.currency,
            "date": self.day.isoformat(),
            "rate": rate_text(self.rate),
            "source": self.source,
        }


def _org(s: Session, org_id: str) -> None:
    if s.get(Org, org_id) is None:
        raise CurrencyError(f"no org {org_id!r}")


def display_currency(db: MetadataDB, org_id: str) -> str:
    with db.session() as s:
        row = s.get(OrgCurrency, org_id)
        return row.currency if row else STORED


def set_display_currency(db: MetadataDB, org_id: str, code: str) -> str:
    """Set (and return) the org's display currency; ``CurrencyError`` for an unknown code."""
    unit = currency(code)
    with db.session() as s, s.begin():
        _org(s, org_id)
        row = s.get(OrgCurrency, org_id)
        if row is None:
            s.add(OrgCurrency(org_id=org_id, currency=unit.code, updated_at=_now()))
        else:
            row.currency, row.updated_at = unit.code, _now()
    return unit.code


def import_rates(db: MetadataDB, org_id: str, lines: Iterable[RateLine]) -> int:
    """Store parsed rate lines (a day already rated is replaced), all in one transaction."""
    now = _now()
    count = 0
    with db.session() as s, s.begin():
        _org(s, org_id)
        for line in lines:
            s.merge(
                ExchangeRate(
                    org_id=org_id,
                    currency=line.currency,
                    day=line.day,
                    rate=rate_text(line.rate),
                    source="import",
                    created_at=now,
                )
            )
            count += 1
    return count


def set_fixed_rate(db: MetadataDB, org_id: str, code: str, rate: str, first: date) -> None:
    """From ``first`` on, ``code`` converts at ``rate``: rates dated on or after ``first`` are
    replaced by this one; earlier days keep theirs."""
    unit = currency(code)
    if unit.code == STORED:
        raise CurrencyError("currency: USD is the stored currency (its rate is always 1)")
    value = parse_rate(rate)
    with db.session() as s, s.begin():
        _org(s, org_id)
        s.execute(
            delete(ExchangeRate).where(
                ExchangeRate.org_id == org_id,
                ExchangeRate.currency == unit.code,
                ExchangeRate.day >= first,
            )
        )
        s.add(
            ExchangeRate(
                org_id=org_id,
                currency=unit.code,
                day=first,
                rate=rate_text(value),
                source="fixed",
                created_at=_now(),
            )
        )


def list_rates(db: MetadataDB, org_id: str, code: str | None = None) -> list[StoredRate]:
    """The org's rates (of one currency), by currency then day."""
    with db.session() as s:
        query = select(ExchangeRate).where(ExchangeRate.org_id == org_id)
        if code is not None:
            query = query.where(ExchangeRate.currency == code)
        rows = s.scalars(query.order_by(ExchangeRate.currency, ExchangeRate.day))
        return [StoredRate(r.currency, r.day, Decimal(r.rate), r.source) for r in rows]


def rate_book(db: MetadataDB, org_id: str) -> RateBook:
    """The org's display currency with its rates, ready to convert."""
    unit = currency(display_currency(db, org_id))
    if unit.code == STORED:
        return RateBook(unit)
    return RateBook(unit, {r.day: r.rate for r in list_rates(db, org_id, unit.code)})


def _now() -> datetime:
    return datetime.now(UTC)


def rate_books(db: MetadataDB, org_id: str, codes: Iterable[str]) -> dict[str, RateBook]:
    """A rate book per currency code (whatever the org displays), for limits set in them."""
    wanted = {currency(c).code for c in codes} - {STORED}
    rates: dict[str, dict[date, Decimal]] = {c: {} for c in wanted}
    for r in list_rates(db, org_id):
        if r.currency in rates:
            rates[r.currency][r.day] = r.rate
    return {c: RateBook(currency(c), days) for c, days in rates.items()}
