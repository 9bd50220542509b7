"""Dead-lettering, the same for every stream, and the one header format ``costobs dlq``
(costobs_server/dead_letters.py) reads back.

A message its consumer cannot process is negatively acked with backoff, and after
``max_deliveries`` deliveries it is copied to ``costobs.dlq.<kind>`` (stream ``COSTOBS_DLQ``)
and only then acked. A dead letter is the original payload, byte for byte, with these headers:

- ``CostObs-Reason``: why the last delivery failed (at most 1,000 characters)
- ``CostObs-Stream`` / ``CostObs-Subject`` / ``CostObs-Stream-Seq``: where it came from
- ``CostObs-Msg-Id``: the dedup ``Nats-Msg-Id`` it was published with (a re-drive reuses it)
- ``CostObs-Deliveries``: how many times it was delivered, across earlier re-drives too
- ``CostObs-First-Failure`` / ``CostObs-Last-Failure``: RFC 3339 UTC times. The first is
  carried along by a re-drive; otherwise it is the first failure this process saw (kept in
  memory, bounded): after a restart it is the first failure since.
- ``Nats-Msg-Id: dlq:<stream>:<seq>``, so a dead letter published twice is stored once (events
  and bills share the DLQ stream and its duplicate window, hence the stream in the id).

Re-driving publishes the payload to its source subject again with the original msg-id and
the failure history, so when it fails again its next dead letter still knows when it first
failed and how many deliveries it had in all. A failed dead-letter publish naks the message
again: it stays in its stream until it can be dead-lettered, and the consumer keeps running.
"""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from costobs_server.streams import EVENTS_STREAM

log = logging.getLogger(__name__)

REASON = "CostObs-Reason"
SOURCE_STREAM = "CostObs-Stream"
SOURCE_SUBJECT = "CostObs-Subject"
SOURCE_SEQ = "CostObs-Stream-Seq"
DELIVERIES = "CostObs-Deliveries"
SOURCE_MSG_ID = "CostObs-Msg-Id"
FIRST_FAILURE = "CostObs-First-Failure"
LAST_FAILURE = "CostObs-Last-Failure"
PREVIOUS_DELIVERIES = "CostObs-Previous-Deliveries"
"""Set on a re-driven message: deliveries its earlier dead letters counted."""
MSG_ID = "Nats-Msg-Id"
REASON_LIMIT = 1000

REMEMBERED_FAILURES = 100_000
"""First-failure times kept in memory; the oldest are forgotten beyond that."""
MAX_BACKOFF_S = 60.0


def backoff_s(deliveries: int) -> float:
    """Delay before the next delivery of a message that failed ``deliveries`` times."""
    return min(2.0**deliveries, MAX_BACKOFF_S)


def _stamp(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).isoformat(timespec="milliseconds")


def dead_letter_headers(
    *,
    subject: str,
    seq: int,
    deliveries: int,
    reason: str,
    source_headers: Mapping[str, str] | None,
    stream: str = EVENTS_STREAM,
    first_failure: str | None = None,
    now: datetime | None = None,
) -> dict[str, str]:
    """Headers of the dead letter of message ``seq`` of ``stream`` on ``subject`` (pure)."""
    source = source_headers or {}
    previous = source.get(PREVIOUS_DELIVERIES, "0")
    last = _stamp(now)
    headers = {
        MSG_ID: f"dlq:{stream}:{seq}",
        REASON: reason[:REASON_LIMIT],
        SOURCE_STREAM: stream,
        SOURCE_SUBJECT: subject,
        SOURCE_SEQ: str(seq),
        DELIVERIES: str(deliveries + (int(previous) if previous.isdigit() else 0)),
        FIRST_FAILURE: source.get(FIRST_FAILURE) or first_failure or last,
        LAST_FAILURE: last,
    }
    if source.get(MSG_ID):
        headers[SOURCE_MSG_ID] = source[MSG_ID]
    return headers


def redrive_headers(dead_letter: Mapping[str, str]) -> dict[str, str]:
    """Headers to publish a dead letter's payload to its source subject again: the original
    msg-id (JetStream's dedup holds) and the failure history."""
    headers = {PREVIOUS_DELIVERIES: dead_letter.get(DELIVERIES, "0")}
    if dead_letter.get(FIRST_FAILURE):
        headers[FIRST_FAILURE] = dead_letter[FIRST_FAILURE]
    if dead_letter.get(SOURCE_MSG_ID):
        headers[MSG_ID] = dead_letter[SOURCE_MSG_ID]
    return headers


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
        first = self._first.setdefault(seq, _stamp())
        if len(self._first) > REMEMBERED_FAILURES:
            self._first.popitem(last=False)
        if deliveries < self.max_deliveries:
            log.warning(
                "%s message %s failed (delivery %d): %s", self.stream, seq, deliveries, reason
            )
            await _nak(msg, backoff_s(deliveries))
            return False
        headers = dead_letter_headers(
            subject=msg.subject,
            seq=seq,
            deliveries=deliveries,
            reason=reason,
            source_headers=msg.headers,
            stream=self.stream,
            first_failure=first,
        )
        try:
            await self.js.publish(self.subject, msg.data, headers=headers)
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
