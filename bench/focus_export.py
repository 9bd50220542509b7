"""FOCUS export: rows/s and peak memory of the streamed export over a year of an org's events.

Generates N events (default 300,000; ``--events 10000000`` for the 10M-event org) spread over
``--days`` (default 365) into a fresh chDB store in a temp dir (bench/read_api.py's generator:
500 customers, 6 features and teams, 3 environments, region tags), gives each event cost parts
as the writer would (half input, half output), then:

* streams ``readapi.routes.export.focus_stream`` (the endpoint's generator: one local day per
  ClickHouse query, which groups the events and writes the rows) to nowhere, counting rows and
  bytes, while a thread samples the process's resident memory every 20 ms;
* baseline in the same run: the same dataset in one query over the whole range, the whole
  answer in memory before it is sent.

Prints rows/s, MB/s and the peak RSS growth of each.

    .venv/bin/python bench/focus_export.py [--events 300000] [--days 365] [--format csv|parquet]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.read_api import LAST_DAY, generate, settle  # noqa: E402
from costobs_server.store import EventStore  # noqa: E402
from readapi import _focus  # noqa: E402
from readapi.routes.export import focus_stream, rows_between  # noqa: E402

ORG = "bench"
TZ = "UTC"


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class PeakRss:
    """The highest resident size seen while the block runs, sampled every 20 ms."""

    def __init__(self) -> None:
        self.start = self.peak = 0.0
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mb())

    def __enter__(self) -> PeakRss:
        self.start = self.peak = rss_mb()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())

    @property
    def growth(self) -> float:
        return self.peak - self.start


async def streamed(store: EventStore, days: int, fmt: str) -> tuple[int, int]:
    first = LAST_DAY - timedelta(days=days - 1)
    size = rows = 0
    async for block in focus_stream(store, ORG, first, LAST_DAY, TZ, fmt):
        size += len(block)
        if fmt == "csv":
            rows += block.count(b"\n")
    if fmt == "csv":
        rows -= 1  # the header
    return rows, size


def materialised(store: EventStore, days: int, fmt: str) -> tuple[int, int]:
    """The baseline: the whole range in one query, the whole answer in memory."""
    first = LAST_DAY - timedelta(days=days - 1)
    encoder = _focus.encoder(fmt)
    chunk = rows_between(store, ORG, first, LAST_DAY, TZ, encoder.clickhouse_format)
    data = encoder.encode(chunk) + encoder.finish()
    return (data.count(b"\n") - 1 if fmt == "csv" else 0), len(data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="costobs-focus-bench-") as tmp:
        store = EventStore.open_chdb(Path(tmp) / "clickhouse")
        store.migrate()
        started = time.perf_counter()
        generate(store, ORG, args.events, args.days, shuffled=False)
        store.client.command(
            "ALTER TABLE events UPDATE cost_input_usd = cost_usd / 2, "
            "cost_output_usd = cost_usd - cost_usd / 2 WHERE 1 SETTINGS mutations_sync = 2"
        )
        settle(store)
        print(
            f"generated {args.events:,} events over {args.days} days in "
            f"{time.perf_counter() - started:.0f}s",
            flush=True,
        )

        with PeakRss() as memory:
            t0 = time.perf_counter()
            rows, size = asyncio.run(streamed(store, args.days, args.format))
            elapsed = time.perf_counter() - t0
        print(
            f"streamed export ({args.format}): {rows:,} rows, {size / 1e6:.1f} MB in "
            f"{elapsed:.1f}s = {rows / elapsed:,.0f} rows/s, {args.events / elapsed:,.0f} "
            f"events/s; peak RSS +{memory.growth:.0f} MB (from {memory.start:.0f} MB)",
            flush=True,
        )
        with PeakRss() as memory:
            t0 = time.perf_counter()
            base_rows, base_size = materialised(store, args.days, args.format)
            elapsed = time.perf_counter() - t0
        print(
            f"baseline, whole range in memory: {base_rows:,} rows, {base_size / 1e6:.1f} MB in "
            f"{elapsed:.1f}s = {base_rows / elapsed:,.0f} rows/s; peak RSS "
            f"+{memory.growth:.0f} MB",
            flush=True,
        )
        if args.format == "csv" and (base_rows, base_size) != (rows, size):
            print("MISMATCH: the streamed and the baseline datasets differ", flush=True)
            return 1
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
