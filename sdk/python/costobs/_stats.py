"""The SDK's own counters: what was sent, retried and dropped (and why)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Stats:
    """A snapshot of the SDK's counters (``costobs.stats()``)."""

    sent: int = 0
    """Events the ingest accepted (duplicates of an already stored event included)."""
    duplicates: int = 0
    """Of ``sent``: events the ingest already had (a retry after a lost answer)."""
    retried: int = 0
    """Batch sends that were retried (one per retry attempt)."""
    dropped: dict[str, int] = field(default_factory=dict)
    """Events given up on, by reason (``queue_full``, ``rejected``, ``retries_exhausted``, …)."""
    queued: int = 0
    """Events waiting to be sent right now."""
    batches: int = 0
    """Batches the ingest answered 202 to."""
    internal_errors: int = 0
    """Errors inside the SDK itself (logged and swallowed; the provider call is untouched)."""
    spilled: int = 0
    """Events written to the on-disk spill (``spill_dir``) to be sent once the ingest is back;
    ``queued`` counts those still on disk."""

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


class Counters:
    """Thread-safe counters behind :class:`Stats`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent = 0
        self.duplicates = 0
        self.retried = 0
        self.batches = 0
        self.internal_errors = 0
        self.spilled = 0
        self.dropped: Counter[str] = Counter()

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def drop(self, reason: str, n: int = 1) -> None:
        if n <= 0:
            return
        with self._lock:
            self.dropped[reason] += n

    def snapshot(self, queued: int) -> Stats:
        with self._lock:
            return Stats(
                sent=self.sent,
                duplicates=self.duplicates,
                retried=self.retried,
                dropped=dict(self.dropped),
                queued=queued,
                batches=self.batches,
                internal_errors=self.internal_errors,
                spilled=self.spilled,
            )


COUNTERS = Counters()
