"""Running spend per rule, group and local day, kept exact against ClickHouse.

alertd adds each event it reads from the stream (fast path), and periodically replaces its
counters with what ClickHouse holds (``reconcile``). The two must not double count: an event
alertd counted may or may not be in ClickHouse yet. The events table records the stream
sequence of the message each row came from (``stream_seq``), so one reconcile query returns
both the sums and which of alertd's not-yet-confirmed messages are among them; the counter is
then ClickHouse's sum plus the contributions of messages ClickHouse does not have yet. A
message unconfirmed after ``PENDING_TTL_S`` (all its events were duplicates the writer
dropped, or it was dead-lettered) stops counting.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from alerting.rules import ZERO, Rule

PENDING_TTL_S = 300.0
MAX_PENDING = 200_000

Key = tuple[str, date]
"""(group, local day)"""


@dataclass
class RuleCounter:
    rule: Rule
    base: dict[Key, Decimal] = field(default_factory=dict)
    pending: dict[int, tuple[float, dict[Key, Decimal]]] = field(default_factory=dict)
    live: dict[Key, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))
    reconciled_at: float = 0.0

    def add(self, seq: int, contributions: dict[Key, Decimal]) -> None:
        at, existing = self.pending.get(seq, (time.monotonic(), {}))
        for key, value in contributions.items():
            existing[key] = existing.get(key, ZERO) + value
            self.live[key] += value
        self.pending[seq] = (at, existing)
        if len(self.pending) > MAX_PENDING:
            oldest = min(self.pending)
            self._forget(oldest)

    def _forget(self, seq: int) -> None:
        _, contributions = self.pending.pop(seq)
        for key, value in contributions.items():
            self.live[key] -= value

    def groups(self) -> set[str]:
        return {g for (g, _), v in self.live.items() if v != 0}

    def days(self, group: str) -> dict[date, Decimal]:
        return {d: v for (g, d), v in self.live.items() if g == group}

    def apply(self, rows: Iterable[tuple[str, date, Decimal]], confirmed: set[int]) -> None:
        """Replace the counters by a ClickHouse snapshot (plus what it does not hold yet)."""
        now = time.monotonic()
        self.base = {}
        for group, day, cost in rows:
            self.base[(group, day)] = self.base.get((group, day), ZERO) + cost
        self.pending = {
            seq: (at, c)
            for seq, (at, c) in self.pending.items()
            if seq not in confirmed and now - at < PENDING_TTL_S
        }
        live: dict[Key, Decimal] = defaultdict(lambda: ZERO)
        for key, value in self.base.items():
            live[key] += value
        for _, contributions in self.pending.values():
            for key, value in contributions.items():
                live[key] += value
        self.live = live
        self.reconciled_at = now


def reconcile_query(
    rule: Rule, now: datetime, pending_seqs: list[int]
) -> tuple[str, dict[str, Any]]:
    """Spend per (group, local day) over the rule's window, and which pending seqs are stored."""
    first, today = rule.window(now)
    params: dict[str, Any] = {
        "org": rule.org_id,
        "tz": str(rule.tz),
        "start": rule.utc_start(first),
        "end": rule.utc_start(today + timedelta(days=2)),
        "seqs": pending_seqs,
    }
    where = [
        "org_id = {org:String}",
        "timestamp >= {start:DateTime64(3, 'UTC')}",
        "timestamp < {end:DateTime64(3, 'UTC')}",
    ]
    for i, (column, allowed) in enumerate(sorted(rule.scope.items())):
        params[f"f{i}"] = sorted(allowed)
        where.append(f"{column} IN {{f{i}:Array(String)}}")
    for i, (key, allowed) in enumerate(sorted(rule.tags.items())):
        params[f"tk{i}"] = key
        params[f"tv{i}"] = sorted(allowed)
        where.append(f"tags[{{tk{i}:String}}] IN {{tv{i}:Array(String)}}")
    if rule.group_by is None:
        group = "''"
    elif rule.group_by.startswith("tag:"):
        params["gk"] = rule.group_by[4:]
        group = "tags[{gk:String}]"
    else:
        group = rule.group_by  # a column name from rules.DIMENSIONS, never user text
    if rule.group_by is not None:
        where.append(f"{group} != ''")
    sql = (
        f"SELECT {group} AS g, toDate(timestamp, {{tz:String}}) AS d, sum(cost_usd), "
        "groupUniqArrayIf(stream_seq, has({seqs:Array(UInt64)}, stream_seq)) "
        f"FROM events WHERE {' AND '.join(where)} GROUP BY g, d"
    )
    return sql, params
