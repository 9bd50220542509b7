"""``costobs dlq``: list, show, re-drive and purge the dead letters of every stream.

A dead letter is one message of the ``COSTOBS_DLQ`` stream, in the format of
consumers/dead_letter.py; its ID is its sequence in that stream. Re-driving publishes the
payload to its source subject with the msg-id it was first published with, so JetStream's
dedup holds: while the original is still inside the duplicate window
(``COSTOBS_NATS_DUPLICATE_WINDOW_S``) JetStream drops the copy as a duplicate, and the dead
letter is then kept and reported as such, never deleted with nothing re-driven. Events the
writer then finds stored already are skipped by its own check, so re-driving twice stores
nothing twice. A dead letter is deleted only after its re-drive was acknowledged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import APIError, NotFoundError

from consumers import dead_letter as fmt
from costobs_server import metrics
from costobs_server.errors import CostObsError
from costobs_server.streams import DLQ_STREAM

ROLE = "dlq"
"""The NATS user the DLQ tools connect as (costobs_server/nats_auth.py)."""
ANY_DEAD_LETTER = "costobs.dlq.>"
SEQUENCE_NOT_FOUND = 10043
"""JetStream's error code for deleting a message that is not (or no longer) there."""
SOURCES = ("costobs.events.", "costobs.bills.")
"""Subjects a dead letter may be re-driven to: what the live consumers read."""


class DeadLetterError(CostObsError, LookupError):
    """No such dead letter, or one that cannot be re-driven."""


@dataclass(frozen=True)
class DeadLetter:
    id: int
    source_subject: str
    source_seq: int | None
    reason: str
    deliveries: int
    first_failure: str
    last_failure: str
    """When this dead letter was written."""
    msg_id: str
    headers: dict[str, str]
    payload: bytes

    @property
    def stream(self) -> str:
        """events or bills: the second token of the source subject."""
        parts = self.source_subject.split(".")
        return parts[1] if len(parts) > 2 else "?"

    @property
    def org(self) -> str:
        parts = self.source_subject.split(".", 2)
        return parts[2] if len(parts) == 3 else ""

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "stream": self.stream,
            "org": self.org,
            "source_subject": self.source_subject,
            "source_seq": self.source_seq,
            "reason": self.reason,
            "deliveries": self.deliveries,
            "first_failure": self.first_failure,
            "last_failure": self.last_failure,
            "bytes": len(self.payload),
        }

    def detail(self) -> dict[str, Any]:
        try:
            payload: Any = orjson.loads(self.payload)
        except orjson.JSONDecodeError:
            payload = self.payload.decode("utf-8", "replace")
        return {
            **self.summary(),
            "msg_id": self.msg_id,
            "headers": self.headers,
            "payload": payload,
        }


def parse(raw: RawStreamMsg) -> DeadLetter:
    """A DLQ stream message as a dead letter; headers a writer did not set read as unknown."""
    headers = dict(raw.headers or {})
    seq = headers.get(fmt.SOURCE_SEQ, "")
    deliveries = headers.get(fmt.DELIVERIES, "")
    last = raw.time.isoformat() if isinstance(raw.time, datetime) else ""
    return DeadLetter(
        id=int(raw.seq or 0),
        source_subject=headers.get(fmt.SOURCE_SUBJECT, ""),
        source_seq=int(seq) if seq.isdigit() else None,
        reason=headers.get(fmt.REASON, ""),
        deliveries=int(deliveries) if deliveries.isdigit() else 0,
        first_failure=headers.get(fmt.FIRST_FAILURE) or last,
        last_failure=headers.get(fmt.LAST_FAILURE) or last,
        msg_id=headers.get(fmt.SOURCE_MSG_ID, ""),
        headers=headers,
        payload=raw.data or b"",
    )


async def list_all(js: JetStreamContext, limit: int | None = None) -> list[DeadLetter]:
    """Every dead letter, oldest first (at most ``limit``)."""
    try:
        state = (await js.stream_info(DLQ_STREAM)).state
    except NotFoundError:
        return []
    found: list[DeadLetter] = []
    seq = state.first_seq
    while state.messages and seq <= state.last_seq and (limit is None or len(found) < limit):
        try:
            raw = await js.get_msg(DLQ_STREAM, seq=seq, subject=ANY_DEAD_LETTER, next=True)
        except NotFoundError:
            break
        found.append(parse(raw))
        seq = int(raw.seq or seq) + 1
    return found


async def get(js: JetStreamContext, dead_letter_id: int) -> DeadLetter:
    try:
        return parse(await js.get_msg(DLQ_STREAM, seq=dead_letter_id))
    except NotFoundError:
        raise DeadLetterError(f"no dead letter {dead_letter_id}") from None


async def _chosen(js: JetStreamContext, ids: Iterable[int], every: bool) -> list[DeadLetter]:
    if every:
        return await list_all(js)
    chosen = [await get(js, i) for i in ids]
    if not chosen:
        raise DeadLetterError("name dead letters by ID, or --all")
    return chosen


async def _delete(js: JetStreamContext, dead_letter_id: int) -> None:
    try:
        await js.delete_msg(DLQ_STREAM, dead_letter_id)
    except APIError as exc:
        if isinstance(exc, NotFoundError) or exc.err_code == SEQUENCE_NOT_FOUND:
            raise DeadLetterError(f"no dead letter {dead_letter_id}") from None
        raise


@dataclass
class Outcome:
    id: int
    result: str
    """redriven, duplicate (kept), purged, or an error (kept)."""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "result": self.result}


async def redrive(js: JetStreamContext, ids: Iterable[int], every: bool = False) -> list[Outcome]:
    """Publish each to its source subject again; delete it once JetStream stored the copy."""
    outcomes = []
    for letter in await _chosen(js, ids, every):
        if not letter.source_subject.startswith(SOURCES):
            outcomes.append(
                Outcome(
                    letter.id, f"kept: no source subject to re-drive to ({letter.source_subject!r})"
                )
            )
            continue
        try:
            ack = await js.publish(
                letter.source_subject, letter.payload, headers=fmt.redrive_headers(letter.headers)
            )
        except Exception as exc:
            outcomes.append(Outcome(letter.id, f"kept: publishing failed ({exc!r})"))
            continue
        if ack.duplicate:
            outcomes.append(
                Outcome(
                    letter.id,
                    "kept: the original is still inside JetStream's "
                    "duplicate window; re-drive it later",
                )
            )
            continue
        with contextlib.suppress(DeadLetterError):  # purged meanwhile: the copy is what counts
            await _delete(js, letter.id)
        metrics.DLQ_REDRIVEN.inc()
        outcomes.append(Outcome(letter.id, f"redriven to {letter.source_subject} (seq {ack.seq})"))
    return outcomes


async def purge(js: JetStreamContext, ids: Iterable[int], every: bool = False) -> list[Outcome]:
    """Delete dead letters for good (``every``: all that exist now, not ones arriving since)."""
    if every:
        letters = await list_all(js)
        if letters:
            await js.purge_stream(DLQ_STREAM, seq=letters[-1].id + 1)
        metrics.DLQ_PURGED.inc(len(letters))
        return [Outcome(letter.id, "purged") for letter in letters]
    outcomes = []
    for dead_letter_id in ids:
        await _delete(js, dead_letter_id)
        metrics.DLQ_PURGED.inc()
        outcomes.append(Outcome(dead_letter_id, "purged"))
    if not outcomes:
        raise DeadLetterError("name dead letters by ID, or --all")
    return outcomes
