"""Read-API latency at 10M events.

Generates N events (default 10,000,000) straight into a fresh chDB store in a temp dir with
``INSERT INTO events SELECT … FROM numbers(N)`` (the materialized views fill every rollup as in
production; in time order, as the writer inserts), runs the compactor (the pair rollups, which
the writer fills in the background for closed days; timed), waits for ClickHouse's background
merges to finish, then calls each read endpoint in-process through the real FastAPI app (auth, query
building, ClickHouse, JSON) with varied ranges, and prints p50/p95 per endpoint.

Targets: p95 < 300 ms for every endpoint except the raw requests search (< 1 s).

    .venv/bin/python bench/read_api.py [--events 10000000] [--repeat 20] [--days 120]
        [--keep DIR] [--only NAME …] [--shuffled]

``--keep DIR`` generates into DIR once and reuses it on later runs (for iterating on one
endpoint with ``--only``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from costobs_server.http_app import create_app  # noqa: E402
from costobs_server.metadata.db import MetadataDB  # noqa: E402
from costobs_server.runtime import Services  # noqa: E402
from costobs_server.settings import load_settings  # noqa: E402
from costobs_server.store import EventStore  # noqa: E402
from costobs_server.store.compaction import compact  # noqa: E402

LAST_DAY = date(2026, 10, 31)
CHUNK = 2_000_000

# (provider, model, input $/token ×1e7, output $/token ×1e7)
MODELS = [
    ("openai", "gpt-4o", 25, 100),
    ("openai", "gpt-4o-mini", 1, 6),
    ("openai", "gpt-4.1", 20, 80),
    ("openai", "o4-mini", 11, 44),
    ("anthropic", "claude-sonnet-4-5", 30, 150),
    ("anthropic", "claude-haiku-4-5", 10, 50),
    ("gemini", "gemini-2.5-flash", 3, 25),
    ("gemini", "gemini-2.5-pro", 12, 100),
    ("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", 30, 150),
    ("mistral", "mystery-model", 0, 0),
]
FEATURES = ["summarize", "chat", "search", "extract", "classify", "draft-email"]
TEAMS = ["docs", "support", "discovery", "payments", "payments", "growth"]


def _array(values: list[Any]) -> str:
    return "[" + ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values) + "]"


def generate(store: EventStore, org: str, events: int, days: int, shuffled: bool) -> None:
    """Bench data only: literals below are the generator's own constants, not user input.

    Users belong to one customer each (10 of 5,000 per customer), as the product models them
    (a customer's end users). Events come in time order, as the writer inserts them (each
    insert lands in a few days of every rollup). ``shuffled`` spreads every insert over the
    whole range instead: each of the five inserts then adds rows to every day, half-month and
    hour of every rollup, which background merges take a long time to fold; a worst case no
    writer produces."""
    first = LAST_DAY - timedelta(days=days - 1)
    span_ms = days * 86_400_000
    if shuffled:
        offset_ms = f"cityHash64(n, 1) % {span_ms}"
    else:
        offset_ms = f"intDiv(n * {span_ms} + cityHash64(n, 1) % {span_ms}, {events})"
    models = _array([m[1] for m in MODELS])
    providers = _array([m[0] for m in MODELS])
    rate_in = _array([m[2] for m in MODELS])
    rate_out = _array([m[3] for m in MODELS])
    for offset in range(0, events, CHUNK):
        size = min(CHUNK, events - offset)
        store.client.command(
            f"""
            INSERT INTO events (org_id, request_id, timestamp, received_at, provider, model,
                operation, customer_id, user_id, trace_id, feature, team, service, environment,
                prompt_key, prompt_version, tags, input_tokens, cached_input_tokens,
                output_tokens, reasoning_tokens, status, error_type, latency_ms, cost_usd,
                unpriced, pricing_version, sdk_language, sdk_version)
            SELECT
                {org!r},
                lower(hex(cityHash64(n, 0))) || lower(hex(cityHash64(n, 99))),
                ts, ts,
                {providers}[mi], {models}[mi], 'chat',
                'cust-' || toString(cityHash64(n, 3) % 500),
                'user-' || toString(cityHash64(n, 3) % 500 * 10 + cityHash64(n, 4) % 10),
                'trace-' || toString(intDiv(n, 4)),
                {_array(FEATURES)}[fi], {_array(TEAMS)}[fi],
                if(fi = 6, 'worker', 'api'),
                env,
                ['summary', 'support-chat', 'invoice-extract', '', '', ''][fi],
                if(fi <= 3, 'v' || toString(1 + cityHash64(n, 7) % 3), ''),
                if(env = 'preview',
                   map('region', ['us', 'eu', 'apac'][1 + cityHash64(n, 8) % 3],
                       'pr', toString(1200 + cityHash64(n, 9) % 60)),
                   map('region', ['us', 'eu', 'apac'][1 + cityHash64(n, 8) % 3])),
                inp, intDiv(inp, 5), outp, intDiv(outp, 3),
                if(cityHash64(n, 10) % 100 < 2, 'error', 'ok'),
                if(cityHash64(n, 10) % 100 < 2, 'RateLimitError', ''),
                100 + cityHash64(n, 11) % 4000,
                toDecimal128(inp * {rate_in}[mi] + outp * {rate_out}[mi], 18) / 10000000,
                mi = 10, 'bench', 'python', 'bench'
            FROM (
                SELECT
                    number + {offset} AS n,
                    toDateTime64('{first} 00:00:00', 3, 'UTC')
                        + toIntervalMillisecond({offset_ms}) AS ts,
                    1 + cityHash64(n, 2) % {len(MODELS)} AS mi,
                    1 + cityHash64(n, 5) % {len(FEATURES)} AS fi,
                    multiIf(cityHash64(n, 6) % 100 < 85, 'prod',
                            cityHash64(n, 6) % 100 < 95, 'staging', 'preview') AS env,
                    100 + cityHash64(n, 12) % 8000 AS inp,
                    cityHash64(n, 13) % 1200 AS outp
                FROM numbers({size})
            )
            """
        )
        print(f"  inserted {offset + size:,} events", flush=True)


def settle(store: EventStore, limit_s: float = 900) -> None:
    """Wait until no background merge runs: a store that has been up a while has merged its
    parts, and merges would compete with the queries for this machine's two cores."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit_s:
        if not store.query("SELECT count() FROM system.merges")[0][0]:
            break
        time.sleep(1)
    parts = store.query("SELECT count() FROM system.parts WHERE active")[0][0]
    waited = time.perf_counter() - started
    print(f"  merges settled after {waited:.0f}s ({parts} active parts)", flush=True)


