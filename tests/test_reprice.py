"""`costobs reprice` (issue 14): stored events priced again with the current table and the org's
overrides; every rollup follows exactly; each event keeps its ingest cost and version; jobs are
recorded; an interrupted job leaves each day old or new once its journal is recovered."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from consumers.pricer import Pricer
from consumers.processor import merge, rows_from_message
from costobs_server.metadata.db import MetadataDB
from costobs_server.repricing import RepriceError, Request, Summary, recover, reprice, swap
from costobs_server.repricing.jobs import listed, save
from costobs_server.repricing.swap import interrupted
from costobs_server.store import EventStore, compaction, pairs
from costobs_server.store.verify import rollups, verify
from tests.helpers import Running, eventually, new_org
from tests.helpers import event as helper_event

M = Decimal("0.000001")  # USD per token at $1 per million
_TODAY = datetime.now(UTC).date()
# two UTC days inside a closed half-month (the 5th and 6th, over a month back): the compactor
# has done their pair rows and the half's, so re-pricing must redo both
DAYS = [(_TODAY.replace(day=1) - timedelta(days=40)).replace(day=5 + i) for i in range(2)]
CUSTOM = {
    "id": "selfhosted/acme-llm",
    "provider": "selfhosted",
    "model": "acme-llm",
    "source": "internal",
    "prices": [{"from": "2020-01-01", "input": "0.10", "output": "0.20"}],
}


class Stop(Exception):
    """Raised from a journal step to stop a job there, as a crash would."""


@pytest.fixture
def org(metadata: MetadataDB) -> str:
    org_id = f"rp{uuid.uuid4().hex[:10]}"
    metadata.ensure_org(org_id)
    return org_id


def _pricer(db: MetadataDB) -> Pricer:
    return Pricer(overrides=db.price_overrides, refresh_seconds=math.inf)


def _event(i: int) -> dict[str, Any]:
    model = ("gpt-4o", "gpt-4o-mini", "acme-llm")[i % 3]
    usage: dict[str, Any] = {"input_tokens": 1000 + i, "output_tokens": 100}
    if i % 4 == 0:
        usage["cached_input_tokens"] = 200
    return {
        "request_id": f"r{i:03d}",
        "timestamp": f"{DAYS[(i // 3) % 2].isoformat()}T{i % 24:02d}:15:00Z",  # 6 of each a day
        "provider": "selfhosted" if model == "acme-llm" else "openai",
        "model": model,
        "customer_id": f"cust-{i % 4}",
        "user_id": f"u-{i % 2}",
        "feature": ("chat", "search")[i % 2],
        "tags": {"pr": str(i % 3)},
        "prompt_key": "p",
        "prompt_version": f"v{i % 2}",
        "latency_ms": 100 + i,
        "usage": usage,
        "cost_usd": "0.001",
    }


EVENTS = [_event(i) for i in range(36)]


def _ingest(store: EventStore, db: MetadataDB, org: str) -> None:
    """As the writer stores them: priced by the processor, one idempotent insert, then the
    compactor's pair rows for the closed days."""
    envelope = orjson.dumps(
        {"org_id": org, "received_at": "2026-01-01T00:00:00Z", "events": EVENTS}
    )
    rows = merge([rows_from_message(envelope, 7, _pricer(db))])
    store.insert_events(rows.block, uuid.uuid4().hex)
    done = compaction.compact(store, org=org)
    assert done.days == 2 and done.halves == 1


def _list_price(e: dict[str, Any]) -> Decimal:
    """The price table's gpt-4o / gpt-4o-mini rates, written out here (not by the engine)."""
    u = e["usage"]
    rates = {"gpt-4o": ("2.50", "1.25", "10.00"), "gpt-4o-mini": ("0.15", "0.075", "0.60")}
    if e["model"] not in rates:
        return Decimal(0)
    inp, cached, out = (Decimal(r) for r in rates[e["model"]])
    return (
        u["input_tokens"] * inp
        + u.get("cached_input_tokens", 0) * cached
        + u["output_tokens"] * out
    ) * M


