"""Opt-in on-disk spill: batches the ingest could not take yet, kept until it answers 2xx.

Each batch is one file ``<time_ns>-<events>-<pid>-<n>.batch`` holding the gzipped request body,
``batch_id`` included, so a re-send after a crash is deduplicated by the ingest. A file is
written to a temporary name, fsynced and renamed into place (a reader never sees half a
batch) and deleted only after the ingest accepted it (or refused it for good: 4xx).

Processes sharing a directory never send the same file twice: a sender holds an exclusive
``flock`` on the file while it sends, and checks after locking that the name still points at
the file it locked (another process may have sent and deleted it in between). A lock dies
with its process, so a crash leaves the file for the next sender. Bounded: at most
``max_bytes`` of files; a batch that does not fit is refused and the caller counts it as
dropped. POSIX only (``fcntl``); elsewhere ``configure(spill_dir=…)`` logs that it is off.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

AVAILABLE = fcntl is not None
SUFFIX = ".batch"
_RESCAN_S = 1.0  # other processes add and remove files: re-count at most this often
_STALE_TMP_S = 3600.0  # a temp file this old belongs to a writer that died mid-write


@dataclass
class Claimed:
    """A spilled batch locked by this process until :meth:`done` or :meth:`release`."""

    spill: Spill
    path: str
    fd: int
    body: bytes
    events: int

    def done(self) -> None:
        """The ingest answered: remove the file, then drop the lock."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(self.fd)
        self.spill._forget(len(self.body), self.events)

    def release(self) -> None:
        """Not sent: leave the file for a later attempt (by any process)."""
        os.close(self.fd)


class Spill:
    def __init__(self, directory: str, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._seq = 0
        self._bytes = 0
        self._events = 0
        self._scanned_at = -_RESCAN_S
        os.makedirs(directory, mode=0o700, exist_ok=True)

    def _scan(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._scanned_at < _RESCAN_S:
            return
        size = events = 0
        with os.scandir(self.directory) as entries:
            for entry in entries:
                try:
                    stat = entry.stat()
                except FileNotFoundError:
                    continue
                if entry.name.endswith(SUFFIX):
                    events += _events_in(entry.name)
                elif entry.name.endswith(".tmp") and time.time() - stat.st_mtime > _STALE_TMP_S:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
                    continue
                size += stat.st_size
        self._bytes, self._events, self._scanned_at = size, events, now

    def pending_events(self) -> int:
        with self._lock:
            self._scan()
            return self._events

    def size(self) -> int:
        with self._lock:
            self._scan(force=True)
            return self._bytes

    def _forget(self, size: int, events: int) -> None:
        with self._lock:
            self._bytes = max(0, self._bytes - size)
            self._events = max(0, self._events - events)

    def put(self, body_gz: bytes, events: int) -> bool:
        """Store one gzipped batch durably; False when it would exceed ``max_bytes``."""
        with self._lock:
            self._scan()
            if self._bytes + len(body_gz) > self.max_bytes:
                self._scan(force=True)
                if self._bytes + len(body_gz) > self.max_bytes:
                    return False
            self._seq += 1
            name = f"{time.time_ns():020d}-{events}-{os.getpid()}-{self._seq}"
            self._bytes += len(body_gz)
            self._events += events
        tmp = os.path.join(self.directory, f".{name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(body_gz)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, os.path.join(self.directory, name + SUFFIX))
        return True

    def claim_oldest(self) -> Claimed | None:
        """The oldest batch no other process is sending, locked; None when there is none."""
        assert fcntl is not None
        try:
            names = sorted(n for n in os.listdir(self.directory) if n.endswith(SUFFIX))
        except FileNotFoundError:
            return None
        for name in names:
            path = os.path.join(self.directory, name)
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue  # sent and removed by another process meanwhile
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if os.stat(path).st_ino != os.fstat(fd).st_ino:
                    raise FileNotFoundError(path)  # sent, removed, name reused: not ours
                with os.fdopen(os.dup(fd), "rb") as f:
                    body = f.read()
            except (BlockingIOError, FileNotFoundError):
                os.close(fd)
                continue  # another process holds it, or has just sent it
            except BaseException:
                os.close(fd)
                raise
            return Claimed(self, path, fd, body, _events_in(name))
        return None


def _events_in(name: str) -> int:
    try:
        return int(name.split("-", 2)[1])
    except (IndexError, ValueError):
        return 0
