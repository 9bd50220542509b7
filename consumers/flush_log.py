"""The writer's record of flushes begun but not known to be complete: one file per flush
(its insert token and the exact rows), written before the insert and removed after it.

Why: a flush is one insert into ``events`` that the materialized views carry into every
rollup, and a failure (or a crash) can stop it after ``events`` was written but before every
rollup was. The retry must be the *same* insert with the same token so each table completes
what it misses (store.insert_events); the redelivered messages alone cannot say which rows
that was, because the duplicate check then finds them in ``events``. At start the writer
first re-inserts every flush left here, so a crash anywhere in a flush is repaired exactly.
"""

from __future__ import annotations

import os
from pathlib import Path

from costobs_server.errors import InvalidInput


class FlushLog:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def _path(self, token: str) -> Path:
        if not token.replace("-", "").replace("_", "").isalnum():
            raise InvalidInput(f"not a flush token: {token!r}")
        return self.folder / f"{token}.jsonl"

    def begin(self, token: str, block: bytes) -> None:
        """Record the flush before its insert (whole or not at all: write, then rename)."""
        path = self._path(token)
        partial = path.with_suffix(".partial")
        partial.write_bytes(block)
        os.replace(partial, path)

    def done(self, token: str) -> None:
        self._path(token).unlink(missing_ok=True)

    def pending(self) -> list[tuple[str, bytes]]:
        """(token, rows) of flushes begun and not done, oldest first."""
        files = sorted(self.folder.glob("*.jsonl"), key=lambda p: p.stat().st_mtime_ns)
        return [(path.stem, path.read_bytes()) for path in files]
