"""A 10-minute ingest outage at 1,000 events/s, ridden out by the SDK's on-disk spill.

    .venv/bin/python bench/sdk_spill.py [--events 600000]

A loopback ingest (127.0.0.1) answers 503 while "down" and otherwise stores each event by
``request_id``. Three runs of the same ``--events`` events, generated as fast as the SDK's
worker takes them (the count stands for the outage's length at 1,000 events/s):

1. baseline: the ingest is up all along (what the SDK and this receiver sustain);
2. spill: the ingest is down while every event is recorded, then comes back: on-disk size
   (gzipped), drops, time to drain and whether each event arrived exactly once;
3. no spill: the same outage without ``spill_dir``: what would have been dropped.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import costobs
from costobs import _shipper


class Ingest:
    def __init__(self) -> None:
        self.down = False
        self.ids: set[str] = set()
        self.received = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if outer.down:
                    return self._send(503, b'{"error":"down"}')
                events = json.loads(gzip.decompress(raw))["events"]
                with outer.lock:
                    before = len(outer.ids)
                    outer.ids.update(e["request_id"] for e in events)
                    outer.received += len(events)
                    new = len(outer.ids) - before
                body = json.dumps({"accepted": new, "duplicates": len(events) - new})
                self._send(202, body.encode())

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()


def record(count: int) -> None:
    """``count`` events as fast as the worker takes them (back-pressure, not wall clock)."""
    shipper = _shipper.get()
    for start in range(0, count, 1000):
        for i in range(min(1000, count - start)):
            costobs.record(
                provider="openai",
                model="gpt-4o",
                input_tokens=1200 + i,
                output_tokens=300,
                feature="summarize",
                customer_id=f"cust-{i % 50}",
            )
        while len(shipper._queue) > 4000:
            time.sleep(0.002)


def run(events: int, down: bool, spill: Path | None) -> dict[str, Any]:
    _shipper.shutdown(1.0)
    costobs._stats.COUNTERS.__init__()  # type: ignore[misc]
    ingest = Ingest()
    ingest.down = down
    costobs.configure(
        ingest_url=ingest.url,
        api_key="bench",
        max_batch_events=1000,
        flush_interval=0.2,
        spill_dir=str(spill) if spill else None,
        spill_max_bytes=512 * 1024 * 1024,
    )
    t0 = time.perf_counter()
    record(events)
    costobs.flush(0 if down else 600)
    recorded = time.perf_counter() - t0
    on_disk = sum(p.stat().st_size for p in spill.iterdir()) if spill else 0
    dropped_during = costobs.stats().dropped_total
    drain = 0.0
    if down:
        ingest.down = False
        t1 = time.perf_counter()
        costobs.flush(600)
        drain = time.perf_counter() - t1
    stats = costobs.stats()
    ingest.server.shutdown()
    return {
        "record_s": recorded,
        "drain_s": drain,
        "on_disk": on_disk,
        "dropped_during_outage": dropped_during,
        "dropped": stats.dropped,
        "stored": len(ingest.ids),
        "received": ingest.received,
        "spilled": stats.spilled,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=600_000)
    args = parser.parse_args()
    n = args.events
    print(f"{n:,} events = a {n / 1000 / 60:.1f}-minute outage at 1,000 events/s")
    base = run(n, down=False, spill=None)
    print(
        f"baseline (ingest up): {n / base['record_s']:,.0f} events/s recorded and delivered; "
        f"stored {base['stored']:,}, dropped {base['dropped']}"
    )
    tmp = Path(tempfile.mkdtemp(prefix="costobs-spill-"))
    try:
        spilled = run(n, down=True, spill=tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    once = spilled["stored"] == n == spilled["received"]
    print(
        f"spill (ingest down while recording): {spilled['spilled']:,} events spilled into "
        f"{spilled['on_disk'] / 1e6:.1f} MB gzipped ({spilled['on_disk'] / n:.1f} B/event); "
        f"dropped {spilled['dropped']}; after recovery drained in {spilled['drain_s']:.1f} s "
        f"({n / max(spilled['drain_s'], 1e-9):,.0f} events/s); stored {spilled['stored']:,}, "
        f"received {spilled['received']:,} → exactly once: {once}"
    )
    lost = run(n, down=True, spill=None)
    print(
        f"no spill (same outage): dropped {lost['dropped_during_outage']:,} while down "
        f"({lost['dropped']}); stored {lost['stored']:,} after recovery"
    )
    return 0 if once and not spilled["dropped"] else 1


if __name__ == "__main__":
    sys.exit(main())
