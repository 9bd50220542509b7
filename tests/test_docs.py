"""The README's configuration table and .env.example are generated from the settings: they
must be current, so the documentation cannot drift from the code."""

from __future__ import annotations

from costobs_server.config_docs import ROOT, env_example, readme_with_table


def test_readme_settings_table_is_current() -> None:
    readme = (ROOT / "README.md").read_text()
    assert readme == readme_with_table(readme), "README settings table is stale: run `make docs`"


def test_env_example_is_current() -> None:
    assert (ROOT / ".env.example").read_text() == env_example(), "run `make docs`"
