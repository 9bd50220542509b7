"""NATS access is authenticated, and each role may do only what it needs."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import stat
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import nats
import pytest
from nats.errors import TimeoutError as NatsTimeout

from costobs_server.config_docs import NATS_EXAMPLE
from costobs_server.errors import ConfigError, CostObsError
from costobs_server.nats_auth import ADMIN, ROLES, NatsAuth, connect
from costobs_server.nats_server import NatsServer, binary, free_port
from costobs_server.serve import Stack
from costobs_server.settings import load_settings
from costobs_server.store import EventStore
from costobs_server.streams import (
    ALERTD_DURABLE,
    EVENTS_STREAM,
    WRITER_DURABLE,
    ensure_streams,
    events_subject,
)
from tests.helpers import create_streams, event, nats_client, new_org


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    s = NatsServer(tmp_path_factory.mktemp("nats-auth"))
    s.start()
    yield s
    s.stop()


@pytest.fixture
async def streams(server: NatsServer) -> AsyncIterator[None]:
    await create_streams(server, load_settings(nats_url=server.url))
    yield


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def _refused(url: str, **options: object) -> None:
    with pytest.raises((nats.errors.NoServersError, nats.errors.Error)) as caught:
        nc = await nats.connect(url, allow_reconnect=False, connect_timeout=2, **options)  # type: ignore[arg-type]
        await nc.close()
    assert "uthorization" in str(caught.value) or isinstance(
        caught.value, nats.errors.NoServersError
    )


async def test_an_unauthenticated_client_is_refused(server: NatsServer) -> None:
    await _refused(server.url)
    await _refused(server.url, user="ingest", password="guessed")
    nc = await nats_client(server, "ingest")  # the generated password works
    assert nc.is_connected
    await nc.close()


async def test_the_ingest_user_publishes_but_cannot_consume_or_delete(
    server: NatsServer, streams: None
) -> None:
    violations: list[str] = []

    async def collect(exc: Exception) -> None:
        violations.append(str(exc))

    ingest = await connect(server.url, server.auth("ingest"), "ingest", error_cb=collect)
    admin = await nats_client(server)
    try:
        js = ingest.jetstream(timeout=1.0)
        org = f"a{uuid.uuid4().hex[:8]}"
        ack = await js.publish(events_subject(org), b'{"org_id":"x","events":[]}')
        assert ack.stream == EVENTS_STREAM  # publishing is what ingest is for

        sub = await js.pull_subscribe_bind(WRITER_DURABLE, stream=EVENTS_STREAM)
        with pytest.raises((NatsTimeout, asyncio.TimeoutError)):
            await sub.fetch(1, timeout=1.0)
        with pytest.raises((NatsTimeout, asyncio.TimeoutError)):
            await js.delete_stream(EVENTS_STREAM)
        with pytest.raises((NatsTimeout, asyncio.TimeoutError)):
            await js.purge_stream(EVENTS_STREAM)
        # the stream is untouched and still holds what ingest published
        info = await admin.jetstream().stream_info(EVENTS_STREAM)
        assert info.state.last_seq >= ack.seq and info.state.messages >= 1
        assert any("permissions violation" in v.lower() for v in violations), violations
    finally:
        await ingest.close()
        await admin.close()


async def test_each_consumer_role_reads_only_its_own_durable(
    server: NatsServer, streams: None
) -> None:
    alertd = await nats_client(server, "alertd")
    writer = await nats_client(server, "writer")
    try:
        stolen = await alertd.jetstream().pull_subscribe_bind(WRITER_DURABLE, stream=EVENTS_STREAM)
        with pytest.raises((NatsTimeout, asyncio.TimeoutError)):
            await stolen.fetch(1, timeout=1.0)
        info = await alertd.jetstream().consumer_info(EVENTS_STREAM, ALERTD_DURABLE)
        assert info.name == ALERTD_DURABLE  # its own durable is open to it
        with pytest.raises((NatsTimeout, asyncio.TimeoutError)):
            await writer.jetstream(timeout=1.0).delete_stream(EVENTS_STREAM)
        with pytest.raises((NatsTimeout, asyncio.TimeoutError)):
            await writer.jetstream(timeout=1.0).publish(events_subject("forged"), b"{}")
    finally:
        await alertd.close()
        await writer.close()


async def test_credentials_are_owner_only_and_survive_a_restart(tmp_path: Path) -> None:
    first = NatsServer(tmp_path / "nats")
    first.start()
    try:
        creds = tmp_path / "nats" / "auth.json"
        assert _mode(creds) == 0o600
        assert _mode(tmp_path / "nats" / "nats-server.conf") == 0o600
        password = first.auth("writer").password
        assert password and len(password) >= 32
        assert password not in repr(first.auth("writer"))
    finally:
        first.stop()
    creds.chmod(0o644)  # loosened by hand: tightened again on the next start
    again = NatsServer(tmp_path / "nats", port=first.port)
    again.start()
    try:
        assert again.auth("writer").password == password
        assert _mode(creds) == 0o600
        nc = await connect(again.url, NatsAuth(user="writer", password=password), "writer")
        assert nc.is_connected
        await nc.close()
    finally:
        again.stop()


def test_server_mode_settings_name_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="COSTOBS_NATS_PASSWORD"):
        NatsAuth.from_settings(load_settings(nats_user="ingest"))
    with pytest.raises(ConfigError, match="COSTOBS_NATS_USER, COSTOBS_NATS_TOKEN"):
        NatsAuth.from_settings(load_settings(nats_user="u", nats_password="p", nats_token="t"))
    with pytest.raises(ConfigError, match="COSTOBS_NATS_TLS_KEY"):
        NatsAuth.from_settings(load_settings(nats_tls_cert=tmp_path / "c.pem"))
    with pytest.raises(ConfigError, match="COSTOBS_NATS_CREDS: no such file"):
        NatsAuth.from_settings(load_settings(nats_creds=tmp_path / "missing.creds"))
    creds = tmp_path / "user.creds"
    creds.write_text("placeholder")
    options = NatsAuth.from_settings(load_settings(nats_creds=creds)).options()
    assert options == {"user_credentials": str(creds)}
    options = NatsAuth.from_settings(load_settings(nats_token="s3cret")).options()
    assert options == {"token": "s3cret"}


async def test_server_mode_roles_authenticate_with_the_settings(
    server: NatsServer, data_dir: Path, store: EventStore, tmp_path: Path
) -> None:
    """COSTOBS_NATS_USER / _PASSWORD reach every connection of a server-mode process."""
    base = {
        "data_dir": data_dir,
        "nats_url": server.url,
        "metadata_url": f"sqlite:///{tmp_path / 'm.sqlite3'}",
        "port": free_port(),
    }
    wrong_settings = load_settings(**base, nats_user="writer", nats_password="nope")
    wrong = Stack(wrong_settings, frozenset({"writer"}))
    with pytest.raises(ConfigError, match="refused the credentials of the writer role"):
        await asyncio.wait_for(wrong.start(), 20)
    await wrong.stop()
    password = server.auth(ADMIN).password
    settings = load_settings(**base, nats_user=ADMIN, nats_password=password)
    stack = Stack(settings, frozenset({"ingest", "writer"}))
    await stack.start()
    try:
        assert stack.services is not None
        org = new_org(stack.services.db)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{base['port']}") as client:
            r = await client.post(
                "/v1/events",
                json={"batch_id": uuid.uuid4().hex, "events": [event(0)]},
                headers=org.headers,
            )
        assert r.status_code == 202, r.text
    finally:
        await stack.stop()


async def test_the_server_mode_example_config_grants_each_role_what_it_needs(
    tmp_path: Path,
) -> None:
    """nats/nats-server.conf run by a real nats-server: the writer applies the streams, ingest
    publishes, alertd reads its durable, and nobody without a password gets in."""
    passwords = {role: uuid.uuid4().hex for role in ROLES}  # the config names every role
    proc, url = _run_example_config(tmp_path, passwords)
    try:
        await _refused(url)

        def auth(role: str) -> NatsAuth:
            return NatsAuth(user=role, password=passwords[role])

        writer = await connect(url, auth("writer"), "writer")
        ingest = await connect(url, auth("ingest"), "ingest")
        alertd = await connect(url, auth("alertd"), "alertd")
        try:
            await ensure_streams(writer.jetstream(), load_settings(nats_url=url))
            ack = await ingest.jetstream().publish(events_subject("ex"), b"{}")
            sub = await alertd.jetstream().pull_subscribe_bind(ALERTD_DURABLE, EVENTS_STREAM)
            got = await sub.fetch(1, timeout=5)
            await got[0].ack()
            assert got[0].metadata.sequence.stream == ack.seq
            mine = await writer.jetstream().pull_subscribe_bind(WRITER_DURABLE, EVENTS_STREAM)
            got = await mine.fetch(1, timeout=5)
            await got[0].ack()
            assert got[0].data == b"{}"
        finally:
            for nc in (writer, ingest, alertd):
                await nc.close()
    finally:
        proc.terminate()
        proc.wait(10)


def _run_example_config(
    tmp_path: Path, passwords: dict[str, str]
) -> tuple[subprocess.Popen[bytes], str]:
    """nats-server on nats/nats-server.conf, moved to loopback, free ports and ``tmp_path``."""
    port, monitor = free_port(), free_port()
    conf = NATS_EXAMPLE.read_text()
    conf = conf.replace("port: 4222", f"listen: 127.0.0.1:{port}")
    conf = conf.replace("http_port: 8222", f"http: 127.0.0.1:{monitor}")
    conf = conf.replace('store_dir: "/data"', f'store_dir: "{tmp_path}"')
    env = {f"NATS_{r.upper()}_PASSWORD": pw for r, pw in passwords.items()}
    env["NATS_ADMIN_PASSWORD"] = uuid.uuid4().hex
    return _start_nats(tmp_path, conf, port, env), f"nats://127.0.0.1:{port}"


def _start_nats(
    tmp_path: Path, conf: str, port: int, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    (tmp_path / "test.conf").write_text(conf)
    proc = subprocess.Popen(
        [binary(), "-c", str(tmp_path / "test.conf")],
        env=env or {},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            break
        time.sleep(0.05)
    return proc


def _certificates(d: Path) -> None:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=costobs-test-ca",
    )
    for name, ext in (
        ("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        (d / f"{name}.ext").write_text(ext + "\n")
        run(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            "-subj",
            f"/CN={name}",
        )
        run(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{name}.pem",
            "-days",
            "1",
            "-extfile",
            f"{name}.ext",
        )


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
async def test_server_mode_tls_settings_reach_the_connection(tmp_path: Path) -> None:
    """COSTOBS_NATS_TLS_CA / _CERT / _KEY: mutual TLS to a server that verifies clients."""
    _certificates(tmp_path)
    port = free_port()
    conf = (
        f"listen: 127.0.0.1:{port}\n"
        f'tls {{ cert_file: "{tmp_path}/server.pem", key_file: "{tmp_path}/server.key", '
        f'ca_file: "{tmp_path}/ca.pem", verify: true, timeout: 2 }}\n'
        'authorization { user: ingest, password: "pw" }\n'
    )
    proc = _start_nats(tmp_path, conf, port)
    url = f"tls://127.0.0.1:{port}"
    try:
        settings = load_settings(
            nats_url=url,
            nats_user="ingest",
            nats_password="pw",
            nats_tls_ca=tmp_path / "ca.pem",
            nats_tls_cert=tmp_path / "client.pem",
            nats_tls_key=tmp_path / "client.key",
        )
        nc = await connect(url, NatsAuth.from_settings(settings), "ingest")
        assert nc.is_connected
        await nc.close()
        no_client_cert = NatsAuth.from_settings(
            load_settings(nats_user="ingest", nats_password="pw", nats_tls_ca=tmp_path / "ca.pem")
        )
        with pytest.raises(Exception):  # noqa: B017 - the server drops the handshake
            await asyncio.wait_for(
                connect(url, no_client_cert, "ingest", allow_reconnect=False), 10
            )
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_damaged_credentials_file_is_named_not_silently_replaced(tmp_path: Path) -> None:
    (tmp_path / "auth.json").write_text("{not json")
    with pytest.raises(CostObsError, match=r"auth.json is damaged .* delete it"):
        NatsServer(tmp_path)
