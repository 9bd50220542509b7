"""JetStream that cannot store more (its storage limit reached): ingest answers 503 naming
JetStream's own reason (it said "TimeoutError" or "ServiceUnavailableError"), and every event
it acknowledged before is stored (issue 11, finding 9)."""

from __future__ import annotations

from pathlib import Path

import httpx

from costobs_server.nats_server import NatsServer, free_port
from costobs_server.serve import Stack
from costobs_server.settings import load_settings
from costobs_server.store import EventStore
from tests.helpers import event, eventually, new_org


class SmallNats(NatsServer):
    """A real nats-server whose JetStream may store 1 MB in all."""

    def _config(self) -> str:
        return super()._config().replace("jetstream {", "jetstream {\n  max_file_store: 1MB")


async def test_jetstream_out_of_storage_answers_503_naming_it_and_loses_nothing(
    tmp_path: Path, data_dir: Path, store: EventStore
) -> None:
    server = SmallNats(tmp_path / "nats")
    server.start()
    settings = load_settings(
        data_dir=data_dir,
        nats_url=server.url,
        port=free_port(),
        metadata_url=f"sqlite:///{tmp_path / 'm.sqlite3'}",
        writer_flush_ms=100,
        writer_id="queuefull",
        compact_interval_s=0,
    )
    stack = Stack(settings, frozenset({"ingest", "writer"}), nats_auth=server.auth)
    await stack.start()
    assert stack.services is not None
    org = new_org(stack.services.db)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{settings.port}", headers=org.headers, timeout=30
        ) as client:
            accepted = 0
            for _ in range(200):
                r = await client.post(
                    "/v1/events",
                    json={"batch_id": f"b{accepted}", "events": [event(i) for i in range(200)]},
                )
                if r.status_code != 202:
                    break
                accepted += r.json()["accepted"]
            assert r.status_code == 503, r.text
            detail = r.json()["detail"]
            assert "cannot store" in detail and "JetStream error 100" in detail, detail
            assert r.headers["Retry-After"].isdigit()
            assert accepted > 0

            def stored() -> bool:
                rows = store.query(
                    "SELECT count() FROM events WHERE org_id = {o:String}", {"o": org.id}
                )
                return bool(rows[0][0] == accepted)

            await eventually(stored, within=30)
    finally:
        await stack.stop()
        server.stop()
