"""``costobs demo-data``: realistic synthetic events sent through the real ingest path, and
simulated provider bills for the reconcile page.

The generator is pure (``generate_events``, ``simulate_bills``) and seeded, so tests can check
what it makes; ``send_demo_data`` does the HTTP.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import httpx
from costobs.pricing import PriceTable, load_price_table
from tqdm import tqdm

from costobs_server.errors import CostObsError

BATCH = 500


@dataclass(frozen=True)
class Model:
    provider: str
    model: str
    weight: float
    input_range: tuple[int, int]
    output_range: tuple[int, int]
    cache_share: float = 0.0
    reasoning_share: float = 0.0
    gateway_host: str | None = None
    """A call through a company gateway (an unknown host to the SDK): priced as the model."""


# Consistent provider/model pairs, all present in pricing/prices.yaml.
MODELS = (
    Model("openai", "gpt-4o", 0.16, (300, 6000), (50, 800), cache_share=0.3),
    Model("openai", "gpt-4o-mini", 0.22, (200, 4000), (30, 600), cache_share=0.2),
    Model("openai", "gpt-4.1", 0.06, (500, 12000), (80, 1200), cache_share=0.4),
    Model("openai", "o4-mini", 0.05, (300, 5000), (400, 4000), reasoning_share=0.6),
    Model("openai", "text-embedding-3-small", 0.08, (50, 3000), (0, 0)),
    Model("anthropic", "claude-sonnet-4-5", 0.14, (800, 20000), (100, 1500), cache_share=0.5),
    Model("anthropic", "claude-haiku-4-5", 0.10, (200, 5000), (50, 700), cache_share=0.3),
    Model("gemini", "gemini-2.5-flash", 0.11, (300, 8000), (50, 900), reasoning_share=0.3),
    Model("gemini", "gemini-2.5-pro", 0.04, (1000, 30000), (200, 3000), reasoning_share=0.5),
    Model(
        "bedrock",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        0.04,
        (800, 15000),
        (100, 1200),
        cache_share=0.3,
    ),
)
ROUTES = (
    (0.15, Model("vertex", "claude-sonnet-4-5@20250929", 0, (0, 0), (0, 0))),
    (
        0.2,
        Model(
            "openai_compatible",
            "anthropic/claude-sonnet-4-5",
            0,
            (0, 0),
            (0, 0),
            gateway_host="llm-gateway.internal:4000",
        ),
    ),
)
"""Shares of Claude Sonnet 4.5 calls made through Vertex and through a LiteLLM gateway: one
canonical model however it is reached. Drawn from a second RNG, so the rest of the data is the
same whatever these are."""
FEATURES = ("summarize", "chat", "search", "extract", "classify", "draft-email")
TEAMS = {
    "summarize": "docs",
    "chat": "support",
    "search": "discovery",
    "extract": "payments",
    "classify": "payments",
    "draft-email": "growth",
}
ENVIRONMENTS = (("prod", 0.85), ("staging", 0.10), ("preview", 0.05))
REGIONS = ("us", "eu", "apac")
PROMPTS = {
    "summarize": ("summary", ("v1", "v2", "v3")),
    "chat": ("support-chat", ("v7", "v8")),
    "extract": ("invoice-extract", ("v1", "v2")),
}
ERRORS = ("RateLimitError", "APITimeoutError", "InternalServerError")
FAILURES = (("error", 0.5), ("timeout", 0.3), ("cancelled", 0.2))
"""How the ~2% failed calls end: refused (no usage), timed out or cut off by the caller after
generation started (the input and part of the output known and billed)."""


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]


def _routed(model: Model, extra: random.Random) -> Model:
    """Claude Sonnet 4.5 through Vertex or a gateway for some calls (same usage ranges)."""
    if (model.provider, model.model) != ("anthropic", "claude-sonnet-4-5"):
        return model
    draw = extra.random()
    for share, route in ROUTES:
        if draw < share:
            return route
        draw -= share
    return model


def day_weights(days: int, end: date) -> list[tuple[date, float]]:
    """Weekday seasonality (weekends ~40%) on a growth trend of ~1.5% a day."""
    out = []
    for i in range(days):
        day = end - timedelta(days=days - 1 - i)
        weekday = 1.0 if day.weekday() < 5 else 0.4
        out.append((day, weekday * math.exp(0.015 * i)))
    return out


def generate_events(
    count: int,
    days: int,
    seed: int = 42,
    now: datetime | None = None,
    table: PriceTable | None = None,
) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    extra = random.Random(seed + 16)  # issue 16's draws: the rest of the data stays as it was
    table = table or load_price_table()
    now = now or datetime.now(UTC)
    schedule = day_weights(days, now.date())
    customers = [f"cust-{i:03d}" for i in range(1, 61)]
    customer_weights = [1 / (i + 1) ** 1.1 for i in range(len(customers))]  # a few big ones
    for _ in range(count):
        day = rng.choices([d for d, _ in schedule], [w for _, w in schedule])[0]
        seconds = int(rng.betavariate(2.5, 2.5) * 86399)  # busier mid-day
        ts = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=seconds)
        ts = min(ts, now - timedelta(seconds=1))
        model = rng.choices(MODELS, [m.weight for m in MODELS])[0]
        feature = "search" if model.model.startswith("text-embedding") else rng.choice(FEATURES)
        environment = _pick(rng, ENVIRONMENTS)
        prompt_tokens = rng.randint(*model.input_range)
        cached = int(prompt_tokens * model.cache_share * rng.random())
        output = rng.randint(*model.output_range)
        usage: dict[str, Any] = {"input_tokens": prompt_tokens - cached, "output_tokens": output}
        if cached:
            usage["cached_input_tokens"] = cached
        if model.reasoning_share and output:
            usage["reasoning_tokens"] = int(output * model.reasoning_share)
        model = _routed(model, extra)
        failed = rng.random() < 0.02
        status = _pick(extra, FAILURES) if failed else "ok"
        if status == "error":
            usage = {"input_tokens": 0, "output_tokens": 0}
        elif failed:  # generation had started: the prompt and part of the output are billed
            usage["output_tokens"] = int(output * extra.random())
            usage.pop("reasoning_tokens", None)
        operation = "embedding" if model.model.startswith("text-embedding") else "chat"
        streaming = operation == "chat" and rng.random() < 0.3
        tags = {"region": rng.choice(REGIONS)}
        if environment == "preview":
            tags["pr"] = str(rng.randint(1200, 1260))
            tags["engineer"] = rng.choice(("ada", "grace", "linus", "margaret"))
        event: dict[str, Any] = {
            "request_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "timestamp": ts.isoformat(timespec="milliseconds"),
            "provider": model.provider,
            "model": model.model,
            "operation": operation,
            "customer_id": rng.choices(customers, customer_weights)[0],
            "user_id": f"user-{rng.randint(1, 400)}",
            "feature": feature,
            "team": TEAMS[feature],
            "service": "api" if feature != "draft-email" else "worker",
            "environment": environment,
            "tags": tags,
            "usage": usage,
            "status": status,
            "latency_ms": int(rng.lognormvariate(6.5, 0.6)),
            "streaming": streaming,
            "sdk_language": "python",
            "sdk_version": "demo",
        }
        if failed:  # drawn for every failed call, as before issue 16: the data stays the same
            drawn = rng.choice(ERRORS)
            if status == "timeout":
                event["error_type"] = "APITimeoutError"
            elif status == "error":
                event["error_type"] = "InternalServerError" if drawn == ERRORS[1] else drawn
        if model.gateway_host:
            event["gateway_host"] = model.gateway_host
            event["gateway"] = "litellm"
        if streaming:
            event["time_to_first_token_ms"] = int(event["latency_ms"] * rng.uniform(0.1, 0.4))
        if feature in PROMPTS:
            key, versions = PROMPTS[feature]
            event["prompt_key"], event["prompt_version"] = key, rng.choice(versions)
        # as the SDK and the writer do: a gateway call is recorded under its model's provider
        quote = table.quote_call(
            model.provider, model.model, usage, at=ts, gateway=model.gateway_host is not None
        )
        event["provider"] = quote.provider
        event["canonical_model"] = quote.canonical_model
        event["cost_usd"] = format(quote.cost_usd, "f")
        event["pricing_version"] = quote.version
        yield event


ITEMISED = ("openai", "anthropic")
"""Providers whose admin APIs bill per line item (model and token type): their demo bills are
per model, so Reconcile explains drift per model."""
STABLE_DRIFT = {("anthropic", "claude-sonnet-4-5"): Decimal("0.04")}
"""A model billed a steady 4 % over tracked: Reconcile suggests the override that closes it."""


def simulate_bills(events: list[dict[str, Any]], seed: int = 42) -> list[dict[str, str]]:
    """Daily bills per provider (per model for itemised providers): tracked spend with a small
    drift, rounded to cents the way invoices are, plus untracked spend (a provider no SDK event
    covers) on some days."""
    rng = random.Random(seed + 1)
    items: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    tracked: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for e in events:
        day = e["timestamp"][:10]
        model = e["canonical_model"] if e["provider"] in ITEMISED else ""
        items[(e["provider"], day, model)] += Decimal(e["cost_usd"])
        tracked[(e["provider"], day)] += Decimal(e["cost_usd"])
    cent = Decimal("0.01")
    bills = []
    for (provider, day, model), cost in sorted(items.items()):
        drift = STABLE_DRIFT.get((provider, model))
        if drift is None:
            drift = Decimal(rng.randint(-30, 60)) / 1000  # -3% .. +6%
        billed = (cost * (1 + drift)).quantize(cent, ROUND_HALF_EVEN)
        bills.append(
            {
                "provider": provider,
                "date": day,
                "billed_usd": str(billed),
                "source": "demo",
                "line_item": f"{model}, tokens" if model else "",
            }
        )
    for day in sorted({d for _, d in tracked}):
        if rng.random() < 0.5:
            amount = Decimal(rng.randint(50, 900)) / 100
            bills.append(
                {
                    "provider": "mistral",
                    "date": day,
                    "billed_usd": str(amount),
                    "source": "demo",
                    "line_item": "untracked batch jobs",
                }
            )
    return bills


def _post(client: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response:
    """POST with the SDK's retry rules: the same body (and batch_id) until accepted."""
    delay = 0.5
    for _ in range(20):
        try:
            r = client.post(path, json=body)
        except httpx.TransportError:
            time.sleep(delay)
            delay = min(delay * 2, 5)
            continue
        if r.status_code in (429, 503):
            time.sleep(float(r.headers.get("Retry-After", delay)))
            continue
        if r.status_code >= 400:
            raise CostObsError(f"{path} answered {r.status_code}: {r.text}")
        return r
    raise CostObsError(f"{path}: ingest did not accept the batch after 20 tries")


def send_demo_data(
    url: str, api_key: str, events: int = 30000, days: int = 45, seed: int = 42
) -> dict[str, int]:
    generated = list(generate_events(events, days, seed))
    sent = rejected = 0
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        with tqdm(total=len(generated), unit="event", desc="demo events") as progress:
            for start in range(0, len(generated), BATCH):
                chunk = generated[start : start + BATCH]
                batch_id = f"demo-{seed}-{start}"
                # weeks of history: a backfill (beyond COSTOBS_MAX_EVENT_AGE_DAYS), which needs
                # an admin key — as the bills below do
                result = _post(
                    client, "/v1/events?backfill=true", {"batch_id": batch_id, "events": chunk}
                )
                body = result.json()
                sent += body["accepted"] + body["duplicates"]
                rejected += len(body["rejected"])
                progress.update(len(chunk))
        bills = simulate_bills(generated, seed)
        _post(client, "/v1/billing/import", {"bills": bills})
    print(f"sent {sent} events ({rejected} rejected) and {len(bills)} daily bills to {url}")
    return {"events": sent, "rejected": rejected, "bills": len(bills)}
