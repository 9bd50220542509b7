"""What a failed ClickHouse call means for the writer, decided by ClickHouse's error CODE (never
by message text). Pure: the writer and the store ask here, nothing else classifies.

clickhouse-connect puts the code on its exceptions (``.code``) and chDB's message starts with
``Code: 243.``; both are read in ``error_code`` only.

Two outcomes:
- the store cannot take the rows *now* (disk full, memory, too many parts, timeouts, lost
  connections, read-only replicas…): the writer pauses and retries the same flush, keeping its
  messages in progress, for as long as it takes; such a flush never counts towards the
  dead-letter limit;
- the store refuses *these rows* (a value it cannot parse or store): only then is a message
  bisected out and, after ``COSTOBS_WRITER_MAX_DELIVERIES``, dead-lettered.
A code in neither table is treated as "not now": an unknown failure stalls the writer (visible
in ``/metrics`` and the log) rather than dead-lettering acknowledged events.
"""

from __future__ import annotations

import re

from costobs_server.errors import StoreError

RETRYABLE: dict[int, str] = {
    3: "UNEXPECTED_END_OF_FILE",
    74: "CANNOT_READ_FROM_FILE_DESCRIPTOR",
    75: "CANNOT_WRITE_TO_FILE_DESCRIPTOR",
    76: "CANNOT_OPEN_FILE",
    77: "CANNOT_CLOSE_FILE",
    81: "UNKNOWN_DATABASE",
    60: "UNKNOWN_TABLE",
    159: "TIMEOUT_EXCEEDED",
    164: "READONLY",
    173: "CANNOT_ALLOCATE_MEMORY",
    202: "TOO_MANY_SIMULTANEOUS_QUERIES",
    203: "NO_FREE_CONNECTION",
    209: "SOCKET_TIMEOUT",
    210: "NETWORK_ERROR",
    225: "NO_ZOOKEEPER",
    236: "ABORTED",
    241: "MEMORY_LIMIT_EXCEEDED",
    242: "TABLE_IS_READ_ONLY",
    243: "NOT_ENOUGH_SPACE",
    252: "TOO_MANY_PARTS",
    274: "AIO_READ_ERROR",
    275: "AIO_WRITE_ERROR",
    279: "ALL_CONNECTION_TRIES_FAILED",
    319: "UNKNOWN_STATUS_OF_INSERT",
    373: "SESSION_IS_LOCKED",
    394: "QUERY_WAS_CANCELLED",
    425: "SYSTEM_ERROR",
    439: "CANNOT_SCHEDULE_TASK",
    473: "DEADLOCK_AVOIDED",
    999: "KEEPER_EXCEPTION",
    1000: "POCO_EXCEPTION",
    1001: "STD_EXCEPTION",
}
"""The store cannot take the rows now; retried until it can."""

REFUSED: dict[int, str] = {
    6: "CANNOT_PARSE_TEXT",
    16: "NO_SUCH_COLUMN_IN_TABLE",
    26: "CANNOT_PARSE_QUOTED_STRING",
    27: "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
    38: "CANNOT_PARSE_DATE",
    41: "CANNOT_PARSE_DATETIME",
    53: "TYPE_MISMATCH",
    69: "ARGUMENT_OUT_OF_BOUND",
    70: "CANNOT_CONVERT_TYPE",
    72: "CANNOT_PARSE_NUMBER",
    117: "INCORRECT_DATA",
    131: "TOO_LARGE_STRING_SIZE",
    321: "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
    407: "DECIMAL_OVERFLOW",
}
"""The store refuses these rows: a message holding them can never be written."""


class Refused(StoreError):
    """ClickHouse refused the rows themselves (a code in ``REFUSED``)."""


_CODE = re.compile(r"\bCode: (\d+)\b")


def error_code(exc: BaseException) -> int | None:
    """ClickHouse's error code of ``exc`` (or of an exception it was raised from), if any."""
    seen: BaseException | None = exc
    while seen is not None:
        code = getattr(seen, "code", None)
        if isinstance(code, int) and code > 0:
            return code
        found = _CODE.search(str(seen))
        if found:
            return int(found.group(1))
        seen = seen.__cause__
    return None


def refused(exc: BaseException) -> bool:
    """Whether the store refused the rows themselves (not a passing condition)."""
    return error_code(exc) in REFUSED


def describe(exc: BaseException) -> str:
    """``NOT_ENOUGH_SPACE (243)`` or the exception's type: for logs and metric labels."""
    code = error_code(exc)
    if code is None:
        return type(exc).__name__
    return f"{RETRYABLE.get(code) or REFUSED.get(code) or 'code'} ({code})"
