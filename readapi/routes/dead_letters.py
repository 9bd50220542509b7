"""``GET /v1/dead-letters``: the org's messages waiting in the dead-letter stream.

The Overview warns when any exist: events that were accepted (202) but could not be stored
are not in any figure until someone re-drives them (``costobs dlq``). The stream holds every
org's dead letters; each is attributed by its source subject, and the scan (capped, cached
for a few seconds per process) happens only when the stream is not empty.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from costobs_server import dead_letters
from readapi._context import AUTH_RESPONSES, Reader

router = APIRouter(tags=["operations"], responses=AUTH_RESPONSES)
SCAN_LIMIT = 2000
CACHE_S = 10.0


class DeadLetterCount(BaseModel):
    available: bool = Field(description="false when the queue could not be asked")
    count: int = Field(description="the org's dead letters (a lower bound when not complete)")
    by_stream: dict[str, int] = Field(description="count per source stream: events, bills")
    last_failure: str | None = Field(description="when the latest was written (UTC, ISO 8601)")
    complete: bool = Field(description=f"false when more than {SCAN_LIMIT} were there to scan")


class _Scan:
    """Every org's dead letters at one moment: counts per (org, stream) and latest time."""

    def __init__(self, letters: list[dead_letters.DeadLetter], complete: bool) -> None:
        self.at = time.monotonic()
        self.complete = complete
        self.counts: Counter[tuple[str, str]] = Counter((d.org, d.stream) for d in letters)
        self.latest: dict[str, str] = {}
        for d in letters:
            self.latest[d.org] = max(self.latest.get(d.org, ""), d.last_failure)


_cache: dict[int, _Scan] = {}
_lock = asyncio.Lock()


async def _scan(nc: Any) -> _Scan:
    async with _lock:
        hit = _cache.get(id(nc))
        if hit is not None and time.monotonic() - hit.at < CACHE_S:
            return hit
        letters = await dead_letters.list_all(nc.jetstream(), limit=SCAN_LIMIT + 1)
        scan = _Scan(letters[:SCAN_LIMIT], complete=len(letters) <= SCAN_LIMIT)
        _cache.clear()
        _cache[id(nc)] = scan
        return scan


@router.get("/v1/dead-letters", response_model=DeadLetterCount)
async def dead_letter_count(org: Reader) -> dict[str, Any]:
    """How many of this org's messages could not be stored and wait as dead letters."""
    nc = org.services.nc
    try:
        if nc is None:
            raise ConnectionError("no NATS connection in this process")
        scan = await _scan(nc)
    except Exception:  # the warning is advice: the Overview must render without it
        return {
            "available": False,
            "count": 0,
            "by_stream": {},
            "last_failure": None,
            "complete": False,
        }
    by_stream = {s: n for (o, s), n in scan.counts.items() if o == org.org_id}
    return {
        "available": True,
        "count": sum(by_stream.values()),
        "by_stream": by_stream,
        "last_failure": scan.latest.get(org.org_id),
        "complete": scan.complete,
    }
