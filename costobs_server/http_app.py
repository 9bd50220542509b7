"""The HTTP app of ``costobs ingest`` (and ``costobs up``): the ingest routes, the read API,
the alerts API, ``GET /healthz`` and ``GET /metrics``, composed on one port.

Each part brings its own routes; this module only puts them together and holds what they
share on ``app.state``: the services, the API-key cache (``costobs_server.auth``) and the
alert-target allow-list.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from alerting.addresses import policy_from_settings
from alerting.api import router as alerts_api
from costobs_server.auth import AUTH_RESPONSES, KeyCache, needs
from costobs_server.bounds import SupportedDay
from costobs_server.health import Report, add_health_routes, probe
from costobs_server.metadata.db import KeyInfo
from costobs_server.runtime import Services
from ingest import routes as ingest_routes
from readapi import router as read_api
from readapi._display_usage import usage_display


def create_app(services: Services) -> FastAPI:
    settings = services.settings
    app = FastAPI(
        title="CostObs ingest and read API",
        version="1",
        description="Usage events in; org-scoped spend out. Money is always a decimal string.",
    )
    app.state.services = services
    app.state.keys = KeyCache(services.db, settings.key_cache_seconds)
    app.state.alert_policy = policy_from_settings(settings)  # a bad allow-list stops start-up

    ingest_routes.install(app, services)

    async def health() -> Report:
        """ClickHouse, the metadata DB and (when this process publishes) NATS, each asked
        with ``COSTOBS_HEALTH_TIMEOUT_S``."""
        timeout = settings.health_timeout_s
        checks = {
            "clickhouse": run_in_threadpool(services.store.query, "SELECT 1"),
            "metadata": run_in_threadpool(services.db.ping),
        }
        if services.nc is not None:
            # a PING answered by the server: needs no permission beyond the connection
            checks["nats"] = services.nc.flush(timeout=max(1, round(timeout)))
        return await probe(checks, timeout)

    add_health_routes(app, health)

    @app.get(
        "/v1/usage/summary",
        responses={
            400: {"description": "'from' is after 'to'"},
            **{int(k): v for k, v in AUTH_RESPONSES.items()},
            422: {"description": "Invalid parameter; the detail names it"},
        },
    )
    async def usage_summary(
        request: Request,
        key: Annotated[KeyInfo, Depends(needs("read"))],
        from_: Annotated[SupportedDay, Query(alias="from", description="first UTC day")],
        to: Annotated[SupportedDay, Query(description="last UTC day (inclusive), YYYY-MM-DD")],
    ) -> dict[str, Any]:
        if from_ > to:
            raise HTTPException(400, "'from' must not be after 'to'")
        summary: dict[str, Any] = await run_in_threadpool(
            services.store.usage_summary, key.org_id, from_, to
        )
        # the cost in the org's display currency, each UTC day at its rate (null: USD)
        summary["display"] = await usage_display(request, key, from_, to)
        return summary

    app.include_router(read_api)
    app.include_router(alerts_api)

    original_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original_openapi()
            ingest_routes.add_wire_schemas(schema)
            for operations in schema["paths"].values():
                for operation in operations.values():
                    if "requestBody" in operation:  # FastAPI and the handlers answer 400 for it
                        operation["responses"].setdefault(
                            "400", {"description": "Body is not valid JSON"}
                        )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
