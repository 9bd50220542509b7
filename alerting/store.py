"""Alert rules, targets, fires and deliveries in the metadata DB (SQLite or PostgreSQL)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from alerting.models import AlertDelivery, AlertFire, AlertRule, AlertTarget
from alerting.rules import Breach, LastFire, Rule, RuleSpec
from costobs_server import errors
from costobs_server.errors import InvalidInput
from costobs_server.metadata.db import MetadataDB
from costobs_server.metadata.models import Org
from costobs_server.vocabulary import money_text

TARGET_KINDS = ("slack", "webhook")


class NotFound(errors.NotFound):
    """No such rule or target in this org."""


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return uuid.uuid4().hex[:16]


def _aware(value: datetime) -> datetime:
    """SQLite hands datetimes back naive (they were stored as UTC)."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def redact_url(kind: str, url: str) -> str:
    """Slack webhook URLs are secrets themselves: show only their start."""
    if kind == "slack" and "/services/" in url:
        return url.split("/services/", 1)[0] + "/services/…"
    return url


def origin_url(url: str) -> str:
    """Scheme, host and port only: what a key without the admin scope sees of a target, since
    the rest may carry a secret (user:password@, a token in the query or the path)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    rest = "/…" if parts.path not in ("", "/") or parts.query or parts.fragment else ""
    return f"{parts.scheme}://{host}{port}{rest}"


def target_json(t: AlertTarget, *, with_secret: bool = False, full: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": t.id,
        "name": t.name,
        "kind": t.kind,
        "url": redact_url(t.kind, t.url) if full else origin_url(t.url),
        "has_secret": bool(t.secret),
        "created_at": _aware(t.created_at).isoformat(),
    }
    if with_secret:
        out["secret"] = t.secret
    return out


def rule_json(r: AlertRule) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "kind": r.kind,
        "config": r.config,
        "scope": r.scope,
        "group_by": r.group_by,
        "timezone": r.timezone,
        "cooldown_minutes": r.cooldown_minutes,
        "enabled": r.enabled,
        "target_ids": list(r.target_ids),
        "created_at": _aware(r.created_at).isoformat(),
        "updated_at": _aware(r.updated_at).isoformat(),
    }


def fire_json(f: AlertFire, deliveries: list[AlertDelivery] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": f.id,
        "rule_id": f.rule_id,
        "group": f.group_key or None,
        "period": f.period,
        "seq": f.seq,
        "fired_at": _aware(f.fired_at).isoformat(),
        # a rule with a limit in another currency stores its figures in it (details.currency)
        "currency": (f.details or {}).get("currency") or "USD",
        "observed_usd": f.observed_usd,
        "threshold_usd": f.threshold_usd,
        "details": f.details,
        "status": f.status,
    }
    if deliveries is not None:
        out["deliveries"] = [delivery_json(d) for d in deliveries]
    return out


def delivery_json(d: AlertDelivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "fire_id": d.fire_id,
        "rule_id": d.rule_id,
        "target_id": d.target_id,
        "test": d.test,
        "attempt": d.attempt,
        "ok": d.ok,
        "status_code": d.status_code,
        "error": d.error,
        "at": _aware(d.at).isoformat(),
    }


@dataclass(frozen=True)
class Target:
    id: str
    kind: str
    url: str
    secret: str
    name: str


@dataclass(frozen=True)
class Fire:
    id: str
    org_id: str
    rule_id: str
    group: str
    period: str
    seq: int
    fired_at: datetime
    observed: str
    threshold: str
    details: dict[str, Any]


class AlertStore:
    def __init__(self, db: MetadataDB) -> None:
        self.db = db

    # -- targets ----------------------------------------------------------------------

    def create_target(
        self, org_id: str, kind: str, url: str, name: str = "", secret: str | None = None
    ) -> dict[str, Any]:
        if kind not in TARGET_KINDS:
            raise InvalidInput(f"target kind must be one of {list(TARGET_KINDS)}")
        if not url.startswith(("http://", "https://")):
            raise InvalidInput("url must be an http(s) URL")
        if kind == "webhook" and secret is None:
            secret = "whsec_" + secrets.token_urlsafe(24)
        row = AlertTarget(
            id=_new_id(),
            org_id=org_id,
            name=name or kind,
            kind=kind,
            url=url,
            secret=secret or "",
            created_at=_now(),
        )
        with self.db.session() as s, s.begin():
            s.add(row)
        return target_json(row, with_secret=kind == "webhook")

    def list_targets(self, org_id: str, full: bool = True) -> list[dict[str, Any]]:
        """Every target; ``full=False`` shows only the origin of each URL (non-admin keys)."""
        with self.db.session() as s:
            rows = s.scalars(
                select(AlertTarget)
                .where(AlertTarget.org_id == org_id)
                .order_by(AlertTarget.created_at)
            )
            return [target_json(t, full=full) for t in rows]

    def delete_target(self, org_id: str, target_id: str) -> None:
        with self.db.session() as s, s.begin():
            row = s.get(AlertTarget, target_id)
            if row is None or row.org_id != org_id:
                raise NotFound(f"no alert target {target_id!r}")
            for rule in s.scalars(select(AlertRule).where(AlertRule.org_id == org_id)):
                if target_id in rule.target_ids:
                    rule.target_ids = [t for t in rule.target_ids if t != target_id]
            s.delete(row)

    def targets(self, org_id: str, ids: tuple[str, ...] | list[str]) -> list[Target]:
        if not ids:
            return []
        with self.db.session() as s:
            rows = s.scalars(
                select(AlertTarget).where(
                    AlertTarget.org_id == org_id, AlertTarget.id.in_(list(ids))
                )
            )
            return [Target(t.id, t.kind, t.url, t.secret, t.name) for t in rows]

    # -- rules ------------------------------------------------------------------------

    def _check_targets(self, s: Any, org_id: str, ids: list[str]) -> None:
        for target_id in ids:
            row = s.get(AlertTarget, target_id)
            if row is None or row.org_id != org_id:
                raise InvalidInput(f"no alert target {target_id!r} in this org")

    def create_rule(self, org_id: str, spec: RuleSpec) -> dict[str, Any]:
        now = _now()
        row = AlertRule(id=_new_id(), org_id=org_id, created_at=now, updated_at=now)
        self._fill(row, spec)
        with self.db.session() as s, s.begin():
            self._check_targets(s, org_id, spec.target_ids)
            s.add(row)
        return rule_json(row)

    def replace_rule(self, org_id: str, rule_id: str, spec: RuleSpec) -> dict[str, Any]:
        with self.db.session() as s, s.begin():
            row = s.get(AlertRule, rule_id)
            if row is None or row.org_id != org_id:
                raise NotFound(f"no alert rule {rule_id!r}")
            self._check_targets(s, org_id, spec.target_ids)
            self._fill(row, spec)
            row.updated_at = _now()
            return rule_json(row)

    @staticmethod
    def _fill(row: AlertRule, spec: RuleSpec) -> None:
        row.name = spec.name
        row.kind = spec.kind
        row.config = spec.config
        row.scope = spec.scope.model_dump(exclude_none=True, exclude_defaults=True)
        row.group_by = spec.group_by
        row.timezone = spec.timezone
        row.cooldown_minutes = spec.cooldown_minutes
        row.enabled = spec.enabled
        row.target_ids = list(spec.target_ids)

    def get_rule(self, org_id: str, rule_id: str) -> dict[str, Any]:
        with self.db.session() as s:
            row = s.get(AlertRule, rule_id)
            if row is None or row.org_id != org_id:
                raise NotFound(f"no alert rule {rule_id!r}")
            return rule_json(row)

    def list_rules(self, org_id: str) -> list[dict[str, Any]]:
        with self.db.session() as s:
            rows = s.scalars(
                select(AlertRule).where(AlertRule.org_id == org_id).order_by(AlertRule.created_at)
            )
            return [rule_json(r) for r in rows]

    def delete_rule(self, org_id: str, rule_id: str) -> None:
        with self.db.session() as s, s.begin():
            row = s.get(AlertRule, rule_id)
            if row is None or row.org_id != org_id:
                raise NotFound(f"no alert rule {rule_id!r}")
            s.execute(delete(AlertFire).where(AlertFire.rule_id == rule_id))
            s.delete(row)

    def rule(self, org_id: str, rule_id: str) -> Rule:
        with self.db.session() as s:
            row = s.get(AlertRule, rule_id)
            if row is None or row.org_id != org_id:
                raise NotFound(f"no alert rule {rule_id!r}")
            org = s.get(Org, org_id)
            return _rule(row, org.timezone if org else "UTC")

    def enabled_rules(self) -> dict[str, tuple[datetime, Rule]]:
        """Every enabled rule of every org: id → (updated_at, rule)."""
        with self.db.session() as s:
            zones = {o.id: o.timezone for o in s.scalars(select(Org))}
            out = {}
            for row in s.scalars(select(AlertRule).where(AlertRule.enabled.is_(True))):
                try:
                    rule = _rule(row, zones.get(row.org_id, "UTC"))
                except ValueError:
                    continue  # validated on the way in; a bad org zone must not stop others
                out[row.id] = (_aware(row.updated_at), rule)
            return out

    # -- fires ------------------------------------------------------------------------

    def last_fire(self, rule_id: str, group: str, period: str) -> LastFire | None:
        with self.db.session() as s:
            row = s.scalars(
                select(AlertFire)
                .where(
                    AlertFire.rule_id == rule_id,
                    AlertFire.group_key == group,
                    AlertFire.period == period,
                )
                .order_by(AlertFire.seq.desc())
                .limit(1)
            ).first()
            return None if row is None else LastFire(row.seq, _aware(row.fired_at))

    def claim(self, rule: Rule, breach: Breach, seq: int, now: datetime) -> Fire | None:
        """Insert the fire; None when another instance (or an earlier run) claimed it."""
        fire = Fire(
            id=_new_id(),
            org_id=rule.org_id,
            rule_id=rule.id,
            group=breach.group,
            period=breach.period,
            seq=seq,
            fired_at=now,
            observed=money_text(breach.observed),
            threshold=money_text(breach.threshold),
            details=dict(breach.details),
        )
        row = AlertFire(
            id=fire.id,
            org_id=fire.org_id,
            rule_id=fire.rule_id,
            group_key=fire.group,
            period=fire.period,
            seq=seq,
            fired_at=now,
            observed_usd=fire.observed,
            threshold_usd=fire.threshold,
            details=fire.details,
            status="pending",
        )
        try:
            with self.db.session() as s, s.begin():
                s.add(row)
        except IntegrityError:
            return None
        return fire

    def set_fire_status(self, fire_id: str, status: str) -> None:
        with self.db.session() as s, s.begin():
            row = s.get(AlertFire, fire_id)
            if row is not None:
                row.status = status

    def pending_fires(self, older_than: datetime) -> list[Fire]:
        with self.db.session() as s:
            rows = s.scalars(
                select(AlertFire).where(
                    AlertFire.status == "pending", AlertFire.fired_at < older_than
                )
            )
            return [
                Fire(
                    r.id,
                    r.org_id,
                    r.rule_id,
                    r.group_key,
                    r.period,
                    r.seq,
                    _aware(r.fired_at),
                    r.observed_usd,
                    r.threshold_usd,
                    dict(r.details),
                )
                for r in rows
            ]

    def record_delivery(
        self,
        org_id: str,
        *,
        target_id: str,
        attempt: int,
        ok: bool,
        status_code: int | None,
        error: str,
        fire_id: str | None = None,
        rule_id: str | None = None,
        test: bool = False,
    ) -> None:
        with self.db.session() as s, s.begin():
            s.add(
                AlertDelivery(
                    org_id=org_id,
                    fire_id=fire_id,
                    rule_id=rule_id,
                    target_id=target_id,
                    test=test,
                    attempt=attempt,
                    ok=ok,
                    status_code=status_code,
                    error=error[:2000],
                    at=_now(),
                )
            )

    def history(
        self, org_id: str, rule_id: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        with self.db.session() as s:
            query = select(AlertFire).where(AlertFire.org_id == org_id)
            if rule_id:
                query = query.where(AlertFire.rule_id == rule_id)
            fires = list(s.scalars(query.order_by(AlertFire.fired_at.desc()).limit(limit)))
            by_fire: dict[str, list[AlertDelivery]] = {f.id: [] for f in fires}
            if fires:
                for d in s.scalars(
                    select(AlertDelivery)
                    .where(AlertDelivery.fire_id.in_(list(by_fire)))
                    .order_by(AlertDelivery.id)
                ):
                    assert d.fire_id is not None
                    by_fire[d.fire_id].append(d)
            return [fire_json(f, by_fire[f.id]) for f in fires]

    def deliveries(self, org_id: str, limit: int = 100) -> list[dict[str, Any]]:
        with self.db.session() as s:
            rows = s.scalars(
                select(AlertDelivery)
                .where(AlertDelivery.org_id == org_id)
                .order_by(AlertDelivery.id.desc())
                .limit(limit)
            )
            return [delivery_json(d) for d in rows]


def _rule(row: AlertRule, org_timezone: str) -> Rule:
    return Rule.build(
        id=row.id,
        org_id=row.org_id,
        name=row.name,
        kind=row.kind,
        config=row.config,
        scope=row.scope,
        group_by=row.group_by,
        timezone=row.timezone or org_timezone or "UTC",
        cooldown_minutes=row.cooldown_minutes,
        target_ids=tuple(row.target_ids),
    )
