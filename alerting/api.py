"""The alerts part of the read API: rules, targets, history, the delivery log, test alerts.

Reading needs the ``read`` scope; changing rules or targets and sending a test alert need
``admin`` (checked before anything else, see ``costobs_server.auth``). Target URLs may carry
secrets (user:password@, tokens in the query, Slack's webhook path): keys without ``admin`` see
them masked; a target must lead to an address ``alerting.addresses`` allows.

Money in rule configs may be sent as JSON numbers or decimal strings; JSON numbers are read
from their text (never through a float) and answered as decimal strings.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from alerting.addresses import TargetPolicy, policy_from_settings
from alerting.delivery import Deliverer, alert_payload
from alerting.rules import RuleSpec
from alerting.store import AlertStore, NotFound
from costobs_server.auth import has_scope, needs
from costobs_server.metadata.db import KeyInfo
from costobs_server.runtime import Services

_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "Body is not valid JSON"},
    401: {"description": "Missing, unknown or revoked API key"},
    403: {"description": "The key lacks the scope this endpoint needs"},
    404: {"description": "No such rule or target in this org"},
    422: {"description": "Invalid rule, target or parameter; the detail names it"},
}
router = APIRouter(prefix="/v1/alerts", tags=["alerts"], responses=_RESPONSES)
ReadKey = Annotated[KeyInfo, Depends(needs("read"))]
AdminKey = Annotated[KeyInfo, Depends(needs("admin"))]
RuleId = Annotated[str, Path(min_length=1, max_length=64)]
TargetId = Annotated[str, Path(min_length=1, max_length=64)]


def _store(request: Request) -> AlertStore:
    services: Services = request.app.state.services
    store = getattr(request.app.state, "alert_store", None)
    if store is None:
        store = request.app.state.alert_store = AlertStore(services.db)
    return store


def policy(request: Request) -> TargetPolicy:
    """The alert-target allow-list (``create_app`` sets it at start-up; built here otherwise)."""
    found: TargetPolicy | None = getattr(request.app.state, "alert_policy", None)
    if found is None:
        services: Services = request.app.state.services
        found = request.app.state.alert_policy = policy_from_settings(services.settings)
    return found


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body(), parse_float=Decimal)
    except ValueError as exc:
        raise HTTPException(400, f"body is not valid JSON: {exc}") from None


def _spec(data: Any) -> RuleSpec:
    try:
        return RuleSpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'rule'}: "
            + e["msg"].removeprefix("Value error, ")
            for e in exc.errors(include_url=False)
        )
        raise HTTPException(422, problems) from None


async def _call(fn: Any, *args: Any) -> Any:
    try:
        return await run_in_threadpool(fn, *args)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("/rules")
async def list_rules(request: Request, key: ReadKey) -> dict[str, Any]:
    return {"rules": await _call(_store(request).list_rules, key.org_id)}


@router.post("/rules", status_code=201)
async def create_rule(request: Request, key: AdminKey) -> JSONResponse:
    spec = _spec(await _json(request))
    rule = await _call(_store(request).create_rule, key.org_id, spec)
    return JSONResponse(rule, status_code=201)


@router.get("/rules/{rule_id}")
async def get_rule(request: Request, key: ReadKey, rule_id: RuleId) -> dict[str, Any]:
    rule: dict[str, Any] = await _call(_store(request).get_rule, key.org_id, rule_id)
    return rule


@router.put("/rules/{rule_id}")
async def replace_rule(request: Request, key: AdminKey, rule_id: RuleId) -> dict[str, Any]:
    spec = _spec(await _json(request))
    rule: dict[str, Any] = await _call(_store(request).replace_rule, key.org_id, rule_id, spec)
    return rule


@router.patch("/rules/{rule_id}")
async def update_rule(request: Request, key: AdminKey, rule_id: RuleId) -> dict[str, Any]:
    """Change some fields (e.g. ``{"enabled": false}``); the result is validated whole."""
    changes = await _json(request)
    if not isinstance(changes, dict):
        raise HTTPException(400, "body must be a JSON object")
    store = _store(request)
    current = await _call(store.get_rule, key.org_id, rule_id)
    fields = set(RuleSpec.model_fields)
    merged = {k: v for k, v in current.items() if k in fields} | changes
    if "kind" in changes and "config" not in changes:
        raise HTTPException(422, "changing the kind needs a config for it")
    rule: dict[str, Any] = await _call(store.replace_rule, key.org_id, rule_id, _spec(merged))
    return rule


@router.delete("/rules/{rule_id}", status_code=204)
async def delete_rule(request: Request, key: AdminKey, rule_id: RuleId) -> Response:
    await _call(_store(request).delete_rule, key.org_id, rule_id)
    return Response(status_code=204)


@router.post("/rules/{rule_id}/test")
async def send_test_alert(request: Request, key: AdminKey, rule_id: RuleId) -> dict[str, Any]:
    """Send a test alert to the rule's targets now (one attempt each) and report, per target,
    whether it was delivered and the HTTP status code — never what the target answered. The
    attempts appear in the delivery log marked as tests."""
    store = _store(request)
    rule = await _call(store.rule, key.org_id, rule_id)
    targets = await _call(store.targets, key.org_id, rule.target_ids)
    if not targets:
        raise HTTPException(422, "this rule has no targets to send a test alert to")
    settings = request.app.state.services.settings
    deliverer = Deliverer(
        store, attempts=1, timeout_s=settings.alert_delivery_timeout_s, policy=policy(request)
    )
    outcomes = await deliverer.deliver(
        key.org_id, targets, alert_payload(rule, test=True), rule_id=rule.id, test=True
    )
    return {"ok": all(o.ok for o in outcomes), "results": [o.as_json() for o in outcomes]}


@router.get("/targets")
async def list_targets(request: Request, key: ReadKey) -> dict[str, Any]:
    """The org's targets; without the admin scope their URLs show scheme and host only."""
    full = has_scope(key, "admin")
    return {"targets": await _call(_store(request).list_targets, key.org_id, full)}


