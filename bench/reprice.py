"""Re-pricing: events/s of ``costobs reprice`` (dry run and apply) over days of one org.

Stores ``--events`` (default 40,000) over ``--days`` (default 2) UTC days in a fresh chDB
store in a temp dir, priced by the writer's processor and inserted as the writer does, then
adds a 20% discount on half of the models (so half the events change) and runs a dry run and
an apply (``costobs_server.repricing.reprice``, the command's own code). Baseline in the same
run: storing the same events in the first place (the writer's insert with its rollups).

    .venv/bin/python bench/reprice.py [--events 40000] [--days 2]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from consumers.pricer import Pricer  # noqa: E402
from consumers.processor import merge, rows_from_message  # noqa: E402
from costobs_server.metadata.db import MetadataDB  # noqa: E402
from costobs_server.repricing import Request, reprice  # noqa: E402
from costobs_server.store import EventStore  # noqa: E402

ORG = "bench"
FIRST = date(2026, 10, 5)
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "claude-haiku-4-5")


def events(n: int, days: int) -> list[dict[str, object]]:
    out = []
    for i in range(n):
        day = FIRST + timedelta(days=i % days)
        model = MODELS[i % len(MODELS)]
        out.append(
            {
                "request_id": f"b{i}",
                "timestamp": f"{day}T{i % 24:02d}:{i % 60:02d}:00Z",
                "provider": "anthropic" if model.startswith("claude") else "openai",
                "model": model,
                "customer_id": f"c{i % 500}",
                "user_id": f"u{i % 2000}",
                "feature": f"f{i % 6}",
                "tags": {"region": ("eu", "us")[i % 2]},
                "usage": {"input_tokens": 500 + i % 1000, "output_tokens": 50 + i % 300},
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--days", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = EventStore.open_chdb(Path(tmp) / "clickhouse")
        store.migrate()
        db = MetadataDB.connect(f"sqlite:///{tmp}/metadata.sqlite3")
        db.migrate()
        db.ensure_org(ORG)
        pricer = Pricer(overrides=db.price_overrides, refresh_seconds=math.inf)
        stored = 0.0
        batch = 20_000
        all_events = events(args.events, args.days)
        for start in range(0, len(all_events), batch):
            envelope = orjson.dumps(
                {
                    "org_id": ORG,
                    "received_at": "2026-11-01T00:00:00Z",
                    "events": all_events[start : start + batch],
                }
            )
            block = merge([rows_from_message(envelope, 1, pricer)]).block
            t0 = time.perf_counter()
            store.insert_events(block, uuid.uuid4().hex)
            stored += time.perf_counter() - t0
        for model in ("gpt-4o", "claude-sonnet-4-5"):
            db.add_price_override(ORG, {"kind": "discount", "multiplier": "0.8", "model": model})
        last = FIRST + timedelta(days=args.days - 1)
        timings = {}
        for dry in (True, False):
            t0 = time.perf_counter()
            summary = reprice(
                store,
                Pricer(overrides=db.price_overrides, refresh_seconds=math.inf),
                Request(FIRST, last, org=ORG, dry_run=dry),
            )
            timings[dry] = time.perf_counter() - t0
            total = summary.total
            print(
                f"{'dry run' if dry else 'apply  '}: {total.checked} events, {total.changed} "
                f"changed in {timings[dry]:.1f}s = {total.checked / timings[dry]:,.0f} events/s"
            )
        n = args.events
        print(
            f"baseline: the writer's inserts of the same events {stored:.1f}s "
            f"= {n / stored:,.0f} events/s (ClickHouse only; pricing not included)"
        )
        store.close()


if __name__ == "__main__":
    main()
