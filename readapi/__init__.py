"""The org-scoped JSON read API, served next to ingest and read by the dashboard.

Every endpoint takes its org from the API key (``read`` scope; key management ``admin``),
ranges are local days in the org's time zone, money is a decimal string, and answers come from
the rollups where they can (see ``readapi.sql`` for which table answers what).

Layout: ``readapi.routes`` holds the HTTP routers (one module per group of endpoints),
``readapi.sql`` the queries (pure, one module per question), ``readapi.math`` the pure
helpers (date ranges and their cover, forecasts, reconciliation and drift, breakdown
remainders, statuses); ``_context`` is the per-request scope, ``_models`` the response
schemas.
"""

from __future__ import annotations

from fastapi import APIRouter

from readapi.routes import admin as admin_routes
from readapi.routes import currency as currency_routes
from readapi.routes import dead_letters as dead_letter_routes
from readapi.routes import export as export_routes
from readapi.routes import forecast as forecast_routes
from readapi.routes import prompts as prompts_routes
from readapi.routes import reconcile as reconcile_routes
from readapi.routes import reprice as reprice_routes
from readapi.routes import requests as requests_routes
from readapi.routes import spend as spend_routes

router = APIRouter()
for _part in (
    spend_routes,
    requests_routes,
    prompts_routes,
    forecast_routes,
    reconcile_routes,
    admin_routes,
    export_routes,
    currency_routes,
    dead_letter_routes,
    reprice_routes,
):
    router.include_router(_part.router)

__all__ = ["router"]
