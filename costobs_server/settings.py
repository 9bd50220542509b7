"""The one settings table: command-line argument, then ``COSTOBS_*`` environment, then default.

Each variable is documented once, here, and listed in ``.env.example``. A bad value raises
``ConfigError`` naming the variable.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from costobs_server.errors import ConfigError
from costobs_server.vocabulary import MAX_BATCH_EVENTS, MAX_BODY_BYTES

Mode = Literal["embedded", "server"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="COSTOBS_", env_file=None, extra="ignore", frozen=True
    )

    mode: Mode = Field("embedded", description="embedded (one process, chDB, SQLite) or server")
    production: bool = Field(False, description="never seed the dev org and key when true")
    data_dir: Path = Field(Path(".costobs"), description="where embedded mode keeps all data")

    host: str = Field("127.0.0.1", description="address the HTTP servers bind to")
    port: int = Field(8080, ge=1, le=65535, description="ingest + read API port")
    dashboard_port: int = Field(3000, ge=1, le=65535, description="Streamlit dashboard port")

    nats_url: str | None = Field(
        None, description="NATS server(s), comma-separated; unset = start an embedded server"
    )
    nats_stream_replicas: int = Field(1, ge=1, le=5, description="JetStream stream replicas")
    nats_max_age_days: int = Field(7, ge=1, description="how long the stream keeps events")
    nats_duplicate_window_s: int = Field(
        600, ge=1, description="JetStream dedup window for re-sent batches (seconds)"
    )
    nats_sync_always: bool = Field(
        True, description="embedded server fsyncs every write before acknowledging"
    )
    # Server mode: how this process authenticates to COSTOBS_NATS_URL (the embedded server
    # generates its own per-role users instead). At most one of user/password, token, creds.
    nats_user: str | None = Field(
        None, description="server mode: NATS user of this role (with COSTOBS_NATS_PASSWORD)"
    )
    nats_password: SecretStr | None = Field(None, description="server mode: NATS password")
    nats_token: SecretStr | None = Field(None, description="server mode: NATS auth token")
    nats_creds: Path | None = Field(
        None, description="server mode: NATS .creds file (user JWT + NKey seed, decentralised auth)"
    )
    nats_tls_ca: Path | None = Field(
        None, description="server mode: CA bundle that signed the NATS server's certificate"
    )
    nats_tls_cert: Path | None = Field(
        None, description="server mode: client certificate for NATS mutual TLS (with _KEY)"
    )
    nats_tls_key: Path | None = Field(
        None, description="server mode: private key of COSTOBS_NATS_TLS_CERT"
    )

    clickhouse_url: str | None = Field(
        None, description="ClickHouse server (http://user:pass@host:8123/db); unset = chDB"
    )
    clickhouse_cluster: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="ClickHouse cluster name: migrations run ON CLUSTER with Replicated tables "
        "and Distributed tables for reads and inserts; unset = one node",
    )
    metadata_url: str | None = Field(
        None, description="SQLAlchemy URL of the metadata DB; unset = SQLite in the data dir"
    )

    max_body_bytes: int = Field(MAX_BODY_BYTES, ge=1024, description="largest request body")
    max_batch_events: int = Field(MAX_BATCH_EVENTS, ge=1, description="most events in one POST")
    max_inflight_batches: int = Field(
        64, ge=1, description="batches being published at once before ingest answers 429"
    )
    key_cache_seconds: float = Field(
        2.0, ge=0, description="how long a looked-up API key is trusted (revocation delay)"
    )
    max_event_age_days: int = Field(
        30,
        ge=1,
        le=36500,
        description="oldest event timestamp accepted, in days; an admin key may backfill "
        "older events with POST /v1/events?backfill=true",
    )
    max_clock_skew_s: float = Field(
        300.0, ge=0, description="how far ahead of the server clock an event timestamp may be"
    )
    max_event_quantity: int = Field(
        100_000_000,
        ge=1,
        le=10**12,
        description="cap on every usage quantity of one event (tokens, images, characters, …)",
    )
    max_event_cost_usd: Decimal = Field(
        Decimal("10000"),
        gt=0,
        max_digits=38,
        description="cap on the cost_usd and provider_cost_usd one event may state",
    )

    # OTLP/HTTP traces at /v1/traces (ingest/otlp.py, ingest/genai.py)
    otlp_attribute_map: str | None = Field(
        None,
        description='OTLP: JSON {"span or resource attribute": "customer_id|user_id|trace_id|'
        'feature|team|service|environment|prompt_key|prompt_version" or "tag:<key>"}, on top of '
        "service.name → service and deployment.environment(.name) → environment",
    )
    otlp_input_excludes_cache: str = Field(
        "anthropic,bedrock",
        description="OTLP: providers whose gen_ai.usage.input_tokens leaves out cache reads and "
        "writes (as their APIs count); for the others they are subtracted",
    )

    writer_batch_size: int = Field(
        20000, ge=1, description="events per ClickHouse insert (fewer, larger parts)"
    )
    writer_flush_ms: int = Field(1000, ge=10, description="longest wait before a partial flush")
    writer_ack_wait_s: float = Field(
        60.0, gt=0, description="unacked messages are redelivered after this many seconds"
    )
    writer_id: str = Field(
        "embedded",
        pattern=r"^[a-z][a-z0-9_]{0,40}$",
        description="names this writer's staging table; unique per writer process",
    )
    writer_processes: int = Field(
        1,
        ge=0,
        le=16,
        description="worker processes that parse and re-price for the writer; 0 = in-process",
    )
    writer_max_deliveries: int = Field(
        5, ge=1, description="deliveries before a message goes to the dead-letter subject"
    )
    replay_events_per_s: int = Field(
        20000,
        ge=0,
        description="most events per second `costobs replay` stores next to a live writer "
        "(while `costobs up` runs, or in server mode); 0 = no limit",
    )
    child_restart_limit: int = Field(
        5,
        ge=0,
        description="restarts in a row of a dying child (transform worker, embedded "
        "nats-server) before the process exits non-zero",
    )
    health_timeout_s: float = Field(
        2.0, gt=0, description="how long /healthz waits for each dependency to answer"
    )
    compact_interval_s: float = Field(
        300.0,
        ge=0,
        description="how often the writer fills the pair rollups for closed UTC days; "
        "0 = never (with several writers, leave it on in one)",
    )

    # alertd (alerting/)
    alertd_port: int = Field(8081, ge=0, le=65535, description="alertd health port; 0 = none")
    alert_reconcile_s: float = Field(
        60.0, gt=0, description="how often alertd re-reads its counters from ClickHouse"
    )
    alert_rule_refresh_s: float = Field(
        5.0, gt=0, description="how often alertd picks up created, changed or deleted rules"
    )
    alert_delivery_attempts: int = Field(
        5, ge=1, le=20, description="attempts per alert and target before it counts as failed"
    )
    alert_retry_base_s: float = Field(
        1.0, ge=0, description="first retry delay of a failed delivery; doubles each attempt"
    )
    alert_delivery_timeout_s: float = Field(10.0, gt=0, description="HTTP timeout per attempt")
    alert_target_allow: str | None = Field(
        None,
        description="private, loopback or link-local destinations alert targets may reach "
        "(comma-separated CIDRs, addresses or host names); unset = loopback in embedded mode, "
        "none in server mode; empty = none",
    )

    # billsyncd (billing/): makes outbound calls only when a provider admin key is set
    billsyncd_port: int = Field(8082, ge=0, le=65535, description="billsyncd health port; 0 = none")
    billing_openai_admin_key: SecretStr | None = Field(
        None, description="OpenAI admin key (sk-admin-…); unset = OpenAI bills are not synced"
    )
    billing_anthropic_admin_key: SecretStr | None = Field(
        None, description="Anthropic admin key (sk-ant-admin…); unset = not synced"
    )
    billing_openai_base_url: str = Field("https://api.openai.com", description="OpenAI API base")
    billing_anthropic_base_url: str = Field(
        "https://api.anthropic.com", description="Anthropic API base"
    )
    billing_org: str = Field("default", description="the org synced provider bills belong to")
    billing_lookback_days: int = Field(
        7, ge=1, le=180, description="days re-synced each run (providers revise recent days)"
    )
    billing_interval_s: float = Field(3600.0, gt=0, description="seconds between sync runs")
    billing_timeout_s: float = Field(30.0, gt=0, description="HTTP timeout per provider call")

    api_url: str | None = Field(
        None, description="read API the dashboard calls; unset = http://COSTOBS_HOST:COSTOBS_PORT"
    )
    dashboard_api_key: str | None = Field(
        None, description="read key the dashboard uses (embedded dev mode: the dev key)"
    )
    dashboard_password: str | None = Field(
        None, description="server mode without OIDC: the dashboard login password"
    )
    dashboard_orgs: str | None = Field(
        None,
        description='OIDC: JSON {"alice@acme.com" or "*@acme.com": "<read key of the org>"}',
    )

    @cached_property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def metadata_db_url(self) -> str:
        if self.metadata_url:
            return self.metadata_url
        return f"sqlite:///{self.resolved_data_dir / 'metadata.sqlite3'}"

    @property
    def chdb_path(self) -> Path:
        return self.resolved_data_dir / "clickhouse"

    @property
    def nats_store_dir(self) -> Path:
        return self.resolved_data_dir / "nats"

    @property
    def alert_target_allow_entries(self) -> tuple[str, ...]:
        """The allow-list, the mode's default when unset (alerting/addresses.py checks it)."""
        if self.alert_target_allow is None:
            return ("127.0.0.0/8", "::1") if self.mode == "embedded" else ()
        return tuple(e.strip() for e in self.alert_target_allow.split(",") if e.strip())

    @property
    def seeds_dev_key(self) -> bool:
        return not self.production


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with explicit arguments (e.g. CLI flags) on top."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"COSTOBS_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from exc
