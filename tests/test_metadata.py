"""Metadata DB on SQLite and (in CI) PostgreSQL: migrations, dev seed, keys, overrides."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from costobs.pricing import PricingError

from costobs_server.metadata.db import DEV_KEY, MetadataDB, downgrade


@pytest.fixture
def db(metadata_url: str) -> MetadataDB:
    database = MetadataDB.connect(metadata_url)
    database.migrate()
    yield database
    database.engine.dispose()


def test_migrations_are_idempotent_and_reversible(db: MetadataDB) -> None:
    db.migrate()  # second run: nothing to do, no error
    tables = set(sa.inspect(db.engine).get_table_names())
    assert {"orgs", "api_keys", "price_overrides", "alembic_version"} <= tables
    downgrade(db.engine, "0001")
    assert "price_overrides" not in sa.inspect(db.engine).get_table_names()
    db.migrate()
    assert "price_overrides" in sa.inspect(db.engine).get_table_names()


def test_dev_seed_is_idempotent(db: MetadataDB) -> None:
    db.seed_dev()
    db.seed_dev()
    keys = db.list_keys("default")
    assert len(keys) == 1
    info = db.lookup(DEV_KEY)
    assert info is not None
    assert info.org_id == "default"
    assert set(info.scopes) == {"ingest", "read", "admin"}


def test_keys_are_stored_hashed_and_revocable(db: MetadataDB) -> None:
    db.ensure_org("acme")
    first = db.create_key("acme", "ci", ("ingest",))
    second = db.create_key("acme", "dashboard", ("read",))
    assert first.secret.startswith("costobs_") and len(first.secret) > 40
    with db.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT secret_hash, prefix FROM api_keys")).all()
    assert all(first.secret not in row[0] for row in stored)
    assert db.lookup(first.secret).scopes == ("ingest",)  # type: ignore[union-attr]
    assert db.revoke_key("acme", first.info.id)
    assert db.lookup(first.secret) is None
    assert db.lookup(second.secret) is not None  # many keys per org, independent
    assert not db.revoke_key("other-org", second.info.id)  # cannot revoke across orgs
    assert [k.revoked_at is not None for k in db.list_keys("acme")] == [True, False]


def test_bad_key_requests_are_refused(db: MetadataDB) -> None:
    with pytest.raises(ValueError, match="unknown scope"):
        db.create_key("default", "x", ("superuser",))
    with pytest.raises(ValueError, match="no org 'nope'"):
        db.create_key("nope", "x")


def test_price_overrides_round_trip_and_are_checked(db: MetadataDB) -> None:
    db.ensure_org("acme")
    first = db.add_price_override("acme", {"kind": "discount", "multiplier": "0.8"}, "2026 deal")
    db.add_price_override(
        "acme", {"kind": "alias", "provider": "azure", "name": "prod-4o", "model": "gpt-4o"}
    )
    assert [s["kind"] for s in db.price_overrides("acme")] == ["discount", "alias"]
    assert db.price_overrides("default") == []
    with pytest.raises(PricingError):
        db.add_price_override("acme", {"kind": "rebate"})
    assert db.remove_price_override("acme", first)
    assert [s["kind"] for s in db.price_overrides("acme")] == ["alias"]