def _events(store: EventStore, org: str) -> dict[str, tuple[Any, ...]]:
    rows = store.query(
        "SELECT request_id, cost_usd, ingest_cost_usd, pricing_version, ingest_pricing_version, "
        "repriced_by, unpriced, cost_input_usd + cost_cached_input_usd + cost_output_usd "
        "FROM events WHERE org_id = {o:String}",
        {"o": org},
    )
    out = {r[0]: tuple(r[1:]) for r in rows}
    assert len(out) == len(rows) == len(EVENTS), "an event lost or stored twice"
    return out


def _grouped(store: EventStore, source: str, keys: str, sums: str, org: str) -> set[Any]:
    nonzero = " OR ".join(f"{s} != 0" for s in sums.split(", "))
    return set(
        store.query(
            f"SELECT {keys}, {sums} FROM {source} WHERE org_id = {{o:String}} "
            f"GROUP BY {keys} HAVING {nonzero}",
            {"o": org},
        )
    )


def _assert_rollups_exact(store: EventStore, org: str) -> None:
    """Every rollup row by row (its whole key, every metric) equals what its view makes of
    the events now; the pair rollups equal the pairs of the events; verify agrees."""
    for r in rollups(store):
        keys = ", ".join(r.keys)
        sums = ", ".join(f"sum({m})" for m in r.metrics)
        stored = _grouped(store, r.table, keys, sums, org)
        assert stored == _grouped(store, f"({r.select})", keys, sums, org), r.table
    metrics = "sum(requests), sum(input_tokens), sum(output_tokens), sum(cost_usd)"
    from_events = (
        "(SELECT org_id, p.1 AS a, p.3 AS b, toDate(timestamp) AS day, p.2 AS a_value, "
        "p.4 AS b_value, toInt64(1) AS requests, toInt64(input_tokens) AS input_tokens, "
        "toInt64(output_tokens) AS output_tokens, cost_usd FROM events ARRAY JOIN "
        f"{pairs.pairs_expression()} AS p)"
    )
    day_keys = "a, b, day, a_value, b_value"
    assert _grouped(store, "cost_pair_daily", day_keys, metrics, org) == _grouped(
        store, from_events, day_keys, metrics, org
    )
    half = "if(toDayOfMonth(day) <= 15, toStartOfMonth(day), toStartOfMonth(day) + 15)"
    half_keys = "a, b, half, a_value, b_value"
    assert _grouped(store, "cost_pair_half", half_keys, metrics, org) == _grouped(
        store, f"(SELECT *, {half} AS half FROM {from_events})", half_keys, metrics, org
    )
    report = verify(store, org=org)
    assert report.mismatches == [] and report.stale_pair_days == 0


def _daily(store: EventStore, org: str) -> dict[tuple[date, str], tuple[Any, ...]]:
    rows = store.query(
        "SELECT day, model, sum(requests), sum(unpriced_requests), sum(cost_usd) "
        "FROM cost_daily WHERE org_id = {o:String} GROUP BY day, model",
        {"o": org},
    )
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


def _run(store: EventStore, db: MetadataDB, org: str, **kw: Any) -> Summary:
    return reprice(store, _pricer(db), Request(DAYS[0], DAYS[-1], org=org, actor="test", **kw))


def _day_of(request_id: str) -> date:
    e = EVENTS[int(request_id[1:])]
    return date.fromisoformat(e["timestamp"][:10])


@pytest.fixture
def discounted(store: EventStore, metadata: MetadataDB, org: str) -> Iterator[str]:
    """The org's events stored at list price; then a negotiated 20% off gpt-4o and a custom
    price for the model the table does not know, both recorded after the fact."""
    _ingest(store, metadata, org)
    metadata.add_price_override(
        org, {"kind": "discount", "multiplier": "0.8", "provider": "openai", "model": "gpt-4o"}
    )
    metadata.add_price_override(org, CUSTOM)
    yield org


def _new_price(e: dict[str, Any]) -> Decimal:
    if e["model"] == "gpt-4o":
        return _list_price(e) * Decimal("0.8")
    if e["model"] == "acme-llm":
        u = e["usage"]
        return (u["input_tokens"] * Decimal("0.10") + u["output_tokens"] * Decimal("0.20")) * M
    return _list_price(e)


