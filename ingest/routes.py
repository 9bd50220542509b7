"""The ingest routes: ``POST /v1/events``, ``POST /v1/billing/import`` and OTLP
``POST /v1/traces``, mounted on the HTTP app by ``costobs_server.http_app``."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from costobs_server import metrics
from costobs_server.auth import AUTH_RESPONSES, has_scope, needs
from costobs_server.bounds import Admission, EventLimits, event_limits
from costobs_server.metadata.db import KeyInfo
from costobs_server.runtime import Services
from costobs_server.wire import (
    BATCH_ADAPTER,
    BILLS_ADAPTER,
    VALID_BATCH_ADAPTER,
    Event,
    describe,
    json_schema,
    validate_event,
)
from ingest import otlp
from ingest.body import read_body
from ingest.publisher import Publisher, Unavailable, publish_bills

_EVENTS_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WireBatch"}}},
    },
    "responses": {
        "202": {"description": "Accepted events are durable in JetStream; rejected ones listed"},
        "400": {"description": "Malformed body or too many events"},
        **AUTH_RESPONSES,
        "413": {"description": "Body too large"},
        "415": {"description": "Content-Encoding other than gzip"},
        "429": {"description": "Saturated; retry after Retry-After seconds"},
        "503": {"description": "Queue unavailable; retry after Retry-After seconds"},
    },
}
_BILLS_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/WireBillImport"}}
        },
    },
    "responses": {
        "202": {"description": "Bills are durable in JetStream"},
        "400": {"description": "Body is not valid JSON"},
        **AUTH_RESPONSES,
        "413": {"description": "Body too large"},
        "415": {"description": "Content-Encoding other than gzip"},
        "422": {"description": "Invalid bills; the detail names each field"},
        "503": {"description": "Queue unavailable; retry after Retry-After seconds"},
    },
}


def _error(status: int, message: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse({"detail": message}, status_code=status, headers=headers)


Verdicts = tuple[list[bytes], list[dict[str, Any]]]


def _admit(events: list[tuple[int, Event | str]], limits: EventLimits, now: datetime) -> Verdicts:
    """Accepted events as JSON and rejections by index, from each event's schema verdict (the
    validated event, or the schema's complaint) and then the limits: the one place both
    validation paths decide, so they cannot disagree."""
    accepted: list[bytes] = []
    rejected: list[dict[str, Any]] = []
    admission = Admission(limits, now)
    for index, verdict in events:
        problem = verdict if isinstance(verdict, str) else admission.problems(verdict)
        if problem is None:
            accepted.append(orjson.dumps(verdict))
        else:
            rejected.append({"index": index, "error": problem})
    return accepted, rejected


def _schema_verdict(raw: object) -> Event | str:
    try:
        return validate_event(raw)
    except ValueError as exc:
        return str(exc)


def _validated(
    body: bytes, max_events: int, limits: EventLimits, now: datetime
) -> tuple[str, list[bytes], list[dict[str, Any]]]:
    """(batch id, accepted events as JSON, rejections by index). A batch of schema-valid
    events is parsed and validated in one pass (the common case, ~20% less CPU); anything else
    is parsed again and checked event by event, so a bad event rejects only itself. Either way
    every event is then held to ``limits`` (age, clock skew, quantity and cost caps)."""
    try:
        valid = VALID_BATCH_ADAPTER.validate_json(body)
    except ValidationError:
        pass
    else:
        if len(valid["events"]) <= max_events:
            return valid["batch_id"], *_admit(list(enumerate(valid["events"])), limits, now)
    try:
        batch = BATCH_ADAPTER.validate_python(orjson.loads(body))
    except orjson.JSONDecodeError as exc:
        metrics.BATCHES.labels("malformed").inc()
        raise HTTPException(400, f"body is not valid JSON: {exc}") from None
    except ValidationError as exc:
        metrics.BATCHES.labels("malformed").inc()
        raise HTTPException(400, f"malformed batch: {describe(exc)}") from None
    events = batch["events"]
    if len(events) > max_events:
        metrics.BATCHES.labels("too_many").inc()
        raise HTTPException(
            400,
            f"{len(events)} events in one batch; at most {max_events} (COSTOBS_MAX_BATCH_EVENTS)",
        )
    verdicts = [(index, _schema_verdict(raw)) for index, raw in enumerate(events)]
    return batch["batch_id"], *_admit(verdicts, limits, now)


def install(app: FastAPI, services: Services) -> None:
    """Mount ``POST /v1/events``, ``POST /v1/billing/import`` and OTLP ``POST /v1/traces``."""
    settings = services.settings
    publisher = Publisher(services.nc, settings.max_inflight_batches) if services.nc else None
    limits = event_limits(settings)
    backfill_limits = event_limits(settings, backfill=True)

    @app.post("/v1/events", status_code=202, openapi_extra=_EVENTS_OPENAPI)
    async def post_events(
        request: Request,
        key: Annotated[KeyInfo, Depends(needs("ingest"))],
        backfill: Annotated[
            bool,
            Query(
                description="lift the age limit (COSTOBS_MAX_EVENT_AGE_DAYS) for this batch: "
                "events back to 2000-01-01 are accepted. Needs a key with the admin scope."
            ),
        ] = False,
    ) -> Response:
        started = time.perf_counter()
        if backfill and not has_scope(key, "admin"):
            raise HTTPException(403, "backfill=true needs a key with the 'admin' scope")
        if publisher is None:
            return _error(503, "this process does not accept events (no queue)", 5)
        if publisher.saturated:
            metrics.BATCHES.labels("saturated").inc()
            return _error(429, "ingest is saturated; retry shortly", retry_after=1)
        body = await read_body(request, settings.max_body_bytes)
        now = datetime.now(UTC)
        batch_id, accepted, rejected = _validated(
            body, settings.max_batch_events, backfill_limits if backfill else limits, now
        )
        received_at = now.isoformat(timespec="milliseconds")
        try:
            result = await publisher.publish(key.org_id, batch_id, received_at, accepted)
        except Unavailable as exc:
            metrics.BATCHES.labels("unavailable").inc()
            return _error(503, str(exc), retry_after=exc.retry_after)
        metrics.EVENTS_ACCEPTED.inc(result.accepted)
        metrics.EVENTS_DUPLICATE.inc(result.duplicates)
        metrics.EVENTS_REJECTED.inc(len(rejected))
        metrics.BATCHES.labels("accepted").inc()
        metrics.ACCEPT_LATENCY.observe(time.perf_counter() - started)
        return Response(
            orjson.dumps(
                {"accepted": result.accepted, "duplicates": result.duplicates, "rejected": rejected}
            ),
            status_code=202,
            media_type="application/json",
        )

    @app.post("/v1/billing/import", status_code=202, openapi_extra=_BILLS_OPENAPI)
    async def import_bills(
        request: Request, key: Annotated[KeyInfo, Depends(needs("admin"))]
    ) -> Response:
        """Daily provider bills (air-gapped or unsupported providers, demo data). They travel
        through JetStream like events and land in ``billed_daily``. Needs the admin scope,
        checked before the body is read: a key without it learns nothing about the body."""
        if publisher is None:
            return _error(503, "this process does not accept bills (no queue)", 5)
        body = await read_body(request, settings.max_body_bytes)
        try:
            payload = BILLS_ADAPTER.validate_json(body)
        except ValidationError as exc:
            if exc.errors()[0]["type"] == "json_invalid":
                raise HTTPException(400, f"body is not valid JSON: {describe(exc)}") from None
            raise HTTPException(422, describe(exc)) from None
        bills = [{**b, "date": b["date"].isoformat()} for b in payload["bills"]]
        try:
            duplicate = await publish_bills(publisher, key.org_id, bills)
        except Unavailable as exc:
            return _error(503, str(exc), retry_after=exc.retry_after)
        return JSONResponse(
            {
                "accepted": 0 if duplicate else len(bills),
                "duplicates": len(bills) if duplicate else 0,
            },
            status_code=202,
        )

    otlp.install(app, settings, publisher, limits)


def add_wire_schemas(schema: dict[str, Any]) -> None:
    """Put the wire's JSON schema (events and bills) into an OpenAPI document's components, so
    the request bodies of ``/v1/events`` and ``/v1/billing/import`` are documented exactly."""
    text = orjson.dumps(json_schema()).replace(b"#/$defs/", b"#/components/schemas/Wire")
    wire = orjson.loads(text)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, definition in wire.pop("$defs").items():
        components[f"Wire{name}"] = definition
    wire.pop("$schema", None)
    components["WireBatch"] = wire
    bills = BILLS_ADAPTER.json_schema(ref_template="#/components/schemas/Wire{model}")
    for name, definition in bills.pop("$defs", {}).items():
        components[f"Wire{name}"] = definition
    components["WireBillImport"] = bills
