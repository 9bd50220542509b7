"""``costobs backfill FILE|-``: load history through ingest, with the original timestamps.

Everything goes through ``POST /v1/events`` — the live path — so authentication, validation,
JetStream durability, re-pricing and the exactly-once insert are the ones live events get.

- Input: JSON Lines of wire events, or CSV whose header names wire fields (``usage.<field>``
  or the bare usage field name, ``tags.<key>``); gzip is recognised by its magic bytes;
  ``-`` reads standard input.
- Batch ids are derived from the batch's own lines and their line range, so running the same
  file again sends the same batch ids (deduplicated by JetStream within its window) and the
  same ``request_id``s (never stored twice by the writer, whatever the delay).
- A line that cannot be read, or an event ingest rejects, goes to the report with its line
  number and the reason; the exit code is non-zero when there is any.

Reading and batching are pure (``read_lines``, ``batches``); ``send`` does the HTTP.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from costobs_server.errors import CostObsError, InvalidInput
from costobs_server.store.columns import USAGE_COUNTS

# Wire fields that are not text (everything else in a CSV cell is sent as the text it is).
_USAGE_COUNTS = frozenset(USAGE_COUNTS)
_USAGE_TEXT = frozenset({"audio_seconds", "image_size", "image_quality"})
_INTEGERS = frozenset({"schema_version", "latency_ms", "time_to_first_token_ms"})
_BOOLEANS = frozenset({"batch", "streaming"})
MAX_BATCH = 500  # events per POST, as the SDKs send them
MAX_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class Line:
    """One input record: its 1-based line number, and the event or why it could not be read."""

    number: int
    event: dict[str, Any] | None
    error: str | None = None


@dataclass
class Summary:
    read: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)

    def to_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": len(self.rejected),
        }


# -- reading ------------------------------------------------------------------------


def open_input(source: str) -> IO[bytes]:
    """The file (or stdin for ``-``) as bytes, un-gzipped when it starts with gzip's magic."""
    raw: IO[bytes]
    try:
        raw = sys.stdin.buffer if source == "-" else Path(source).open("rb")  # noqa: SIM115
    except OSError as exc:
        raise CostObsError(f"cannot read {source!r}: {exc.strerror}") from None
    buffered = io.BufferedReader(raw)  # type: ignore[type-var]
    if buffered.peek(2)[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=buffered)  # type: ignore[return-value]
    return buffered


def detect_format(source: str, head: bytes) -> str:
    name = source.lower().removesuffix(".gz")
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    return "jsonl" if head.lstrip()[:1] == b"{" else "csv"


def read_jsonl(stream: IO[bytes]) -> Iterator[Line]:
    for number, raw in enumerate(stream, start=1):
        text = raw.strip()
        if not text:
            continue
        try:
            value = json.loads(text)
        except ValueError as exc:
            yield Line(number, None, f"not JSON: {exc}")
            continue
        if not isinstance(value, dict):
            yield Line(number, None, "not a JSON object (one wire event per line)")
            continue
        yield Line(number, value)


def _cell(column: str, text: str) -> Any:
    """A CSV cell as the JSON type its wire field has (ingest is strict about types)."""
    name = column.rsplit(".", 1)[-1]
    if name in _USAGE_COUNTS or column in _INTEGERS:
        try:
            return int(text)
        except ValueError:
            raise InvalidInput(f"{column}: {text!r} is not an integer") from None
    if column in _BOOLEANS:
        lowered = text.lower()
        if lowered not in ("true", "false", "1", "0"):
            raise InvalidInput(f"{column}: {text!r} is not true or false")
        return lowered in ("true", "1")
    return text


def read_csv(stream: IO[bytes]) -> Iterator[Line]:
    reader = csv.DictReader(io.TextIOWrapper(stream, encoding="utf-8-sig", newline=""))
    for row in reader:
        number = reader.line_num
        event: dict[str, Any] = {}
        try:
            for column, text in row.items():
                if column is None:
                    raise InvalidInput("more cells than header columns")
                if text is None or text == "":
                    continue
                column = column.strip()
                value = _cell(column, text)
                if column.startswith("tags."):
                    event.setdefault("tags", {})[column[5:]] = value
                elif column.startswith("usage."):
                    event.setdefault("usage", {})[column[6:]] = value
                elif column in _USAGE_COUNTS or column in _USAGE_TEXT:
                    event.setdefault("usage", {})[column] = value
                else:
                    event[column] = value
        except ValueError as exc:
            yield Line(number, None, str(exc))
            continue
        yield Line(number, event)