def test_dry_run_shows_old_and_new_totals_per_model_and_changes_nothing(
    store: EventStore, metadata: MetadataDB, discounted: str
) -> None:
    org = discounted
    before = (_events(store, org), _daily(store, org))
    summary = _run(store, metadata, org, dry_run=True).to_dict()
    models = {(m["provider"], m["model"]): m for m in summary["models"]}
    for model, provider in (
        ("gpt-4o", "openai"),
        ("gpt-4o-mini", "openai"),
        ("acme-llm", "selfhosted"),
    ):
        mine = [e for e in EVENTS if e["model"] == model]
        old = sum((_list_price(e) for e in mine), Decimal(0))
        new = sum((_new_price(e) for e in mine), Decimal(0))
        got = models[(provider, model)]
        assert (got["events"], Decimal(got["old_cost_usd"]), Decimal(got["new_cost_usd"])) == (
            12,
            old,
            new,
        )
        assert got["changed"] == (0 if model == "gpt-4o-mini" else 12)
    assert summary["job_id"] is None and summary["days"] == 2
    assert (_events(store, org), _daily(store, org)) == before
    assert listed(store, org) == []  # a dry run is not a job


def test_apply_reprices_exactly_the_affected_events_and_every_rollup(
    store: EventStore, metadata: MetadataDB, discounted: str
) -> None:
    org = discounted
    before = _events(store, org)
    version = next(iter(before.values()))[2]
    summary = _run(store, metadata, org)
    job = summary.job_id
    assert job and summary.total.changed == 24 and summary.days_changed == 2
    after = _events(store, org)
    for request_id, row in after.items():
        e = EVENTS[int(request_id[1:])]
        cost, ingest_cost, pv, ingest_pv, by, unpriced, parts = row
        assert ingest_cost == _list_price(e) and ingest_pv == version == pv  # one table version
        assert cost == _new_price(e) and parts == cost
        assert by == ("" if e["model"] == "gpt-4o-mini" else job)
        assert after[request_id] == before[request_id] or e["model"] != "gpt-4o-mini"
        assert unpriced is False
    daily = _daily(store, org)
    for day in DAYS:
        for model in ("gpt-4o", "gpt-4o-mini", "acme-llm"):
            mine = [e for e in EVENTS if e["model"] == model and _day_of(e["request_id"]) == day]
            want = (len(mine), 0, sum((_new_price(e) for e in mine), Decimal(0)))
            assert daily.get((day, model), (0, 0, Decimal(0))) == want, (day, model)
    _assert_rollups_exact(store, org)
    # the job is recorded and listed
    (record,) = listed(store, org)
    assert (record.job_id, record.state, record.actor, record.days_done) == (job, "done", "test", 2)
    assert record.events_checked == 36 and record.events_changed == 24
    assert record.old_cost_usd == sum((_list_price(e) for e in EVENTS), Decimal(0))
    assert record.new_cost_usd == sum((_new_price(e) for e in EVENTS), Decimal(0))
    # a second apply finds nothing to change
    again = _run(store, metadata, org)
    assert again.total.changed == 0 and again.days_changed == 0
    assert _events(store, org) == after


