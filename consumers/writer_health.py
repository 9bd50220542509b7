"""The writer's ``/healthz`` report (served by ``costobs_server.health`` on COSTOBS_WRITER_PORT).

Healthy means the writer can do its job: connected to NATS, ClickHouse answers a query within
COSTOBS_HEALTH_TIMEOUT_S, and it is not stuck retrying a failing store call for longer than
COSTOBS_WRITER_UNHEALTHY_AFTER_S. A short outage is not a failure (the writer pauses and
retries, keeping its messages in progress), so a restart is asked for only when it lasts.
"""

from __future__ import annotations

import asyncio
import time

from consumers.writer import Writer
from costobs_server.health import Report, probe


async def writer_report(writer: Writer, timeout_s: float, unhealthy_after_s: float) -> Report:
    report = await probe(
        {"clickhouse": asyncio.to_thread(writer.store.query, "SELECT 1")}, timeout_s
    )
    report["nats"] = writer.nc.is_connected
    since = writer.failing_since
    failing_s = None if since is None else round(time.monotonic() - since, 1)
    report["store_failing_s"] = failing_s
    if failing_s is not None and failing_s > unhealthy_after_s:
        report.setdefault("problems", {})["retrying"] = (
            f"ClickHouse calls have failed for {failing_s:.0f}s, longer than "
            f"COSTOBS_WRITER_UNHEALTHY_AFTER_S={unhealthy_after_s:g}; last: {writer.last_failure}"
        )
    report.update(
        inserted=writer.stats.inserted,
        duplicates=writer.stats.duplicates,
        dead_lettered=writer.stats.dead_lettered,
    )
    return report