def ranges(rng: random.Random, days: int) -> dict[str, str]:
    length = rng.choice([1, 7, 30, 30, 90])
    length = min(length, days)
    end = LAST_DAY - timedelta(days=rng.randint(0, max(0, days - length)))
    return {"from": (end - timedelta(days=length - 1)).isoformat(), "to": end.isoformat()}


Params = Callable[[random.Random], dict[str, Any]]
Case = tuple[str, str, Params, float]
"""(name, path, parameters from a seeded RNG, p95 target in ms)."""


def cases(days: int, events: int, rid: str, ts: str) -> list[Case]:
    def r(g: random.Random) -> dict[str, Any]:
        return ranges(g, days)

    def with_(**extra: Any) -> Params:
        return lambda g: {**r(g), **{k: v(g) if callable(v) else v for k, v in extra.items()}}

    return [
        ("summary", "/v1/summary", r, 300),
        ("series", "/v1/series", r, 300),
        ("series by model", "/v1/series", with_(group_by="model"), 300),
        ("breakdown model", "/v1/breakdown", with_(by="model"), 300),
        ("breakdown canonical_model", "/v1/breakdown", with_(by="canonical_model"), 300),
        ("breakdown model status=failed", "/v1/breakdown", with_(by="model", status="failed"), 300),
        (
            "breakdown feature/team/env",
            "/v1/breakdown",
            with_(by=lambda g: g.choice(["feature", "team", "environment"])),
            300,
        ),
        ("breakdown customer", "/v1/breakdown", with_(by="customer"), 300),
        ("breakdown user", "/v1/breakdown", with_(by="user"), 300),
        ("breakdown feature × model", "/v1/breakdown", with_(by="feature", then="model"), 300),
        ("breakdown tag:pr", "/v1/breakdown", with_(by="tag:pr"), 300),
        ("breakdown tag × model", "/v1/breakdown", with_(by="tag:region", then="model"), 300),
        ("breakdown customer × model", "/v1/breakdown", with_(by="customer", then="model"), 300),
        ("breakdown user × model", "/v1/breakdown", with_(by="user", then="model"), 300),
        ("breakdown user × provider", "/v1/breakdown", with_(by="user", then="provider"), 300),
        (
            "breakdown customer × provider",
            "/v1/breakdown",
            with_(by="customer", then="provider"),
            300,
        ),
        # two levels the pair rollups answer (filled by the compactor for closed days)
        (
            "breakdown customer × feature",
            "/v1/breakdown",
            with_(by="customer", then="feature"),
            300,
        ),
        ("breakdown user × team", "/v1/breakdown", with_(by="user", then="team"), 300),
        ("breakdown customer × user", "/v1/breakdown", with_(by="customer", then="user"), 300),
        ("breakdown tag × customer", "/v1/breakdown", with_(by="tag:pr", then="customer"), 300),
        ("breakdown tag × tag", "/v1/breakdown", with_(by="tag:pr", then="tag:region"), 300),
        ("tags", "/v1/tags", r, 300),
        ("unpriced", "/v1/unpriced", r, 300),
        ("prompts", "/v1/prompts", r, 300),
        ("prompt compare", "/v1/prompts/compare", with_(prompt_key="summary"), 300),
        (
            "forecast",
            "/v1/forecast",
            lambda g: {"as_of": LAST_DAY.isoformat(), "monthly_budget_usd": "5000"},
            300,
        ),
        ("reconcile", "/v1/reconcile", r, 300),
        ("org", "/v1/org", lambda g: {}, 300),
        ("requests newest", "/v1/requests", with_(limit=50), 1000),
        (
            "requests filtered",
            "/v1/requests",
            with_(customer_id=lambda g: f"cust-{g.randint(0, 499)}", model="gpt-4o", limit=50),
            1000,
        ),
        (
            "requests by tag",
            "/v1/requests",
            with_(tag=lambda g: f"pr:{g.randint(1200, 1259)}"),
            1000,
        ),
        (
            "requests by trace",
            "/v1/requests",
            with_(trace_id=lambda g: f"trace-{g.randint(0, events // 4)}"),
            1000,
        ),
        ("request detail", f"/v1/requests/{rid}", lambda g: {}, 300),
        ("request detail, ts hint", f"/v1/requests/{rid}", lambda g: {"timestamp": ts}, 300),
    ]


