"""Calls whose usage arrives after the call returns: OpenAI background responses
(``responses.create(background=True)`` answers ``queued``; the usage comes with the response
once it has finished, when it is retrieved or streamed).

A pending call ships when a retrieve of its response shows a final status. Nothing is lost
silently: a call still pending at shutdown, past ``MAX_AGE_S`` or beyond ``MAX_PENDING`` ships
without tokens (the usage was never seen).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from costobs._event import Call

MAX_PENDING = 10_000
MAX_AGE_S = 24 * 3600.0

_lock = threading.Lock()
_calls: OrderedDict[str, tuple[float, Call]] = OrderedDict()


def add(response_id: str, call: Call) -> None:
    now = time.monotonic()
    released: list[Call] = []
    with _lock:
        previous = _calls.pop(response_id, None)
        if previous is not None:  # an id seen twice (a test double): keep the first call too
            released.append(previous[1])
        _calls[response_id] = (now, call)
        while _calls:
            oldest_id, (since, oldest) = next(iter(_calls.items()))
            if len(_calls) <= MAX_PENDING and now - since <= MAX_AGE_S:
                break
            del _calls[oldest_id]
            released.append(oldest)
    _release(released)


def take(response_id: str) -> Call | None:
    with _lock:
        entry = _calls.pop(response_id, None)
    return entry[1] if entry is not None else None


def waiting() -> int:
    with _lock:
        return len(_calls)


def release_all() -> None:
    """Ship every pending call as it is (at shutdown)."""
    with _lock:
        calls = [call for _, call in _calls.values()]
        _calls.clear()
    _release(calls)


def forget() -> None:
    """Drop every pending call unshipped: the child of a fork does not own its parent's."""
    global _lock
    _lock = threading.Lock()
    _calls.clear()


def _release(calls: list[Call]) -> None:
    if calls:
        from costobs._observe import complete

        for call in calls:
            complete(call)
