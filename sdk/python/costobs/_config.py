"""One typed settings table: argument, then environment variable, then default.

A bad value raises :class:`ConfigError` naming the argument or the variable.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit

from costobs._errors import ConfigError

MAX_BATCH_EVENTS = 1000  # the ingest refuses more per request
MAX_BATCH_BYTES = 5 * 1024 * 1024  # the ingest's body limit


@dataclass(frozen=True)
class Settings:
    ingest_url: str = "http://localhost:8080"
    """COSTOBS_INGEST_URL: where ``POST /v1/events`` is served."""
    api_key: str | None = None
    """COSTOBS_API_KEY: bearer key of the org the events belong to."""
    enabled: bool = True
    """COSTOBS_ENABLED: false turns observation and shipping off entirely."""
    environment: str | None = None
    """COSTOBS_ENVIRONMENT: default ``environment`` of every event (lowest layer)."""
    service: str | None = None
    """COSTOBS_SERVICE: default ``service`` of every event (lowest layer)."""
    max_batch_events: int = 500
    """COSTOBS_MAX_BATCH_EVENTS: events per POST (at most 1000)."""
    max_batch_bytes: int = 1024 * 1024
    """COSTOBS_MAX_BATCH_BYTES: uncompressed JSON bytes per POST (at most 5 MiB)."""
    flush_interval: float = 1.0
    """COSTOBS_FLUSH_INTERVAL: seconds an event may wait for its batch to fill."""
    max_queue_events: int = 10_000
    """COSTOBS_MAX_QUEUE_EVENTS: events waiting to be serialised; beyond it new ones are dropped."""
    max_buffer_bytes: int = 16 * 1024 * 1024
    """COSTOBS_MAX_BUFFER_BYTES: serialised events waiting to be sent (retries included)."""
    max_retries: int = 8
    """COSTOBS_MAX_RETRIES: retries of one batch before its events are dropped."""
    backoff_base: float = 0.5
    """COSTOBS_BACKOFF_BASE: first retry delay in seconds (doubles per retry, jittered)."""
    backoff_max: float = 30.0
    """COSTOBS_BACKOFF_MAX: longest delay between retries, also the cap on Retry-After."""
    request_timeout: float = 10.0
    """COSTOBS_REQUEST_TIMEOUT: seconds for one POST."""
    shutdown_timeout: float = 2.0
    """COSTOBS_SHUTDOWN_TIMEOUT: seconds the atexit drain may take."""
    gzip: bool = True
    """COSTOBS_GZIP: compress batches (``Content-Encoding: gzip``)."""
    spill_dir: str | None = None
    """COSTOBS_SPILL_DIR: opt-in directory where batches wait (gzipped) while the ingest is
    unreachable, and what is unsent at exit; the next process using it sends them."""
    spill_max_bytes: int = 256 * 1024 * 1024
    """COSTOBS_SPILL_MAX_BYTES: most bytes the spill may hold; beyond it batches are dropped
    (``spill_full``)."""
    model_aliases: Mapping[str, str] = field(default_factory=dict)
    """Azure deployment names and Bedrock application-profile ARNs → model ids."""
    provider_hosts: Mapping[str, str] = field(default_factory=dict)
    """Extra base_url hosts (``host`` or ``host:port``) → provider, for gateways and proxies."""
    include_usage_hosts: Mapping[str, bool] = field(default_factory=dict)
    """Hosts (``host`` or ``host:port``) -> whether to inject ``stream_options.include_usage``
    into streamed chat calls there (default: yes for gateways/unknown hosts and documented
    providers); False for a gateway that must never see it."""
    on_internal_error: Callable[[BaseException], None] | None = None
    """Debug hook called with every swallowed SDK error (tests re-raise through it)."""


_ENV: dict[str, str] = {f.name: "COSTOBS_" + f.name.upper() for f in fields(Settings)}
_NO_ENV = {"model_aliases", "provider_hosts", "on_internal_error"}
_NO_ENV.add("include_usage_hosts")

_lock = threading.Lock()
_current: Settings | None = None


def _parse(name: str, value: Any, source: str) -> Any:
    default = getattr(Settings(), name)
    if name in _NO_ENV:
        if name == "on_internal_error":
            if value is not None and not callable(value):
                raise ConfigError(f"{source} must be callable")
            return value
        if name == "include_usage_hosts":
            if not isinstance(value, Mapping) or not all(
                isinstance(v, bool) for v in value.values()
            ):
                raise ConfigError(f"{source} must be a mapping of host to True/False")
            return {str(k).lower(): v for k, v in value.items()}
        if not isinstance(value, Mapping):
            raise ConfigError(f"{source} must be a mapping of str to str")
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{source} must be a boolean (true/false), got {value!r}")
    if isinstance(default, int):
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{source} must be an integer, got {value!r}") from None
        if number < (0 if name == "max_retries" else 1):
            raise ConfigError(f"{source} must be positive, got {value!r}")
        return number
    if isinstance(default, float):
        try:
            real = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{source} must be a number of seconds, got {value!r}") from None
        if not real >= 0:
            raise ConfigError(f"{source} must be >= 0, got {value!r}")
        return real
    if value is None:
        return None
    return str(value)


def resolve(**overrides: Any) -> Settings:
    """Settings from arguments (when not None), then environment, then defaults."""
    unknown = set(overrides) - set(_ENV)
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name, env in _ENV.items():
        arg = overrides.get(name)
        if arg is not None:
            values[name] = _parse(name, arg, f"argument {name}")
        elif name not in _NO_ENV and os.environ.get(env, "") != "":
            values[name] = _parse(name, os.environ[env], f"environment variable {env}")
    settings = replace(Settings(), **values)
    _check(settings)
    return settings


def _check(s: Settings) -> None:
    url = urlsplit(s.ingest_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ConfigError(
            f"ingest_url (COSTOBS_INGEST_URL) must be an http(s) URL, got {s.ingest_url!r}"
        )
    if s.max_batch_events > MAX_BATCH_EVENTS:
        raise ConfigError(
            f"max_batch_events (COSTOBS_MAX_BATCH_EVENTS) is at most {MAX_BATCH_EVENTS}"
        )
    if s.max_batch_bytes > MAX_BATCH_BYTES:
        raise ConfigError(f"max_batch_bytes (COSTOBS_MAX_BATCH_BYTES) is at most {MAX_BATCH_BYTES}")


def set_current(settings: Settings) -> None:
    global _current
    with _lock:
        _current = settings


def current() -> Settings:
    settings = _current
    if settings is None:
        with _lock:
            if _current is None:
                try:
                    resolved = resolve()
                except ConfigError as exc:
                    # never break the application over telemetry settings: say so, use defaults
                    import logging

                    logging.getLogger("costobs").warning("costobs: %s; using defaults", exc)
                    resolved = Settings()
                globals()["_current"] = resolved
            settings = _current
    assert settings is not None
    return settings