async def time_endpoint(
    client: httpx.AsyncClient, url: str, params: Params, repeat: int, seed: int
) -> list[float]:
    rng = random.Random(seed)
    timings = []
    for i in range(repeat + 2):
        query = params(rng)
        started = time.perf_counter()
        r = await client.get(url, params=query)
        elapsed = time.perf_counter() - started
        if r.status_code != 200:
            raise RuntimeError(f"{url} {query} answered {r.status_code}: {r.text[:300]}")
        if i >= 2:  # the first calls warm caches and the thread's chDB handle
            timings.append(elapsed * 1000)
    return timings


def raw_baseline(store: EventStore, days: int, repeat: int, seed: int) -> list[float]:
    """The same breakdown as the read API's user × model case (same seeded ranges), computed
    by grouping raw events: what the rollups save."""
    rng = random.Random(seed)
    timings = []
    for i in range(repeat + 2):
        r = ranges(rng, days)
        a = datetime.fromisoformat(r["from"])
        b = datetime.fromisoformat(r["to"]) + timedelta(days=1)
        started = time.perf_counter()
        store.query(
            "SELECT user_id, model, count(), sum(input_tokens), sum(output_tokens), "
            "sum(cost_usd) AS c FROM events WHERE org_id = 'bench' "
            "AND timestamp >= {a:DateTime64(3, 'UTC')} AND timestamp < {b:DateTime64(3, 'UTC')} "
            "GROUP BY user_id, model ORDER BY c DESC, user_id, model LIMIT 101",
            {"a": a, "b": b},
        )
        if i >= 2:
            timings.append((time.perf_counter() - started) * 1000)
    return timings


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as stack:
        if args.keep:
            root = Path(args.keep)  # made by main()
        else:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="costobs-bench-")))
        settings = load_settings(data_dir=root, metadata_url=f"sqlite:///{root / 'meta.db'}")
        store = EventStore.open_chdb(settings.chdb_path)
        store.migrate()
        db = MetadataDB.connect(settings.metadata_db_url)
        db.migrate()
        existing = store.query("SELECT count() FROM events WHERE org_id = 'bench'")[0][0]
        if existing == args.events:
            print(f"reusing {existing:,} events in {root}", flush=True)
        else:
            if existing:
                raise SystemExit(f"{root} holds {existing:,} events, not {args.events:,}")
            started = time.perf_counter()
            print(f"generating {args.events:,} events over {args.days} days…", flush=True)
            generate(store, "bench", args.events, args.days, args.shuffled)
            print(f"  done in {time.perf_counter() - started:.1f}s", flush=True)
        started = time.perf_counter()
        compacted = compact(store)
        print(
            f"  compactor: {compacted.days} days, {compacted.halves} half-months of pair rollups "
            f"in {time.perf_counter() - started:.1f}s",
            flush=True,
        )
        settle(store)
        counts = {
            t: store.query(f"SELECT count() FROM {t}")[0][0]
            for t in (
                "events",
                "cost_model_hourly",
                "cost_model_quarter",
                "cost_dim_model_daily",
                "cost_dim_model_half",
                "cost_tag_hourly",
                "cost_pair_daily",
                "cost_pair_half",
            )
        }
        print("  rows: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()), flush=True)
        names = [c[0] for c in cases(args.days, args.events, "", "")]
        seed = names.index("breakdown user × model")
        timings = raw_baseline(store, args.days, args.repeat, seed)
        print(
            "\nbaseline: breakdown user × model straight from raw events, same ranges, UTC"
            f"\n  p50 {percentile(timings, 0.5):.1f} ms, p95 {percentile(timings, 0.95):.1f} ms",
            flush=True,
        )
        app = create_app(Services(settings, db, store, None))
        failures = 0
        for timezone in args.timezones:
            db.ensure_org("bench", timezone=timezone)
            with db.session() as s, s.begin():
                from costobs_server.metadata.models import Org

                org = s.get(Org, "bench")
                assert org is not None
                org.timezone = timezone
            key = db.create_key("bench", f"bench {timezone}", ("read", "admin")).secret
            headers = {"Authorization": f"Bearer {key}"}
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://bench", headers=headers, timeout=60
            ) as client:
                sample = (await client.get("/v1/requests", params={"limit": 1})).json()
                rid, ts = sample["items"][0]["request_id"], sample["items"][0]["timestamp"]
                todo = list(enumerate(cases(args.days, args.events, rid, ts)))
                if args.only:  # seeds stay the case's index, so ranges match a full run
                    todo = [(i, c) for i, c in todo if any(o in c[0] for o in args.only)]
                print(f"\norg time zone {timezone}  ({args.repeat} calls each, varied ranges)")
                print(f"  {'endpoint':<31}{'p50 ms':>9}{'p95 ms':>9}{'target':>9}")
                for i, (name, path, params, target) in todo:
                    timings = await time_endpoint(client, path, params, args.repeat, seed=i)
                    p50, p95 = percentile(timings, 0.5), percentile(timings, 0.95)
                    ok = p95 < target
                    failures += not ok
                    verdict = "ok" if ok else "SLOW"
                    print(
                        f"  {name:<31}{p50:>9.1f}{p95:>9.1f}{target:>9.0f}  {verdict}", flush=True
                    )
        store.close()
        db.engine.dispose()
    return 1 if failures and args.strict else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument(
        "--timezones",
        nargs="+",
        default=["UTC", "Europe/Berlin", "Asia/Kolkata"],
        help="org time zones to measure (UTC: daily rollups, whole-hour: hourly, :30/:45: "
        "hourly and quarter-hour)",
    )
    parser.add_argument(
        "--shuffled", action="store_true", help="insert in random time order (a worst case)"
    )
    parser.add_argument("--keep", metavar="DIR", help="generate into DIR once, reuse it later")
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", help="endpoints whose name contains NAME"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
