"""Streams as code, applied idempotently; settings errors name the variable."""

from __future__ import annotations

import pytest
from nats.js.api import StorageType

from costobs_server.errors import ConfigError
from costobs_server.nats_server import NatsServer
from costobs_server.settings import load_settings
from costobs_server.streams import EVENTS_STREAM, WRITER_DURABLE, ensure_streams, load_definitions
from tests.helpers import nats_client

pytestmark = pytest.mark.nats  # starts nats-servers of its own


async def test_streams_are_created_then_updated_in_place(tmp_path: object) -> None:
    server = NatsServer(tmp_path / "nats")  # type: ignore[operator]
    server.start()
    nc = await nats_client(server, "writer")  # the role that owns the stream definitions
    try:
        js = nc.jetstream()
        await ensure_streams(js, load_settings(nats_url=server.url))
        await ensure_streams(js, load_settings(nats_url=server.url))  # idempotent
        info = await js.stream_info(EVENTS_STREAM)
        assert info.config.duplicate_window == 600
        assert info.config.max_age == 7 * 86400
        assert info.config.storage == StorageType.FILE
        changed = load_settings(
            nats_url=server.url, nats_duplicate_window_s=120, writer_ack_wait_s=5
        )
        await ensure_streams(js, changed)
        assert (await js.stream_info(EVENTS_STREAM)).config.duplicate_window == 120
        consumer = await js.consumer_info(EVENTS_STREAM, WRITER_DURABLE)
        assert consumer.config.ack_wait == 5
    finally:
        await nc.close()
        server.stop()


def test_duplicate_window_longer_than_max_age_is_refused() -> None:
    settings = load_settings(nats_max_age_days=1, nats_duplicate_window_s=2 * 86400)
    with pytest.raises(ConfigError, match="COSTOBS_NATS_DUPLICATE_WINDOW_S"):
        load_definitions(settings)


def test_bad_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSTOBS_PORT", "eighty")
    with pytest.raises(ConfigError, match="COSTOBS_PORT"):
        load_settings()
    monkeypatch.setenv("COSTOBS_PORT", "8080")
    monkeypatch.setenv("COSTOBS_MODE", "cloud")
    with pytest.raises(ConfigError, match="COSTOBS_MODE"):
        load_settings()


def test_production_mode_never_seeds_the_dev_key() -> None:
    assert load_settings().seeds_dev_key is True
    assert load_settings(production=True).seeds_dev_key is False