@router.post("/targets", status_code=201)
async def create_target(request: Request, key: AdminKey) -> JSONResponse:
    """``{"kind": "slack" | "webhook", "url", "name"?, "secret"?}``. A webhook without a secret
    gets a generated one; the secret is shown in this answer only. The URL's host must
    resolve to addresses the allow-list permits (COSTOBS_ALERT_TARGET_ALLOW)."""
    data = await _json(request)
    if not isinstance(data, dict) or not isinstance(data.get("url"), str):
        raise HTTPException(422, "a target needs 'kind' and 'url'")
    unknown = set(data) - {"kind", "url", "name", "secret"}
    if unknown:
        raise HTTPException(422, f"unknown field(s) {sorted(unknown)}")
    secret = data.get("secret")
    if secret is not None and (not isinstance(secret, str) or not 16 <= len(secret) <= 128):
        raise HTTPException(422, "secret must be a string of 16 to 128 characters")
    try:
        await policy(request).check_url(data["url"])
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    target = await _call(
        _store(request).create_target,
        key.org_id,
        str(data.get("kind", "")),
        data["url"],
        str(data.get("name") or ""),
        secret,
    )
    return JSONResponse(target, status_code=201)


@router.delete("/targets/{target_id}", status_code=204)
async def delete_target(request: Request, key: AdminKey, target_id: TargetId) -> Response:
    await _call(_store(request).delete_target, key.org_id, target_id)
    return Response(status_code=204)


@router.get("/history")
async def history(
    request: Request,
    key: ReadKey,
    rule_id: Annotated[str | None, Query(description="only this rule's alerts")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Fired alerts, newest first: observed vs threshold, status and each delivery attempt."""
    return {"fires": await _call(_store(request).history, key.org_id, rule_id, limit)}


@router.get("/deliveries")
async def deliveries(
    request: Request, key: ReadKey, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    """The delivery log, newest first, test alerts included."""
    return {"deliveries": await _call(_store(request).deliveries, key.org_id, limit)}
