"""`costobs verify [--repair]`: every view-fed rollup checked against events per org and day,
and damaged days re-derived exactly (issue 11, finding 2)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from costobs_server.cli import main
from costobs_server.store import EventStore
from costobs_server.store.verify import rollups, verify
from tests.test_store import _lines


def _latency(store: EventStore, org: str) -> list[tuple[object, ...]]:
    return store.query(
        "SELECT prompt_version, quantilesTDigestMerge(0.5, 0.95)(latency_state) "
        "FROM prompt_version_daily WHERE org_id = {o:String} GROUP BY prompt_version "
        "ORDER BY prompt_version",
        {"o": org},
    )


def test_verify_finds_damaged_rollup_days_and_repairs_them_exactly(
    store: EventStore, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    org = f"v{uuid.uuid4().hex[:10]}"
    store.insert_events(_lines(org, 48), uuid.uuid4().hex)
    latency = _latency(store, org)
    assert {r.table for r in rollups(store)} >= {
        "cost_daily",
        "cost_model_hourly",
        "cost_model_quarter",
        "cost_tag_hourly",
        "prompt_version_daily",
        "cost_dim_daily",
        "cost_dim_model_half",
    }
    assert verify(store, org=org).mismatches == []
    # damage: an hour lost, a half-month lost, a day counted twice
    store.client.command(
        "ALTER TABLE cost_model_hourly DELETE WHERE org_id = {o:String} AND toHour(hour) = 3",
        parameters={"o": org},
        settings={"mutations_sync": 2},
    )
    store.client.command(
        "ALTER TABLE cost_dim_model_half DELETE WHERE org_id = {o:String}",
        parameters={"o": org},
        settings={"mutations_sync": 2},
    )
    store.client.command(
        "INSERT INTO prompt_version_daily SELECT * FROM prompt_version_daily "
        "WHERE org_id = {o:String}",
        parameters={"o": org},
        settings=store.no_dedup,
    )
    found = verify(store, org=org).mismatches
    assert {m.table for m in found} == {
        "cost_model_hourly",
        "cost_dim_model_half",
        "prompt_version_daily",
    }
    hourly = next(m for m in found if m.table == "cost_model_hourly")
    assert (hourly.stored[0], hourly.derived[0]) == (46, 48)  # requests: 2 events at 03:30

    assert main(["verify", "--data-dir", str(data_dir), "--org", org]) == 1
    assert "MISMATCH cost_model_hourly" in capsys.readouterr().out
    assert main(["verify", "--data-dir", str(data_dir), "--org", org, "--repair"]) == 0
    assert "3 mismatched, 3 repaired" in capsys.readouterr().out
    assert verify(store, org=org).mismatches == []
    assert main(["verify", "--data-dir", str(data_dir), "--org", org]) == 0
    assert _latency(store, org) == latency  # quantile states re-derived, not doubled
    ((requests,),) = store.query(
        "SELECT sum(requests) FROM cost_model_hourly WHERE org_id = {o:String}", {"o": org}
    )
    assert requests == 48