def read_records(stream: IO[bytes]) -> Iterator[Line]:
    """Another tool's export as raw rows: a JSON array, an API page ``{"data": [...]}``,
    JSON Lines, or CSV. ``Line.number`` is the line (JSON Lines, CSV) or record position."""
    head = stream.peek(64).lstrip()[:1] if hasattr(stream, "peek") else b""
    if head == b"[" or head == b"{":
        data = stream.read()
        try:
            whole = json.loads(data)
        except ValueError:
            whole = None  # JSON Lines: one object per line
        if isinstance(whole, dict) and isinstance(whole.get("data"), list):
            whole = whole["data"]
        if isinstance(whole, list):
            for number, row in enumerate(whole, start=1):
                yield (
                    Line(number, row)
                    if isinstance(row, dict)
                    else Line(number, None, "not a JSON object")
                )
            return
        yield from read_jsonl(io.BytesIO(data))
        return
    reader = csv.DictReader(io.TextIOWrapper(stream, encoding="utf-8-sig", newline=""))
    for row in reader:
        yield Line(reader.line_num, {k: v for k, v in row.items() if k is not None})


def imported(records: Iterable[Line], fmt: str) -> Iterator[Line]:
    """Rows of LiteLLM or Langfuse mapped to wire events (rows that are not calls skipped)."""
    from costobs_server.importers import RowError, from_langfuse, from_litellm

    convert = from_litellm if fmt == "litellm" else from_langfuse
    for record in records:
        if record.event is None:
            yield record
            continue
        try:
            event = convert(record.event)
        except RowError as exc:
            yield Line(record.number, None, str(exc))
            continue
        if event is not None:
            yield Line(record.number, event)


def read_lines(source: str, fmt: str = "auto") -> Iterator[Line]:
    stream = open_input(source)
    if fmt == "auto":
        peek = stream.peek(64) if hasattr(stream, "peek") else b""
        fmt = detect_format(source, peek)
    if fmt == "jsonl":
        return read_jsonl(stream)
    if fmt == "csv":
        return read_csv(stream)
    if fmt in ("litellm", "langfuse"):
        return imported(read_records(stream), fmt)
    raise CostObsError(f"--format: unknown format {fmt!r} (jsonl, csv, litellm, langfuse)")


# -- batching -----------------------------------------------------------------------


def batch_id(lines: list[Line]) -> str:
    """Deterministic: the same lines at the same place in the same file give the same id."""
    digest = hashlib.sha256()
    for line in lines:
        digest.update(json.dumps(line.event, sort_keys=True, separators=(",", ":")).encode())
        digest.update(b"\n")
    return f"backfill:{digest.hexdigest()[:32]}:{lines[0].number}-{lines[-1].number}"


def batches(lines: Iterable[Line], size: int = MAX_BATCH) -> Iterator[list[Line]]:
    """Readable lines in batches of ``size``; unreadable ones in a batch of their own."""
    pending: list[Line] = []
    for line in lines:
        if line.event is None:
            yield [line]
            continue
        pending.append(line)
        if len(pending) >= size:
            yield pending
            pending = []
    if pending:
        yield pending


# -- sending ------------------------------------------------------------------------


def send(
    url: str,
    api_key: str,
    lines: Iterable[Line],
    *,
    batch_size: int = MAX_BATCH,
    params: dict[str, str] | None = None,
    progress: bool = True,
    timeout: float = 60.0,
) -> Summary:
    """POST every batch; retry 429/503/network errors with the same batch id."""
    import httpx
    from tqdm import tqdm

    summary = Summary()
    headers = {"Authorization": f"Bearer {api_key}"}
    with (
        httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout) as client,
        tqdm(unit="event", desc="backfill", disable=not progress) as bar,
    ):
        for batch in batches(lines, batch_size):
            summary.read += len(batch)
            bar.update(len(batch))
            if batch[0].event is None:
                summary.rejected.append((batch[0].number, batch[0].error or "unreadable"))
                continue
            answer = _post(client, batch, params or {})
            summary.accepted += int(answer.get("accepted", 0))
            summary.duplicates += int(answer.get("duplicates", 0))
            for item in answer.get("rejected", []):
                summary.rejected.append((batch[int(item["index"])].number, str(item["error"])))
    return summary


def _post(client: Any, batch: list[Line], params: dict[str, str]) -> dict[str, Any]:
    import httpx

    body = {"batch_id": batch_id(batch), "events": [line.event for line in batch]}
    lines = f"lines {batch[0].number}-{batch[-1].number}"
    for attempt in range(MAX_ATTEMPTS):
        try:
            response = client.post("/v1/events", json=body, params=params)
        except httpx.HTTPError as exc:
            reason = f"cannot reach ingest: {exc}"
        else:
            if response.status_code == 202:
                answer: dict[str, Any] = response.json()
                return answer
            if response.status_code not in (429, 503):
                raise CostObsError(f"{lines}: HTTP {response.status_code}: {response.text}")
            reason = f"HTTP {response.status_code}"
            retry_after = response.headers.get("Retry-After", "")
            if retry_after.isdigit():
                time.sleep(min(int(retry_after), 30))
                continue
        time.sleep(min(0.5 * 2**attempt, 30))
    raise CostObsError(f"{lines}: gave up after {MAX_ATTEMPTS} attempts ({reason})")


def write_report(path: Path, rejected: list[tuple[int, str]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for number, reason in rejected:
            out.write(json.dumps({"line": number, "error": reason}) + "\n")
