"""Metadata DB access: engine, migrations, seeding, orgs and API keys."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, select, text
from sqlalchemy.orm import Session, sessionmaker

from costobs_server.errors import InvalidInput
from costobs_server.metadata.models import ApiKey, Org, PriceOverride
from costobs_server.vocabulary import DEFAULT_ORG as DEFAULT_ORG  # re-exported
from costobs_server.vocabulary import DEV_KEY as DEV_KEY

SCOPES = ("ingest", "read", "admin")
_ALEMBIC_DIR = Path(__file__).parent / "alembic"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine, revision: str = "head") -> None:
    """Apply alembic migrations up to ``revision``; idempotent."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_ALEMBIC_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(_ALEMBIC_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class KeyInfo:
    id: str
    org_id: str
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class NewKey:
    info: KeyInfo
    secret: str
    """Shown once; only its hash is stored."""


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(
        row.id, row.org_id, row.name, row.prefix, tuple(row.scopes), row.created_at, row.revoked_at
    )


class MetadataDB:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def ping(self) -> None:
        """One round trip (``/healthz``)."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    @classmethod
    def connect(cls, url: str) -> MetadataDB:
        return cls(make_engine(url))

    def session(self) -> Session:
        return self._sessions()

    def migrate(self) -> None:
        migrate(self.engine)

    def ensure_org(self, org_id: str, name: str | None = None, timezone: str = "UTC") -> None:
        with self.session() as s, s.begin():
            if s.get(Org, org_id) is None:
                s.add(Org(id=org_id, name=name or org_id, timezone=timezone, created_at=_now()))

    def org_timezone(self, org_id: str) -> str:
        with self.session() as s:
            org = s.get(Org, org_id)
            return org.timezone if org else "UTC"

    def seed_dev(self) -> None:
        """The default org and the dev key; for embedded/dev mode only."""
        self.ensure_org(DEFAULT_ORG, "Default org")
        with self.session() as s, s.begin():
            found = s.scalar(select(ApiKey).where(ApiKey.secret_hash == hash_secret(DEV_KEY)))
            if found is None:
                s.add(_new_row(DEFAULT_ORG, "dev key", DEV_KEY, SCOPES))

    def create_key(self, org_id: str, name: str, scopes: tuple[str, ...] = ("ingest",)) -> NewKey:
        unknown = set(scopes) - set(SCOPES)
        if unknown:
            raise InvalidInput(f"unknown scope(s) {sorted(unknown)}; choose from {list(SCOPES)}")
        secret = "costobs_" + secrets.token_urlsafe(32)
        with self.session() as s, s.begin():
            if s.get(Org, org_id) is None:
                raise InvalidInput(f"no org {org_id!r}")
            row = _new_row(org_id, name, secret, scopes)
            s.add(row)
        return NewKey(_info(row), secret)

    def revoke_key(self, org_id: str, key_id: str) -> bool:
        with self.session() as s, s.begin():
            row = s.get(ApiKey, key_id)
            if row is None or row.org_id != org_id:
                return False
            if row.revoked_at is None:
                row.revoked_at = _now()
            return True

    def list_keys(self, org_id: str) -> list[KeyInfo]:
        with self.session() as s:
            rows = s.scalars(
                select(ApiKey).where(ApiKey.org_id == org_id).order_by(ApiKey.created_at)
            )
            return [_info(r) for r in rows]

    def add_price_override(self, org_id: str, spec: dict[str, Any], note: str = "") -> str:
        """Store an override after checking the pricing engine accepts it."""
        from costobs.pricing import load_price_table

        load_price_table().with_overrides([spec])  # raises PricingError naming the problem
        override_id = uuid.uuid4().hex[:16]
        with self.session() as s, s.begin():
            if s.get(Org, org_id) is None:
                raise InvalidInput(f"no org {org_id!r}")
            s.add(
                PriceOverride(
                    id=override_id, org_id=org_id, spec=spec, note=note, created_at=_now()
                )
            )
        return override_id

    def price_overrides(self, org_id: str) -> list[dict[str, Any]]:
        """The org's override specs, oldest first (later ones win)."""
        with self.session() as s:
            rows = s.scalars(
                select(PriceOverride)
                .where(PriceOverride.org_id == org_id)
                .order_by(PriceOverride.created_at, PriceOverride.id)
            )
            return [dict(r.spec) for r in rows]

    def list_price_overrides(self, org_id: str) -> list[tuple[str, dict[str, Any], str]]:
        with self.session() as s:
            rows = s.scalars(
                select(PriceOverride)
                .where(PriceOverride.org_id == org_id)
                .order_by(PriceOverride.created_at, PriceOverride.id)
            )
            return [(r.id, dict(r.spec), r.note) for r in rows]

    def remove_price_override(self, org_id: str, override_id: str) -> bool:
        with self.session() as s, s.begin():
            row = s.get(PriceOverride, override_id)
            if row is None or row.org_id != org_id:
                return False
            s.delete(row)
            return True

    def lookup(self, secret: str) -> KeyInfo | None:
        """The live key with this secret, or None (unknown or revoked)."""
        with self.session() as s:
            row = s.scalar(select(ApiKey).where(ApiKey.secret_hash == hash_secret(secret)))
            if row is None or row.revoked_at is not None:
                return None
            return _info(row)


def _new_row(org_id: str, name: str, secret: str, scopes: tuple[str, ...]) -> ApiKey:
    return ApiKey(
        id=uuid.uuid4().hex[:16],
        org_id=org_id,
        name=name,
        secret_hash=hash_secret(secret),
        prefix=secret[:12],
        scopes=list(scopes),
        created_at=_now(),
        revoked_at=None,
    )


def _now() -> datetime:
    return datetime.now(UTC)
