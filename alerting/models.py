"""SQLAlchemy models of the alert tables (migration ``0003_alerts``).

Money is stored as decimal strings: SQLite has no exact decimal type, and a string keeps the
exact value on both SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from costobs_server.metadata.models import Base


class AlertTarget(Base):
    __tablename__ = "alert_targets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(16))  # slack | webhook
    url: Mapped[str] = mapped_column(Text)
    # HMAC key of generic webhooks; it must be readable to sign, so it is stored as is.
    secret: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AlertRule(Base):
    __tablename__ = "alert_rules"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(32))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    scope: Mapped[dict[str, Any]] = mapped_column(JSON)
    group_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cooldown_minutes: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    target_ids: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AlertFire(Base):
    """One alert that fired; the row is also the claim that stops a second fire.

    ``(rule_id, group_key, period, seq)`` is unique: every alertd instance computes the same
    key for the same breach, so only one insert succeeds, across restarts and instances.
    """

    __tablename__ = "alert_fires"
    __table_args__ = (
        UniqueConstraint("rule_id", "group_key", "period", "seq", name="uq_alert_fires_claim"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    rule_id: Mapped[str] = mapped_column(ForeignKey("alert_rules.id", ondelete="CASCADE"))
    group_key: Mapped[str] = mapped_column(String(256))
    period: Mapped[str] = mapped_column(String(16))
    seq: Mapped[int] = mapped_column(Integer)
    fired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    observed_usd: Mapped[str] = mapped_column(String(64))
    threshold_usd: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed


class AlertDelivery(Base):
    """One delivery attempt to one target (the delivery log), including test alerts."""

    __tablename__ = "alert_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    fire_id: Mapped[str | None] = mapped_column(
        ForeignKey("alert_fires.id", ondelete="CASCADE"), nullable=True, index=True
    )
    rule_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    target_id: Mapped[str] = mapped_column(String(32))
    test: Mapped[bool] = mapped_column(Boolean, default=False)
    attempt: Mapped[int] = mapped_column(Integer)
    ok: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