def test_an_unchanged_table_changes_no_event(
    store: EventStore, metadata: MetadataDB, org: str
) -> None:
    """Pricing from the stored columns gives the writer's figures back, for every kind of
    usage and routing (cache, reasoning, audio, images, web search, tiers, batch, gateways,
    unknown models)."""
    varied = [
        {
            "model": "gpt-4o",
            "usage": {
                "input_tokens": 10,
                "cached_input_tokens": 5,
                "output_tokens": 7,
                "web_search_requests": 2,
            },
        },
        {"model": "gpt-4o-mini", "service_tier": "priority", "usage": {"input_tokens": 9}},
        {"model": "gpt-4o-mini", "batch": True, "usage": {"input_tokens": 9, "output_tokens": 3}},
        {
            "provider": "anthropic",
            "model": "claude-sonnet-4-5",
            "usage": {
                "input_tokens": 100,
                "cache_write_5m_tokens": 50,
                "cache_write_1h_tokens": 20,
                "cached_input_tokens": 30,
                "output_tokens": 40,
            },
        },
        {
            "model": "o3",
            "usage": {"input_tokens": 100, "output_tokens": 400, "reasoning_tokens": 300},
        },
        {"model": "gpt-4o-mini-transcribe", "usage": {"audio_seconds": "12.5"}},
        {
            "model": "dall-e-3",
            "operation": "image",
            "usage": {"images": 2, "image_size": "1024x1024", "image_quality": "hd"},
        },
        {
            "provider": "openai_compatible",
            "model": "anthropic/claude-sonnet-4-5",
            "gateway_host": "openrouter.ai",
            "usage": {"input_tokens": 10, "output_tokens": 5},
        },
        {"model": "no-such-model", "usage": {"input_tokens": 10}},
    ]
    events = [
        {"request_id": f"v{i}", "timestamp": f"{DAYS[0]}T10:00:00Z", "provider": "openai", **v}
        for i, v in enumerate(varied)
    ]
    envelope = orjson.dumps(
        {"org_id": org, "received_at": "2026-01-01T00:00:00Z", "events": events}
    )
    store.insert_events(merge([rows_from_message(envelope, 1, _pricer(metadata))]).block, org)
    priced = store.query(
        "SELECT countIf(NOT unpriced), countIf(cost_usd > 0) FROM events WHERE org_id = {o:String}",
        {"o": org},
    )
    assert priced[0][0] >= 7  # the variety is real: most of them matched an entry
    summary = _run(store, metadata, org)
    assert (summary.total.checked, summary.total.changed) == (len(varied), 0)


def test_filters_limit_the_events_repriced(
    store: EventStore, metadata: MetadataDB, discounted: str
) -> None:
    org = discounted
    assert _run(store, metadata, org, model="gpt-4o-mini").total.changed == 0
    only = _run(store, metadata, org, provider="selfhosted")
    assert (only.total.checked, only.total.changed) == (12, 12)
    assert set(only.by_model) == {("selfhosted", "acme-llm")}
    rows = store.query(
        "SELECT model, countIf(repriced_by != '') FROM events WHERE org_id = {o:String} "
        "GROUP BY model ORDER BY model",
        {"o": org},
    )
    assert rows == [("acme-llm", 12), ("gpt-4o", 0), ("gpt-4o-mini", 0)]
    _assert_rollups_exact(store, org)


def _stop_at(step: str, day: date) -> Any:
    def hook(job: str, org: str, at: date, name: str) -> None:
        if name == step and at == day:
            raise Stop(f"stopped after {name} of {at}")

    return hook


def _apply_with_hook(store: EventStore, db: MetadataDB, org: str, hook: Any) -> None:
    with pytest.raises(Stop):
        reprice(store, _pricer(db), Request(DAYS[0], DAYS[-1], org=org, actor="t"), hook=hook)


def _assert_days(store: EventStore, org: str, new_days: set[date]) -> None:
    """Each day holds the new figures (days in ``new_days``) or the old ones, in events and
    in every rollup."""
    for request_id, row in _events(store, org).items():
        e = EVENTS[int(request_id[1:])]
        want = _new_price(e) if _day_of(request_id) in new_days else _list_price(e)
        assert row[0] == want, (request_id, _day_of(request_id))
    _assert_rollups_exact(store, org)


def test_interrupted_between_days_leaves_each_day_old_or_new(
    store: EventStore, metadata: MetadataDB, discounted: str
) -> None:
    org = discounted
    _apply_with_hook(store, metadata, org, _stop_at("done", DAYS[0]))
    _assert_days(store, org, {DAYS[0]})
    (record,) = listed(store, org)
    assert (record.state, record.days_done) == ("interrupted", 0)
    assert interrupted(store) == []
    rest = _run(store, metadata, org)  # running it again re-prices the rest
    assert rest.total.changed == 12 and rest.recovered == 0
    _assert_days(store, org, set(DAYS))


