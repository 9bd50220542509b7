"""The org-scoped JSON read API, served next to ingest and read by the dashboard.

Every endpoint takes its org from the API key (``read`` scope; key management ``admin``),
ranges are local days in the org's time zone, money is a decimal string, and answers come from
the rollups where they can (see ``readapi._sql`` for which table answers what).
"""

from __future__ import annotations

from fastapi import APIRouter

from readapi import (
    _admin,
    _currency,
    _export,
    _forecasting,
    _prompts,
    _reconciling,
    _requests,
    _spend,
)

router = APIRouter()
for _part in (_spend, _requests, _prompts, _forecasting, _reconciling, _admin, _export, _currency):
    router.include_router(_part.router)

__all__ = ["router"]
