"""`costobs backfill`: history through the live ingest path, exactly once, with a line report."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from costobs_server import backfill
from costobs_server.cli import main as cli_main
from tests.helpers import Running, event, eventually

DAY = "2026-11-20"


def _jsonl(events: list[dict[str, object]], extra_lines: dict[int, str] | None = None) -> bytes:
    """JSON Lines; ``extra_lines`` inserts raw lines before the given 0-based event index."""
    out = []
    for i, e in enumerate(events):
        if extra_lines and i in extra_lines:
            out.append(extra_lines[i])
        out.append(json.dumps(e))
    return ("\n".join(out) + "\n").encode()


def test_csv_cells_take_their_wire_types(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text(
        "request_id,timestamp,provider,model,input_tokens,usage.output_tokens,streaming,"
        "tags.pr,latency_ms,cost_usd\n"
        "r1,2026-11-20T10:00:00Z,openai,gpt-4o,100,20,true,42,130,0.00045\n"
        "r2,2026-11-20T10:00:01Z,openai,gpt-4o,lots,20,false,,,\n"
    )
    first, second = list(backfill.read_lines(str(path)))
    assert first == backfill.Line(
        2,
        {
            "request_id": "r1",
            "timestamp": "2026-11-20T10:00:00Z",
            "provider": "openai",
            "model": "gpt-4o",
            "usage": {"input_tokens": 100, "output_tokens": 20},
            "streaming": True,
            "tags": {"pr": "42"},
            "latency_ms": 130,
            "cost_usd": "0.00045",
        },
    )
    assert second == backfill.Line(3, None, "input_tokens: 'lots' is not an integer")


def test_gzip_is_recognised_and_batch_ids_are_deterministic(tmp_path: Path) -> None:
    events = [event(i, request_id=f"r{i}") for i in range(7)]
    plain, packed = tmp_path / "a.jsonl", tmp_path / "a.jsonl.gz"
    plain.write_bytes(_jsonl(events, {3: "{not json"}))
    packed.write_bytes(gzip.compress(plain.read_bytes()))

    def ids(path: Path) -> list[str]:
        return [
            backfill.batch_id(b) if b[0].event else f"bad@{b[0].number}"
            for b in backfill.batches(backfill.read_lines(str(path)), size=3)
        ]

    assert ids(plain) == ids(packed) == ids(plain)
    assert ids(plain)[1] == "bad@4"  # line 4 holds the broken JSON, reported on its own
    assert len(set(ids(plain))) == len(ids(plain))
    # The same events at other line numbers are another batch (the range is in the id).
    shifted = tmp_path / "b.jsonl"
    shifted.write_bytes(b"\n" + _jsonl(events, {3: "{not json"}))
    assert ids(shifted)[0] != ids(plain)[0]


async def test_backfill_stores_history_once_and_reports_bad_lines(
    running: Running, tmp_path: Path
) -> None:
    events = [
        event(i, request_id=f"hist-{i}", usage={"input_tokens": 1000 + i, "output_tokens": 7})
        for i in range(1200)
    ]
    events[10]["prompt"] = "content is never accepted"  # rejected by ingest, line 11
    path = tmp_path / "history.jsonl.gz"
    path.write_bytes(gzip.compress(_jsonl(events, {500: "[1, 2]"})))  # line 501: not an object
    report = tmp_path / "rejected.jsonl"
    args = ["backfill", str(path), "--url", running.url, "--api-key", running.org.key]
    args += ["--report", str(report), "--no-progress"]

    code = await asyncio.to_thread(cli_main, args)
    assert code == 1
    rejected = [json.loads(line) for line in report.read_text().splitlines()]
    assert [r["line"] for r in rejected] == [11, 501]
    assert "prompt" in rejected[0]["error"]
    assert "not a JSON object" in rejected[1]["error"]

    stored = [e for i, e in enumerate(events) if i != 10]
    expected_cost = sum(
        (Decimal(e["usage"]["input_tokens"]) * Decimal("2.5") + 7 * 10) / 10**6  # type: ignore[index]
        for e in stored
    )

    async def arrived() -> bool:
        return (await running.summary(DAY, DAY))["requests"] >= len(stored)

    await eventually(arrived, within=60)
    summary = await running.summary(DAY, DAY)
    assert summary["requests"] == 1199
    assert Decimal(summary["cost_usd"]) == expected_cost

    # The same file again stores nothing new: same batch ids, same request ids.
    again = await asyncio.to_thread(
        backfill.send,
        running.url,
        running.org.key,
        backfill.read_lines(str(path)),
        progress=False,
    )
    assert again.accepted == 0 and again.duplicates == 1199
    await asyncio.sleep(1.0)
    assert (await running.summary(DAY, DAY))["requests"] == 1199


def test_stdin_and_csv_parse_errors_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    data = io.BytesIO(b"request_id,model,input_tokens\nr1,gpt-4o,1,extra\n")

    class Stdin:
        buffer = data

    monkeypatch.setattr(sys, "stdin", Stdin)
    (line,) = list(backfill.read_lines("-", "csv"))
    assert line == backfill.Line(2, None, "more cells than header columns")
