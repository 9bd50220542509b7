"""SQLAlchemy models of the metadata DB. Schema changes go through alembic migrations."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, DateTime, ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Org(Base):
    __tablename__ = "orgs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    # SHA-256 of the secret: keys are long random strings, so a fast hash cannot be reversed
    # by guessing, and an indexed lookup stays O(1) per request.
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PriceOverride(Base):
    """A negotiated discount, custom model entry or deployment alias for one org, in the shape
    ``costobs.pricing.PriceTable.with_overrides`` takes; applied by the writer."""

    __tablename__ = "price_overrides"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(String(512), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OrgCurrency(Base):
    """The org's display currency (ISO 4217); no row = USD. USD stays what is stored."""

    __tablename__ = "org_currency"

    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ExchangeRate(Base):
    """Units of ``currency`` per 1 USD from ``day`` on (until the next dated rate). The rate
    is decimal text: SQLite has no exact decimal column."""

    __tablename__ = "exchange_rates"

    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    rate: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(16))
    """``import`` (CSV or API list) or ``fixed`` (one rate set from a day on)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