@pytest.mark.parametrize("step", ["staged", "inserted:000001", "rollup:cost_dim_daily"])
def test_interrupted_inside_a_day_is_completed_by_recovery(
    store: EventStore,
    metadata: MetadataDB,
    discounted: str,
    step: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Stopped after the seal, after the second of three chunks went into events (so the
    rollups count the day's changed events partly twice), or half-way through the
    subtractions: recovery completes the day."""
    monkeypatch.setattr(swap, "CHUNK", 7)  # a day of 18 events: 3 chunks
    org = discounted
    _apply_with_hook(store, metadata, org, _stop_at(step, DAYS[0]))
    day = next(d for _, o, d in interrupted(store) if o == org)
    assert day == DAYS[0]
    assert [d for _, o, d in recover(store) if o == org] == [DAYS[0]]
    _assert_days(store, org, {DAYS[0]})
    assert interrupted(store) == []


def test_a_step_repeated_after_a_crash_is_written_once(
    store: EventStore, metadata: MetadataDB, discounted: str
) -> None:
    """A crash after a step's insert but before its journal row: recovery repeats the insert,
    which each table takes once (its insert token)."""
    org = discounted
    _apply_with_hook(store, metadata, org, _stop_at("rollup:cost_daily", DAYS[0]))
    store.client.command(
        "DELETE FROM reprice_days WHERE org_id = {o:String} "
        "AND step IN ('inserted:000000', 'rollup:cost_daily')",
        parameters={"o": org},
        settings={"lightweight_deletes_sync": 2},
    )
    # a hard kill never reaches the job's own 'interrupted': its record says running
    (record,) = listed(store, org)
    record.state = "running"
    save(store, record)
    server = EventStore(lambda: store.client, thread_local=False)  # as a ClickHouse server
    with pytest.raises(RepriceError, match="is running"):
        _run(server, metadata, org)
    recover(store)
    _assert_days(store, org, {DAYS[0]})
    assert [r.state for r in listed(store, org)] == ["interrupted"]


def test_a_backwards_range_is_refused(store: EventStore, metadata: MetadataDB) -> None:
    with pytest.raises(RepriceError, match="after --to"):
        reprice(store, _pricer(metadata), Request(DAYS[1], DAYS[0]))


def test_cli_reprices_the_data_dir_when_nothing_runs(
    store: EventStore, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No CostObs on the port: the command opens the data dir (the session's chDB) and the
    metadata DB there itself."""
    from costobs_server.cli import main
    from costobs_server.serve import open_metadata
    from costobs_server.settings import load_settings

    db = open_metadata(load_settings(data_dir=data_dir))
    org = f"rp{uuid.uuid4().hex[:10]}"
    db.ensure_org(org)
    _ingest(store, db, org)
    db.add_price_override(org, CUSTOM)
    common = [
        "reprice",
        "--data-dir",
        str(data_dir),
        "--port",
        "1",
        "--org",
        org,
        "--from",
        DAYS[0].isoformat(),
        "--to",
        DAYS[-1].isoformat(),
    ]
    assert main([*common, "--dry-run", "--json"]) == 0
    out, err = capsys.readouterr()
    dry = orjson.loads(out.splitlines()[-1])
    assert dry["dry_run"] and dry["total"]["changed"] == 12
    assert f"[2/2] {org} {DAYS[-1]}:" in err
    assert main(common) == 0
    out, _ = capsys.readouterr()
    assert "applied" in out and "selfhosted  acme-llm" in out
    total = sum((_list_price(e) for e in EVENTS if e["model"] != "acme-llm"), Decimal(0))
    total += sum((_new_price(e) for e in EVENTS if e["model"] == "acme-llm"), Decimal(0))
    summary = store.query(
        "SELECT sum(cost_usd) FROM cost_daily WHERE org_id = {o:String}", {"o": org}
    )
    assert summary[0][0] == total
    _assert_rollups_exact(store, org)
    assert main(["verify", "--data-dir", str(data_dir), "--org", org]) == 0
    assert "0 mismatched" in capsys.readouterr().out
    assert main([*common, "--from", DAYS[1].isoformat(), "--to", DAYS[0].isoformat()]) == 2


@pytest.mark.timeout(120)
async def test_while_costobs_runs_the_cli_asks_the_running_process(
    running: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    """`costobs up` owns the store: the command posts to /v1/reprice with an admin key; the
    job is listed by the read API and requests show both figures."""
    from costobs_server.cli import main

    org, c = running.org, running.client
    sent = [helper_event(i, model=("gpt-4o", "gpt-4o-mini")[i % 2]) for i in range(6)]
    assert (await running.post(sent)).status_code == 202

    async def stored() -> bool:
        return (await running.summary("2026-11-20", "2026-11-20"))["requests"] == 6

    await eventually(stored)
    before = Decimal((await running.summary("2026-11-20", "2026-11-20"))["cost_usd"])
    override = {"kind": "discount", "multiplier": "0.5", "provider": "openai", "model": "gpt-4o"}
    r = await c.post("/v1/price-overrides", json={"spec": override}, headers=org.headers)
    assert r.status_code == 201, r.text
    args = [
        "reprice",
        "--url",
        running.url,
        "--api-key",
        org.key,
        "--from",
        "2026-11-20",
        "--to",
        "2026-11-20",
        "--json",
    ]
    assert await asyncio.to_thread(main, [*args, "--org", "someone-else"]) == 2
    assert "belongs to org" in capsys.readouterr().err
    assert await asyncio.to_thread(main, args) == 0
    out, err = capsys.readouterr()
    summary = orjson.loads(out.splitlines()[-1])
    assert f"[1/1] {org.id} 2026-11-20: 6 events, 3 changed" in err
    gpt4o = sum(
        (
            (e["usage"]["input_tokens"] * Decimal("2.5") + e["usage"]["output_tokens"] * 10) * M
            for e in sent
            if e["model"] == "gpt-4o"
        ),
        Decimal(0),
    )
    assert Decimal(summary["total"]["new_cost_usd"]) == before - gpt4o / 2
    after = await running.summary("2026-11-20", "2026-11-20")
    assert (after["requests"], Decimal(after["cost_usd"])) == (6, before - gpt4o / 2)
    jobs = (await c.get("/v1/reprice/jobs", headers=org.headers)).json()["jobs"]
    assert [(j["job_id"], j["state"], j["events_changed"]) for j in jobs] == [
        (summary["job_id"], "done", 3)
    ]
    assert Decimal(jobs[0]["old_cost_usd"]) == before and jobs[0]["actor"].startswith("key ")
    first = next(e for e in sent if e["model"] == "gpt-4o")
    detail = (await c.get(f"/v1/requests/{first['request_id']}", headers=org.headers)).json()
    assert Decimal(detail["ingest_cost_usd"]) == 2 * Decimal(detail["cost_usd"]) > 0
    assert detail["repriced_by"] == summary["job_id"]
    # a read key may list jobs but not start one
    reader = new_org(org.db, ("read",))
    r = await c.post(
        "/v1/reprice", json={"from": "2026-11-20", "to": "2026-11-20"}, headers=reader.headers
    )
    assert r.status_code == 403
    r = await c.post(
        "/v1/reprice", json={"from": "2026-11-21", "to": "2026-11-20"}, headers=org.headers
    )
    assert r.status_code == 422 and "after 'to'" in r.text


def test_a_day_cut_while_staging_is_dropped(
    store: EventStore, metadata: MetadataDB, discounted: str
) -> None:
    """Chunks staged without the seal: nothing else changed, so recovery drops them and the
    day keeps its old figures."""
    org = discounted
    rows = next(swap.read_day(store, org, DAYS[0], "", "", 5))
    swap.stage(store, "rp-cut", org, DAYS[0], 0, [dict(r, cost_usd="1") for r in rows])
    assert recover(store) == [] and interrupted(store) == []
    left = store.query("SELECT count() FROM reprice_days WHERE job_id = 'rp-cut'")
    assert left == [(0,)]
    _assert_days(store, org, set())
