"""alertd: follows ``COSTOBS_EVENTS`` with its own durable consumer (a FastStream subscriber
with manual acks, ``subscribe``), keeps running spend per
rule, and fires within seconds of a crossing.

Guarantees, and where they come from:
- No double fire: a fire is a row in ``alert_fires`` whose (rule, group, period, seq) is
  unique. Every instance derives the same key for the same breach, so across restarts and
  several alertd processes exactly one insert wins; only the winner delivers.
- No false fire from counting an event twice: a crossing seen on the fast path is verified by
  reconciling that rule with ClickHouse first (``counters.py``), then claimed.
- A rule breached while alertd was down fires when it comes back: at start every rule is
  reconciled from ClickHouse and evaluated.
- Delivery is at least once per claimed fire, best effort: a fire whose delivery was cut short
  by a crash is still ``pending`` and is delivered again on the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from faststream.nats.subscriber.usecases.basic import LogicSubscriber
from nats.aio.msg import Msg

from alerting import metrics
from alerting.addresses import policy_from_settings
from alerting.counters import Key, RuleCounter, reconcile_query
from alerting.currency import display_details, evaluate_in_currency
from alerting.delivery import Deliverer, alert_payload
from alerting.rules import Breach, LastFire, Rule, next_seq, rule_currency
from alerting.store import AlertStore, Fire
from consumers.pricer import Pricer
from costobs_server.broker import BatchHandler, RoleBroker, durable_batches
from costobs_server.currency import RateBook
from costobs_server.metadata.currency import rate_book, rate_books
from costobs_server.runtime import Services
from costobs_server.streams import ALERTD_DURABLE, EVENTS_STREAM

log = logging.getLogger(__name__)

SEEN_REQUESTS = 200_000
TICK_S = 0.2
"""How often the periodic work (rule refresh, reconcile) looks whether it is due."""
_MISSING = object()


def alertd_subscriber(broker: RoleBroker, handler: BatchHandler) -> LogicSubscriber[Any]:
    """alertd's subscriber (durable ``alertd``) with ``handler``."""
    return durable_batches(
        broker,
        stream=EVENTS_STREAM,
        durable=ALERTD_DURABLE,
        subject="costobs.events.>",
        batch_size=256,
        timeout_s=0.2,
        title="alertd",
        description=(
            "alertd (durable `alertd`, from the stream's end): running spend per rule, "
            "verified against ClickHouse before a fire. Payload: EventsMessage (see the "
            "ingest publisher of costobs.events.{org_id})."
        ),
    )(handler)


