"""The public surface is small and pinned (implementation lives in private modules)."""

from __future__ import annotations

import subprocess
import sys

import costobs
import pytest


def test_exported_members_are_pinned() -> None:
    assert sorted(costobs.__all__) == sorted(
        [
            "ConfigError",
            "CostObsError",
            "Stats",
            "UnsupportedClientError",
            "__version__",
            "configure",
            "flush",
            "record",
            "request_context",
            "shutdown",
            "stats",
            "trace",
            "wrap",
        ]
    )
    public = {name for name in vars(costobs) if not name.startswith("_")}
    # submodules that importing the package binds are private (underscore) or the pricing engine
    assert public - set(costobs.__all__) <= {"integrations", "pricing"}


def test_one_exception_root() -> None:
    assert issubclass(costobs.ConfigError, costobs.CostObsError)
    assert issubclass(costobs.ConfigError, ValueError)
    assert issubclass(costobs.UnsupportedClientError, costobs.CostObsError)
    assert issubclass(costobs.UnsupportedClientError, TypeError)


def test_wrap_unsupported_client_names_the_supported_ones() -> None:
    with pytest.raises(costobs.UnsupportedClientError) as info:
        costobs.wrap(object())
    message = str(info.value)
    for name in ("OpenAI", "Anthropic", "google.genai", "bedrock-runtime", "litellm"):
        assert name in message


def test_bad_config_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSTOBS_FLUSH_INTERVAL", "soon")
    with pytest.raises(costobs.ConfigError, match="COSTOBS_FLUSH_INTERVAL"):
        costobs.configure()
    monkeypatch.delenv("COSTOBS_FLUSH_INTERVAL")
    with pytest.raises(costobs.ConfigError, match="max_batch_events"):
        costobs.configure(max_batch_events=5000)
    with pytest.raises(costobs.ConfigError, match="COSTOBS_INGEST_URL"):
        costobs.configure(ingest_url="ftp://nowhere")


def test_import_is_lazy_and_starts_no_thread() -> None:
    code = (
        "import sys, threading, costobs;"
        "names = ('openai', 'anthropic', 'google.genai', 'boto3', 'litellm', 'http.client');"
        "heavy = [m for m in names if m in sys.modules];"
        "print(heavy, threading.active_count())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[] 1"
