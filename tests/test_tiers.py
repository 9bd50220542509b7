"""The tiers classify tests by the fixtures they use, and the guard stops a pure test that
starts a service on its own (tests/tiers.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from costobs_server.nats_server import binary
from costobs_server.store import EventStore


def test_this_test_is_pure(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("pure") is not None
    assert request.node.get_closest_marker("service") is None


def test_a_test_using_the_stack_is_a_nats_and_chdb_service_test(
    request: pytest.FixtureRequest, store: EventStore
) -> None:
    names = {m.name for m in request.node.iter_markers()}
    assert {"chdb", "service"} <= names and "pure" not in names
    assert store.query("SELECT 1") == [(1,)]


def test_a_pure_test_starting_nats_server_fails_naming_the_marker() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"pytest.mark.nats"):
        subprocess.Popen([binary(), "--version"])


def test_a_pure_test_opening_chdb_fails(tmp_path: object) -> None:
    with pytest.raises(pytest.fail.Exception, match=r"ClickHouse client on chDB"):
        EventStore.open_chdb(tmp_path).query("SELECT 1")  # type: ignore[arg-type]


def test_a_pure_test_connecting_to_postgres_fails() -> None:
    from costobs_server.metadata.db import MetadataDB

    with pytest.raises(pytest.fail.Exception, match=r"pytest.mark.postgres"):
        MetadataDB.connect("postgresql+psycopg://nobody@127.0.0.1:1/none").migrate()


def test_a_pure_test_running_helm_fails_naming_the_marker(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match=r"'helm'.*pytest.mark.slow"):
        subprocess.Popen([str(tmp_path / "helm"), "version"])


def test_a_pure_test_may_run_python() -> None:
    done = subprocess.run(["python3", "-c", "print(1)"], capture_output=True, text=True)
    assert done.stdout == "1\n"


def test_what_collection_built_is_frozen_out_of_the_gc() -> None:
    """tests/gc_freeze.py: a full collection no longer walks the imported libraries."""
    import gc

    assert gc.get_freeze_count() > 50_000  # the server and SDK modules alone are more