class AlertD:
    def __init__(
        self,
        services: Services,
        pricer: Pricer,
        *,
        reconcile_s: float = 60.0,
        refresh_s: float = 5.0,
        deliverer: Deliverer | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.services = services
        self.store = AlertStore(services.db)
        self.pricer = pricer
        self.reconcile_s = reconcile_s
        self.refresh_s = refresh_s
        s = services.settings
        self.deliverer = deliverer or Deliverer(
            self.store,
            attempts=s.alert_delivery_attempts,
            base_delay_s=s.alert_retry_base_s,
            timeout_s=s.alert_delivery_timeout_s,
            policy=policy_from_settings(s),
        )
        self.now = clock or (lambda: datetime.now(UTC))
        self.counters: dict[str, RuleCounter] = {}
        self.versions: dict[str, datetime] = {}
        self.by_org: dict[str, list[Rule]] = {}
        self.books: dict[str, dict[str, RateBook]] = {}
        """org → currency → rates, for limits set in a currency (refreshed with the rules)."""
        self.display: dict[str, RateBook] = {}
        """org → its display currency's rates (USD: identity), for the converted figures."""
        self.last_fires: dict[tuple[str, str, str], LastFire | None] = {}
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._stop = asyncio.Event()
        self._busy = asyncio.Lock()  # the subscriber's counting vs the periodic work
        self._deliveries: set[asyncio.Task[None]] = set()
        self.started = asyncio.Event()
        self.last_reconcile = 0.0
        self.fired = 0

    def stop(self) -> None:
        self._stop.set()

    # -- main loop ------------------------------------------------------------------------

    def subscribe(self, broker: RoleBroker) -> LogicSubscriber[Any]:
        """Follow the events on the process's broker (durable ``alertd``); its ``start()``
        starts it, and messages wait until ``run()`` has loaded and reconciled the rules."""
        return alertd_subscriber(broker, self.handle)

    async def handle(self, messages: list[Msg]) -> None:
        """Count a fetched batch, ack it, and check the rules it may have breached."""
        if not await self._wait_started():
            for msg in messages:  # stopping before the start-up finished: deliver them again
                with contextlib.suppress(Exception):
                    await msg.nak()
            return
        async with self._busy:
            candidates: set[str] = set()
            for msg in messages:
                # the subject names the org: skip parsing when it has no rules
                if msg.subject.rpartition(".")[2] in self.by_org:
                    candidates |= self.count(msg.data, msg.metadata.sequence.stream)
                await msg.ack()
            if candidates:
                await self.check(candidates)

    async def _wait_started(self) -> bool:
        if not self.started.is_set():
            waits = [asyncio.ensure_future(e.wait()) for e in (self.started, self._stop)]
            _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
        return self.started.is_set()

    async def run(self) -> None:
        """Start-up (rules, reconcile, interrupted deliveries), then the periodic rule
        refresh and reconcile until stopped; the subscriber counts events meanwhile."""
        try:
            async with self._busy:
                await self.refresh_rules()
                await self.reconcile_all()
                await self._resume_pending()
                await self.evaluate_all()
            self.started.set()
            next_refresh = time.monotonic() + self.refresh_s
            next_reconcile = time.monotonic() + self.reconcile_s
            while not self._stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), TICK_S)
                now = time.monotonic()
                async with self._busy:
                    if now >= next_refresh:
                        await self.refresh_rules()
                        next_refresh = now + self.refresh_s
                    if now >= next_reconcile:
                        await self.reconcile_all()
                        await self.evaluate_all()
                        next_reconcile = now + self.reconcile_s
        finally:
            if self._deliveries:
                _, pending = await asyncio.wait(self._deliveries, timeout=10)
                for task in pending:
                    task.cancel()

    # -- rules ----------------------------------------------------------------------------

    async def refresh_rules(self) -> None:
        current = await asyncio.to_thread(self.store.enabled_rules)
        changed = []
        for rule_id in list(self.counters):
            if rule_id not in current:
                del self.counters[rule_id]
                self.versions.pop(rule_id, None)
        for rule_id, (version, rule) in current.items():
            if self.versions.get(rule_id) != version:
                self.counters[rule_id] = RuleCounter(rule)
                self.versions[rule_id] = version
                changed.append(rule_id)
        by_org: dict[str, list[Rule]] = {}
        for counter in self.counters.values():
            by_org.setdefault(counter.rule.org_id, []).append(counter.rule)
        self.by_org = by_org
        await asyncio.to_thread(self._load_rates, by_org)
        metrics.RULES.set(len(self.counters))
        if changed and self.started.is_set():
            await self.check(set(changed))

    def _load_rates(self, by_org: dict[str, list[Rule]]) -> None:
        db = self.services.db
        books, display = {}, {}
        for org_id, rules in by_org.items():
            try:
                books[org_id] = rate_books(db, org_id, {rule_currency(r.config) for r in rules})
                display[org_id] = rate_book(db, org_id)
            except Exception:  # keep alerting in USD if the rates cannot be read
                log.exception("reading the rates of org %s failed", org_id)
        self.books, self.display = books, display

    def _breach(
        self, rule: Rule, days: dict[date, Decimal], now: datetime, group: str
    ) -> Breach | None:
        """The rule judged in its own currency, with the org's display figures added."""
        breach = evaluate_in_currency(rule, days, now, group, self.books.get(rule.org_id, {}))
        book = self.display.get(rule.org_id)
        if breach is None or book is None:
            return breach
        shown = display_details(rule, breach, days, now, book)
        if shown is None:
            return breach
        return replace(breach, details={**breach.details, "display": shown})

    # -- counting (fast path) -------------------------------------------------------------

    def count(self, payload: bytes, seq: int) -> set[str]:
        """Add one stream message to the counters; the ids of rules that may now fire."""
        try:
            envelope = orjson.loads(payload)
            org_id = envelope["org_id"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return set()
        rules = self.by_org.get(org_id)
        if not rules:
            return set()
        touched: dict[str, dict[Key, Decimal]] = {}
        for event in envelope.get("events", ()):
            try:
                request = (org_id, event["request_id"])
                if request in self._seen:
                    continue
                self._seen[request] = None
                if len(self._seen) > SEEN_REQUESTS:
                    self._seen.popitem(last=False)
                at = datetime.fromisoformat(event["timestamp"])
                quote = self.pricer(org_id, event, at)
                cost = quote.cost_usd
                # attributed as the writer stores it (a gateway call under its model's provider)
                event["provider"] = quote.provider
                event["canonical_model"] = quote.canonical_model
            except Exception as exc:  # the writer dead-letters such events; skip them here
                log.debug("alertd skips an event: %r", exc)
                continue
            metrics.EVENTS_SEEN.inc()
            if not cost:
                continue
            for rule in rules:
                if not rule.matches(event):
                    continue
                group = rule.group_of(event)
                if group is None:
                    continue
                key = (group, rule.local_day(at))
                contributions = touched.setdefault(rule.id, {})
                contributions[key] = contributions.get(key, Decimal(0)) + cost
        candidates = set()
        now = self.now()
        for rule_id, contributions in touched.items():
            counter = self.counters[rule_id]
            counter.add(seq, contributions)
            for group in {g for g, _ in contributions}:
                breach = self._breach(counter.rule, counter.days(group), now, group)
                if breach is not None and self._may_fire(counter.rule, breach, now):
                    candidates.add(rule_id)
        return candidates

    def _may_fire(self, rule: Rule, breach: Breach, now: datetime) -> bool:
        last = self.last_fires.get((rule.id, breach.group, breach.period), _MISSING)
        if last is _MISSING:
            return True  # unknown: ask the metadata DB
        assert last is None or isinstance(last, LastFire)
        return next_seq(last, now, rule.cooldown) is not None

    # -- reconcile and fire ---------------------------------------------------------------

    async def reconcile(self, counter: RuleCounter) -> None:
        started = time.perf_counter()
        sql, params = reconcile_query(counter.rule, self.now(), sorted(counter.pending))
        rows = await asyncio.to_thread(self.services.store.query, sql, params)
        confirmed: set[int] = set()
        for row in rows:
            confirmed.update(int(s) for s in row[3])
        counter.apply(((str(g), d, Decimal(c)) for g, d, c, _ in rows), confirmed)
        metrics.RECONCILES.inc()
        metrics.RECONCILE_SECONDS.observe(time.perf_counter() - started)

    async def reconcile_all(self) -> None:
        for counter in list(self.counters.values()):
            try:
                await self.reconcile(counter)
            except Exception:
                log.exception("reconciling rule %s failed", counter.rule.id)
        self.last_reconcile = time.time()

    async def check(self, rule_ids: set[str]) -> None:
        """Verify candidate rules against ClickHouse, then fire what is still breached."""
        for rule_id in rule_ids:
            counter = self.counters.get(rule_id)
            if counter is None:
                continue
            try:
                await self.reconcile(counter)
                await self._evaluate(counter)
            except Exception:
                log.exception("checking rule %s failed", rule_id)

    async def evaluate_all(self) -> None:
        for counter in list(self.counters.values()):
            try:
                await self._evaluate(counter)
            except Exception:
                log.exception("evaluating rule %s failed", counter.rule.id)

    async def _evaluate(self, counter: RuleCounter) -> None:
        now = self.now()
        groups = counter.groups() or ({""} if counter.rule.group_by is None else set())
        for group in sorted(groups):
            breach = self._breach(counter.rule, counter.days(group), now, group)
            if breach is not None:
                await self._decide(counter.rule, breach, now)

    async def _decide(self, rule: Rule, breach: Breach, now: datetime) -> None:
        key = (rule.id, breach.group, breach.period)
        cached = self.last_fires.get(key, _MISSING)
        if cached is _MISSING:
            last = await asyncio.to_thread(
                self.store.last_fire, rule.id, breach.group, breach.period
            )
        else:
            assert cached is None or isinstance(cached, LastFire)
            last = cached
        self.last_fires[key] = last
        seq = next_seq(last, now, rule.cooldown)
        if seq is None:
            return
        fire = await asyncio.to_thread(self.store.claim, rule, breach, seq, now)
        if fire is None:
            metrics.CLAIMS_LOST.inc()
            self.last_fires[key] = await asyncio.to_thread(
                self.store.last_fire, rule.id, breach.group, breach.period
            )
            return
        self.last_fires[key] = LastFire(seq, now)
        self.fired += 1
        metrics.FIRES.labels(rule.kind).inc()
        log.info(
            "alert %s fired: rule %r group %r %s > %s",
            fire.id,
            rule.name,
            breach.group,
            fire.observed,
            fire.threshold,
        )
        self._spawn(rule, fire)

    def _spawn(self, rule: Rule, fire: Fire) -> None:
        task = asyncio.create_task(self._deliver(rule, fire), name=f"deliver-{fire.id}")
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, rule: Rule, fire: Fire) -> None:
        try:
            targets = await asyncio.to_thread(self.store.targets, rule.org_id, rule.target_ids)
            outcomes = await self.deliverer.deliver(
                rule.org_id, targets, alert_payload(rule, fire=fire), fire_id=fire.id
            )
            status = "delivered" if all(o.ok for o in outcomes) else "failed"
            if not targets:
                status = "no_targets"
            await asyncio.to_thread(self.store.set_fire_status, fire.id, status)
        except Exception:
            log.exception("delivering alert %s failed", fire.id)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.store.set_fire_status, fire.id, "failed")

    async def _resume_pending(self) -> None:
        cutoff = datetime.now(UTC) - timedelta(seconds=60)
        for fire in await asyncio.to_thread(self.store.pending_fires, cutoff):
            counter = self.counters.get(fire.rule_id)
            rule = counter.rule if counter else None
            if rule is None:
                try:
                    rule = await asyncio.to_thread(self.store.rule, fire.org_id, fire.rule_id)
                except LookupError:
                    continue
            log.info("delivering alert %s again (its delivery was interrupted)", fire.id)
            self._spawn(rule, fire)

    # -- health ---------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        nc = self.services.nc
        return {
            "nats": bool(nc and nc.is_connected),
            "rules": len(self.counters),
            "started": self.started.is_set(),
            "seconds_since_reconcile": round(time.time() - self.last_reconcile, 1)
            if self.last_reconcile
            else None,
        }
