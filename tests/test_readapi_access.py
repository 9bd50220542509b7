"""Read API access and validation: org isolation, scopes, parameter errors (values are bound,
never spliced), API keys, org settings, and the OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import Org, Running, event, eventually, new_org
from tests.readapi_seed import dec, send

pytestmark = pytest.mark.timeout(120)
DAY = {"from": "2026-11-20", "to": "2026-11-20"}

READ_ENDPOINTS: list[tuple[str, dict[str, Any]]] = [
    ("/v1/summary", DAY),
    ("/v1/series", DAY),
    ("/v1/breakdown", {**DAY, "by": "customer"}),
    ("/v1/tags", DAY),
    ("/v1/unpriced", DAY),
    ("/v1/requests", DAY),
    ("/v1/prompts", DAY),
    ("/v1/prompts/compare", {**DAY, "prompt_key": "p"}),
    ("/v1/forecast", {"as_of": "2026-11-20"}),
    ("/v1/reconcile", DAY),
    ("/v1/org", {}),
]


async def test_an_org_sees_only_its_own_data(running: Running) -> None:
    other = new_org(running.stack.services.db)  # type: ignore[union-attr]
    mine = [event(i, customer_id="mine", request_id=f"mine-{i}") for i in range(3)]
    theirs = [
        event(i, customer_id="theirs", request_id=f"theirs-{i}", tags={"theirs": "9"})
        for i in range(5)
    ]
    await send(running, mine)
    await send(running, theirs, org=other)
    for org, own, count in ((running.org, "mine", 3), (other, "theirs", 5)):
        h = org.headers
        summary = (await running.client.get("/v1/summary", params=DAY, headers=h)).json()
        assert summary["totals"]["requests"] == count
        rows = (
            await running.client.get("/v1/breakdown", params={**DAY, "by": "customer"}, headers=h)
        ).json()["rows"]
        assert [r["keys"] for r in rows] == [[own]]
        listed = (await running.client.get("/v1/requests", params=DAY, headers=h)).json()
        assert {i["customer_id"] for i in listed["items"]} == {own}
    # another org's request id is simply not found
    r = await running.client.get("/v1/requests/theirs-0", headers=running.org.headers)
    assert r.status_code == 404
    r = await running.client.get(
        "/v1/breakdown", params={**DAY, "by": "tag:theirs"}, headers=running.org.headers
    )
    assert [row["keys"] for row in r.json()["rows"]] == [[""]]


async def test_scopes_and_credentials(running: Running) -> None:
    db = running.stack.services.db  # type: ignore[union-attr]
    ingest_only = db.create_key(running.org.id, "ingest", ("ingest",)).secret
    read_only = db.create_key(running.org.id, "read", ("read",)).secret
    for path, params in READ_ENDPOINTS:
        r = await running.client.get(path, params=params)
        assert r.status_code == 401, path
        r = await running.client.get(
            path, params=params, headers={"Authorization": f"Bearer {ingest_only}"}
        )
        assert r.status_code == 403, path
        assert "read" in r.json()["detail"]
        r = await running.client.get(
            path, params=params, headers={"Authorization": f"Bearer {read_only}"}
        )
        assert r.status_code == 200, (path, r.text)
        bad = await running.client.get(path, params=params, headers={"Authorization": "Bearer x"})
        assert bad.status_code == 401
    reader = {"Authorization": f"Bearer {read_only}"}
    assert (await running.client.get("/v1/keys", headers=reader)).status_code == 403
    assert (
        await running.client.post("/v1/keys", json={"name": "x"}, headers=reader)
    ).status_code == 403
    assert (
        await running.client.patch("/v1/org", json={"timezone": "UTC"}, headers=reader)
    ).status_code == 403


INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("/v1/breakdown", {"by": "nonsense"}, "by"),
    ("/v1/breakdown", {"by": "tag:1starts-with-digit"}, "by"),
    ("/v1/breakdown", {"by": "tag:pr'; DROP TABLE events; --"}, "by"),
    ("/v1/breakdown", {"by": "tag:" + "k" * 65}, "by"),
    ("/v1/breakdown", {"by": "model", "then": "model"}, "then"),
    ("/v1/breakdown", {"by": "model", "limit": 0}, "limit"),
    ("/v1/breakdown", {"by": "model", "limit": 5000}, "limit"),
    ("/v1/breakdown", {}, "by"),
    ("/v1/summary", {"from": "2026-11-21", "to": "2026-11-20"}, "from"),
    ("/v1/summary", {"from": "2026-13-01"}, "from"),
    ("/v1/summary", {"from": "1990-01-01", "to": "2026-01-01"}, "range"),
    ("/v1/series", {"group_by": "customer"}, "group_by"),
    ("/v1/requests", {"cursor": "not-a-cursor"}, "cursor"),
    ("/v1/requests", {"tag": "bad key:1"}, "tag"),
    ("/v1/requests", {"limit": 501}, "limit"),
    ("/v1/requests", {"customer_id": "x" * 300}, "customer_id"),
    ("/v1/forecast", {"history_days": 3}, "history_days"),
    ("/v1/forecast", {"monthly_budget_usd": "1e9"}, "monthly_budget_usd"),
    ("/v1/reconcile", {"from": "2026-11-21", "to": "2026-11-20"}, "from"),
    ("/v1/prompts/compare", {}, "prompt_key"),
]


async def test_invalid_parameters_are_422_naming_the_parameter(running: Running) -> None:
    h = running.org.headers
    for path, params, name in INVALID:
        r = await running.client.get(path, params=params, headers=h)
        assert r.status_code == 422, (path, params, r.text)
        assert name in r.text, (path, params, r.text)
    r = await running.client.patch("/v1/org", json={"timezone": "Mars/Olympus"}, headers=h)
    assert r.status_code == 422 and "timezone" in r.text
    r = await running.client.patch("/v1/org", json={"timezone": "../../etc/passwd"}, headers=h)
    assert r.status_code == 422


async def test_values_are_bound_not_spliced(running: Running) -> None:
    await send(running, [event(i, customer_id="c'1") for i in range(2)])
    h = running.org.headers
    hostile = "x' OR 1=1 --"
    r = await running.client.get("/v1/requests", params={**DAY, "customer_id": hostile}, headers=h)
    assert r.status_code == 200 and r.json()["items"] == []
    r = await running.client.get("/v1/requests", params={**DAY, "customer_id": "c'1"}, headers=h)
    assert len(r.json()["items"]) == 2
    r = await running.client.get("/v1/requests", params={**DAY, "tag": f"pr:{hostile}"}, headers=h)
    assert r.status_code == 200 and r.json()["items"] == []


async def test_api_keys_list_create_once_and_revoke(running: Running) -> None:
    h = running.org.headers
    created = await running.client.post(
        "/v1/keys", json={"name": "ci reader", "scopes": ["read"]}, headers=h
    )
    assert created.status_code == 201, created.text
    new = created.json()
    assert new["secret"].startswith("costobs_") and new["prefix"] == new["secret"][:12]
    assert new["scopes"] == ["read"] and new["active"] is True
    listing = (await running.client.get("/v1/keys", headers=h)).json()["keys"]
    assert {k["id"] for k in listing} >= {new["id"]}
    assert all("secret" not in k for k in listing)  # shown once, never again
    assert new["secret"] not in str(listing)
    theirs = {"Authorization": f"Bearer {new['secret']}"}
    assert (await running.client.get("/v1/org", headers=theirs)).status_code == 200
    assert (await running.client.get("/v1/keys", headers=theirs)).status_code == 403

    revoked = await running.client.delete(f"/v1/keys/{new['id']}", headers=h)
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    assert revoked.json()["revoked_at"]

    async def refused() -> bool:
        return (await running.client.get("/v1/org", headers=theirs)).status_code == 401

    await eventually(refused, within=5)
    assert (await running.client.delete("/v1/keys/nope", headers=h)).status_code == 404
    other = new_org(running.stack.services.db)  # type: ignore[union-attr]
    cross = await running.client.delete(f"/v1/keys/{new['id']}", headers=other.headers)
    assert cross.status_code == 404  # another org's key is not found, let alone revoked
    bad = await running.client.post("/v1/keys", json={"name": "x", "scopes": ["root"]}, headers=h)
    assert bad.status_code == 422


async def test_org_settings(running: Running) -> None:
    h = running.org.headers
    org = (await running.client.get("/v1/org", headers=h)).json()
    assert org["id"] == running.org.id and org["timezone"] == "UTC"
    assert org["has_events"] is False and org["first_event_date"] is None
    assert org["price_table_version"] and org["price_table_entries"] > 100
    assert set(org["credential"]["scopes"]) == {"ingest", "read", "admin"}
    await send(running, [event(0)])
    r = await running.client.patch("/v1/org", json={"timezone": "America/New_York"}, headers=h)
    assert r.status_code == 200
    org = (await running.client.get("/v1/org", headers=h)).json()
    assert org["timezone"] == "America/New_York"
    assert org["has_events"] is True and org["first_event_date"] == "2026-11-20"
    summary = (await running.client.get("/v1/summary", params=DAY, headers=h)).json()
    assert summary["range"]["timezone"] == "America/New_York"
    assert summary["range"]["source"] == "hour"
    assert dec(summary["totals"]["cost_usd"]) > 0


async def test_openapi_documents_the_read_api(running: Running) -> None:
    schema = (await running.client.get("/openapi.json")).json()
    paths = schema["paths"]
    for path, _ in READ_ENDPOINTS:
        assert "get" in paths[path], path
        assert "200" in paths[path]["get"]["responses"]
    assert {"get", "post"} <= set(paths["/v1/keys"])
    assert "delete" in paths["/v1/keys/{key_id}"]
    assert "patch" in paths["/v1/org"]
    summary = schema["components"]["schemas"]["Spend"]["properties"]
    assert summary["cost_usd"]["type"] == "string"


async def test_admin_implies_read_and_scope_is_checked_before_the_input(
    running: Running,
) -> None:
    """An admin key reads (and sends events); a key without a scope gets 403 whatever its
    body or parameters, before anything about them is said."""
    db = running.org.db
    admin, ingest, reader = (
        Org(running.org.id, db.create_key(running.org.id, s, (s,)).secret, db)
        for s in ("admin", "ingest", "read")
    )
    for path, params in [*READ_ENDPOINTS, ("/v1/alerts/rules", {}), ("/v1/usage/summary", DAY)]:
        r = await running.client.get(path, params=params, headers=admin.headers)
        assert r.status_code == 200, (path, r.text)
    assert (await running.post([event()], org=admin)).status_code == 202

    for org in (ingest, reader):
        for body in ({"bills": "not a list"}, {}, b"{not json"):
            sent: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {"json": body}
            r = await running.client.post("/v1/billing/import", headers=org.headers, **sent)
            assert r.status_code == 403, (org, body, r.text)
            assert "'admin' scope" in r.json()["detail"]
    bad_params = [
        ("/v1/summary", {"from": "not a date"}),
        ("/v1/forecast", {"history_days": "-1"}),
        ("/v1/usage/summary", {"from": "x"}),
        ("/v1/alerts/history", {"limit": "0"}),
    ]
    for path, params in bad_params:
        r = await running.client.get(path, params=params, headers=ingest.headers)
        assert r.status_code == 403, (path, r.text)
    r = await running.client.post(
        "/v1/events", params={"backfill": "maybe"}, content=b"{", headers=reader.headers
    )
    assert r.status_code == 403, r.text
    r = await running.client.post("/v1/billing/import", json={"bills": []}, headers=admin.headers)
    assert r.status_code == 422  # an admin key gets the validation answer
    assert "bills" in r.json()["detail"]
