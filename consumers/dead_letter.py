"""What a dead letter carries: one header format for every stream's consumer (the events
writer, the bills writer), read back by ``costobs dlq`` (costobs_server/dead_letters.py).

A dead letter keeps the original payload byte for byte and says where it came from (subject,
stream sequence, the dedup ``Nats-Msg-Id`` it was published with), why it failed and how often
it was delivered. Re-driving publishes it to its source subject again with the same msg-id and
carries the failure history along, so when it fails again its next dead letter still knows
when it first failed and how many deliveries it had in all.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

REASON = "CostObs-Reason"
SOURCE_SUBJECT = "CostObs-Subject"
SOURCE_SEQ = "CostObs-Stream-Seq"
DELIVERIES = "CostObs-Deliveries"
SOURCE_MSG_ID = "CostObs-Msg-Id"
FIRST_FAILURE = "CostObs-First-Failure"
PREVIOUS_DELIVERIES = "CostObs-Previous-Deliveries"
"""Set on a re-driven message: deliveries its earlier dead letters counted."""
MSG_ID = "Nats-Msg-Id"
REASON_LIMIT = 1000


def dead_letter_headers(
    *,
    subject: str,
    seq: int,
    deliveries: int,
    reason: str,
    source_headers: Mapping[str, str] | None,
    now: datetime | None = None,
) -> dict[str, str]:
    """Headers of the dead letter of the message ``seq`` on ``subject``."""
    source = source_headers or {}
    previous = source.get(PREVIOUS_DELIVERIES, "0")
    headers = {
        MSG_ID: f"dlq:{seq}",
        REASON: reason[:REASON_LIMIT],
        SOURCE_SUBJECT: subject,
        SOURCE_SEQ: str(seq),
        DELIVERIES: str(deliveries + (int(previous) if previous.isdigit() else 0)),
        FIRST_FAILURE: source.get(FIRST_FAILURE) or (now or datetime.now(UTC)).isoformat(),
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
