"""Dead-lettering, the same for every stream: a message its consumer cannot process is
negatively acked with backoff, and after ``max_deliveries`` deliveries it is copied to
``costobs.dlq.<kind>`` (stream ``COSTOBS_DLQ``) and only then acked.

A dead letter is the original payload with these headers (what ``costobs dlq`` shows and
what a re-drive needs):

- ``CostObs-Reason``: why the last delivery failed (at most 1,000 characters)
- ``CostObs-Stream`` / ``CostObs-Subject`` / ``CostObs-Stream-Seq``: where it came from
- ``CostObs-Deliveries``: how many times it was delivered
- ``CostObs-First-Failure`` / ``CostObs-Last-Failure``: RFC 3339 UTC times. The first is
  the first failure this process saw (kept in memory, bounded): after a restart it is the
  first failure since, while ``CostObs-Deliveries`` still counts every delivery.
- ``Nats-Msg-Id: dlq:<stream>:<seq>``, so a dead letter published twice is stored once.

A failed dead-letter publish naks the message again: it stays in its stream until it can
be dead-lettered, and the consumer keeps running.
"""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from nats.aio.msg import Msg
from nats.js import JetStreamContext

log = logging.getLogger(__name__)

REMEMBERED_FAILURES = 100_000
"""First-failure times kept in memory; the oldest are forgotten beyond that."""
MAX_BACKOFF_S = 60.0


def backoff_s(deliveries: int) -> float:
    """Delay before the next delivery of a message that failed ``deliveries`` times."""
    return min(2.0**deliveries, MAX_BACKOFF_S)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def dead_letter_headers(
    msg: Msg, stream: str, reason: str, first_failure: str, last_failure: str
) -> dict[str, str]:
    """The headers of ``msg``'s dead letter (pure: everything comes in)."""
    seq = msg.metadata.sequence.stream
    return {
        "Nats-Msg-Id": f"dlq:{stream}:{seq}",
        "CostObs-Reason": reason[:1000],
        "CostObs-Stream": stream,
        "CostObs-Subject": msg.subject,
        "CostObs-Stream-Seq": str(seq),
        "CostObs-Deliveries": str(msg.metadata.num_delivered),
        "CostObs-First-Failure": first_failure,
        "CostObs-Last-Failure": last_failure,
    }


@dataclass
class DeadLetters:
    """Rejecting messages of one stream: retry with backoff, then dead-letter to ``subject``."""

    js: JetStreamContext
    stream: str
    subject: str
    max_deliveries: int
    _first: OrderedDict[int, str] = field(default_factory=OrderedDict)

    async def reject(self, msg: Msg, reason: str) -> bool:
        """Nak ``msg``, or dead-letter it once it was delivered ``max_deliveries`` times.
        True when it was dead-lettered (and acked)."""
        seq = msg.metadata.sequence.stream
        deliveries = msg.metadata.num_delivered
        now = _now()
        first = self._first.setdefault(seq, now)
        if len(self._first) > REMEMBERED_FAILURES:
            self._first.popitem(last=False)
        if deliveries < self.max_deliveries:
            log.warning(
                "%s message %s failed (delivery %d): %s", self.stream, seq, deliveries, reason
            )
            await _nak(msg, backoff_s(deliveries))
            return False
        try:
            await self.js.publish(
                self.subject,
                msg.data,
                headers=dead_letter_headers(msg, self.stream, reason, first, now),
            )
        except Exception as exc:  # kept in the stream; tried again on its next delivery
            log.error(
                "could not dead-letter %s message %s (%r); it will be redelivered",
                self.stream,
                seq,
                exc,
            )
            await _nak(msg, backoff_s(deliveries))
            return False
        with contextlib.suppress(Exception):  # a lost ack: redelivered, dead-lettered once (msg id)
            await msg.ack()
        self._first.pop(seq, None)
        log.error(
            "%s message %s moved to %s after %d deliveries: %s",
            self.stream,
            seq,
            self.subject,
            deliveries,
            reason,
        )
        return True


async def _nak(msg: Msg, delay: float) -> None:
    with contextlib.suppress(Exception):  # NATS away: redelivered after ack_wait anyway
        await msg.nak(delay=delay)
