"""The README's configuration table and .env.example are generated from the settings: they
must be current, so the documentation cannot drift from the code."""

from __future__ import annotations

from costobs_server.config_docs import (
    HELM_NATS_AUTH,
    NATS_EXAMPLE,
    ROOT,
    env_example,
    readme_with_table,
)
from costobs_server.nats_auth import example_server_config, server_mode_authorization


def test_readme_settings_table_is_current() -> None:
    readme = (ROOT / "README.md").read_text()
    assert readme == readme_with_table(readme), "README settings table is stale: run `make docs`"


def test_env_example_is_current() -> None:
    assert (ROOT / ".env.example").read_text() == env_example(), "run `make docs`"


def test_nats_server_example_is_current() -> None:
    """Server mode's NATS config grants each role what the embedded server grants it."""
    assert NATS_EXAMPLE.read_text() == example_server_config(), "run `make docs`"
    assert HELM_NATS_AUTH.read_text() == server_mode_authorization(), "run `make docs`"
