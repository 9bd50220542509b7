"""NATS access: who may connect, and what each role may do once connected.

Every connection a CostObs process opens goes through :func:`connect` with a :class:`NatsAuth`:
the embedded server's generated users (:class:`EmbeddedUsers`) or, in server mode, the
``COSTOBS_NATS_*`` credentials and TLS files (:meth:`NatsAuth.from_settings`).

Each role gets only the subjects it needs (:func:`permissions`; the same set is written out for
server mode in ``nats/nats-server.example.conf``). Replies come back on a per-role inbox
prefix (``_INBOX.<role>.``), so one role cannot read the answers meant for another:

- ingest publishes events and imported bills; it cannot read or change any stream.
- writer owns the stream definitions (applies ``costobs_server/streams.yaml``: stream info, create,
  update, consumer create — never delete or purge), pulls and acks through its durables
  ``writer`` and ``bills-writer``, and publishes dead letters.
- alertd pulls and acks through its durable ``alertd`` only.
- billsyncd publishes provider bills.
- replay (``costobs replay``) manages and pulls through its own ``replay-<job>`` consumers of the
  events stream and reads the stream's and the writer's state (where to stop).
- dlq (``costobs dlq``) reads, deletes and purges dead letters and re-publishes them to
  their source subjects.
- admin may do anything: for operators and tests, never used by a running role.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nats.aio.client import Client as NATS

from costobs_server.errors import ConfigError, CostObsError
from costobs_server.settings import Settings
from costobs_server.streams import (
    ALERTD_DURABLE,
    BILLS_DLQ_SUBJECT,
    BILLS_DURABLE,
    BILLS_STREAM,
    DLQ_STREAM,
    DLQ_SUBJECT,
    EVENTS_STREAM,
    WRITER_DURABLE,
)

log = logging.getLogger(__name__)

ROLES = ("ingest", "writer", "alertd", "billsyncd", "replay", "dlq")
ADMIN = "admin"


def inbox_prefix(role: str) -> str:
    return f"_INBOX.{role}"


def _pull(stream: str, durable: str) -> list[str]:
    """Bind to one durable pull consumer, fetch from it and ack its messages."""
    return [
        f"$JS.API.CONSUMER.INFO.{stream}.{durable}",
        f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}",
        f"$JS.ACK.{stream}.{durable}.>",
    ]


HEALTH_PROBE = "$JS.API.INFO"


def permissions(role: str) -> dict[str, list[str]]:
    """The subjects ``role`` may publish to and subscribe to (NATS wildcards)."""
    if role == ADMIN:
        return {"publish": [">"], "subscribe": [">"]}
    publish: list[str]
    if role == "ingest":
        # and the dead-letter count the Overview warns about (readapi/routes/dead_letters.py)
        publish = [
            "costobs.events.>",
            "costobs.bills.>",
            f"$JS.API.STREAM.INFO.{DLQ_STREAM}",
            f"$JS.API.STREAM.MSG.GET.{DLQ_STREAM}",
        ]
    elif role == "writer":
        streams = (EVENTS_STREAM, BILLS_STREAM, DLQ_STREAM)
        publish = [
            *(f"$JS.API.STREAM.{op}.{s}" for s in streams for op in ("INFO", "CREATE", "UPDATE")),
            *(f"$JS.API.CONSUMER.CREATE.{s}.>" for s in (EVENTS_STREAM, BILLS_STREAM)),
            *(f"$JS.API.CONSUMER.DURABLE.CREATE.{s}.>" for s in (EVENTS_STREAM, BILLS_STREAM)),
            *_pull(EVENTS_STREAM, WRITER_DURABLE),
            *_pull(BILLS_STREAM, BILLS_DURABLE),
            DLQ_SUBJECT,
            BILLS_DLQ_SUBJECT,
        ]
    elif role == "alertd":
        publish = _pull(EVENTS_STREAM, ALERTD_DURABLE)
    elif role == "billsyncd":
        publish = ["costobs.bills.>"]
    elif role == "replay":
        # NATS wildcards match whole tokens only, so "replay-*" durables cannot be singled
        # out: this operator role may manage any consumer of the events stream.
        publish = [
            f"$JS.API.STREAM.INFO.{EVENTS_STREAM}",
            f"$JS.API.CONSUMER.INFO.{EVENTS_STREAM}.*",
            f"$JS.API.CONSUMER.CREATE.{EVENTS_STREAM}.>",
            f"$JS.API.CONSUMER.DURABLE.CREATE.{EVENTS_STREAM}.*",
            f"$JS.API.CONSUMER.DELETE.{EVENTS_STREAM}.*",
            f"$JS.API.CONSUMER.MSG.NEXT.{EVENTS_STREAM}.*",
            f"$JS.ACK.{EVENTS_STREAM}.*.>",
        ]
    elif role == "dlq":
        publish = [
            "costobs.events.>",
            "costobs.bills.>",
            *(
                f"$JS.API.STREAM.{op}.{DLQ_STREAM}"
                for op in ("INFO", "MSG.GET", "MSG.DELETE", "PURGE")
            ),
        ]
    else:
        raise ValueError(f"unknown NATS role {role!r}")
    # $JS.API.INFO (account info, read-only) is the health probe of every role's /healthz.
    return {"publish": [*publish, HEALTH_PROBE], "subscribe": [f"{inbox_prefix(role)}.>"]}


@dataclass(frozen=True)
class NatsAuth:
    """How one client authenticates (none, user/password, token or a .creds file) and TLS."""

    user: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    creds: Path | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None

    @classmethod
    def from_settings(cls, s: Settings) -> NatsAuth:
        """Server mode: ``COSTOBS_NATS_*``; a bad combination raises naming the variables."""
        ways = [
            name
            for name, given in (
                ("COSTOBS_NATS_USER", s.nats_user),
                ("COSTOBS_NATS_TOKEN", s.nats_token),
                ("COSTOBS_NATS_CREDS", s.nats_creds),
            )
            if given is not None
        ]
        if len(ways) > 1:
            raise ConfigError(f"set only one NATS authentication: {', '.join(ways)}")
        if (s.nats_user is None) != (s.nats_password is None):
            raise ConfigError("COSTOBS_NATS_USER and COSTOBS_NATS_PASSWORD go together")
        if (s.nats_tls_cert is None) != (s.nats_tls_key is None):
            raise ConfigError("COSTOBS_NATS_TLS_CERT and COSTOBS_NATS_TLS_KEY go together")
        for name, path in (
            ("COSTOBS_NATS_CREDS", s.nats_creds),
            ("COSTOBS_NATS_TLS_CA", s.nats_tls_ca),
            ("COSTOBS_NATS_TLS_CERT", s.nats_tls_cert),
            ("COSTOBS_NATS_TLS_KEY", s.nats_tls_key),
        ):
            if path is not None and not path.is_file():
                raise ConfigError(f"{name}: no such file {path}")
        return cls(
            user=s.nats_user,
            password=s.nats_password.get_secret_value() if s.nats_password else None,
            token=s.nats_token.get_secret_value() if s.nats_token else None,
            creds=s.nats_creds,
            tls_ca=s.nats_tls_ca,
            tls_cert=s.nats_tls_cert,
            tls_key=s.nats_tls_key,
        )

    def tls_context(self) -> ssl.SSLContext | None:
        if not (self.tls_ca or self.tls_cert):
            return None
        context = ssl.create_default_context(cafile=str(self.tls_ca) if self.tls_ca else None)
        if self.tls_cert and self.tls_key:
            context.load_cert_chain(str(self.tls_cert), str(self.tls_key))
        return context

    def options(self) -> dict[str, Any]:
        """Keyword arguments of ``nats.connect`` for these credentials."""
        opts: dict[str, Any] = {}
        if self.user is not None:
            opts |= {"user": self.user, "password": self.password}
        if self.token is not None:
            opts["token"] = self.token
        if self.creds is not None:
            opts["user_credentials"] = str(self.creds)
        if (tls := self.tls_context()) is not None:
            opts["tls"] = tls
        return opts


async def connect(url: str, auth: NatsAuth, role: str, **overrides: Any) -> NATS:
    """The one way CostObs connects to NATS: ``role``'s credentials and inbox, reconnecting.

    A server that is not up yet is waited for (as before); credentials the server refuses
    fail at once with an error naming the role, instead of being retried for ever.
    """
    refused = asyncio.Event()
    user_cb = overrides.pop("error_cb", None)

    async def on_error(exc: Exception) -> None:
        if "authorization violation" in str(exc).lower() or "authentication" in str(exc).lower():
            refused.set()
        if user_cb is not None:
            await user_cb(exc)
        else:
            log.warning("NATS (%s): %r", role, exc)

    options: dict[str, Any] = {
        "name": f"costobs-{role}",
        "inbox_prefix": inbox_prefix(role),
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "connect_timeout": 5,
        "error_cb": on_error,
    }
    servers = [u.strip() for u in url.split(",") if u.strip()]
    nc = NATS()
    connecting = asyncio.ensure_future(
        nc.connect(servers, **(options | auth.options() | overrides))
    )
    gave_up = asyncio.ensure_future(refused.wait())
    await asyncio.wait({connecting, gave_up}, return_when=asyncio.FIRST_COMPLETED)
    gave_up.cancel()
    if connecting.done():
        connecting.result()  # raises what the connect raised
        return nc
    connecting.cancel()
    with contextlib.suppress(BaseException):
        await connecting
    with contextlib.suppress(Exception):
        await nc.close()
    raise ConfigError(
        f"NATS at {url} refused the credentials of the {role} role "
        f"(server mode: COSTOBS_NATS_USER/_PASSWORD, _TOKEN or _CREDS)"
    )


class EmbeddedUsers:
    """Generated passwords of the embedded server's users, one per role plus admin.

    Kept in ``<store dir>/auth.json``, owner-only (0600), created once and reused on every
    restart; a role added by an upgrade gets its password added to the same file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.passwords = self._load_or_create()

    def _load_or_create(self) -> dict[str, str]:
        known: dict[str, str] = {}
        if self.path.exists():
            os.chmod(self.path, 0o600)  # whatever happened to it since, keep it owner-only
            try:
                loaded = json.loads(self.path.read_text())
            except ValueError as exc:
                raise CostObsError(
                    f"{self.path} is damaged ({exc}); delete it to generate new NATS users"
                ) from None
            if isinstance(loaded, Mapping):
                known = {str(k): str(v) for k, v in loaded.items()}
        wanted = (ADMIN, *ROLES)
        if all(role in known for role in wanted):
            return known
        passwords = {role: known.get(role) or secrets.token_urlsafe(32) for role in wanted}
        write_private(self.path, json.dumps(passwords, indent=2) + "\n")
        return passwords

    def auth(self, role: str) -> NatsAuth:
        return NatsAuth(user=role, password=self.passwords[role])

    def server_config(self) -> str:
        """The ``authorization`` block of the embedded nats-server.conf: one user per role."""
        return authorization_block({role: json.dumps(pw) for role, pw in self.passwords.items()})


def authorization_block(passwords: Mapping[str, str]) -> str:
    """nats-server ``authorization`` with one user per role and its :func:`permissions`.

    ``passwords`` maps each role to a config value: a quoted literal, or an unquoted
    ``$VARIABLE`` that nats-server reads from its environment (the server-mode example).
    """
    lines = ["authorization {", "  users: ["]
    for role, password in passwords.items():
        lines += [
            "    {",
            f"      user: {role}",
            f"      password: {password}",
            "      permissions: {",
        ]
        for kind, subjects in permissions(role).items():
            lines.append(f"        {kind}: {{ allow: {json.dumps(subjects)} }}")
        lines += ["      }", "    }"]
    lines += ["  ]", "}", ""]
    return "\n".join(lines)


def example_server_config() -> str:
    """``nats/nats-server.conf``: server mode's NATS with the same users and permissions."""
    head = [
        "# NATS for CostObs in server mode: one user per role, each allowed only the subjects it",
        "# needs (costobs_server/nats_auth.py; regenerate with `make docs`). Passwords come from",
        "# the server's environment: NATS_<ROLE>_PASSWORD. Give each CostObs process its role's",
        "# COSTOBS_NATS_USER / COSTOBS_NATS_PASSWORD. Add `tls { cert_file, key_file, ca_file }`",
        "# and COSTOBS_NATS_TLS_* when clients reach it over a network you do not trust.",
        "port: 4222",
        "http_port: 8222",
        'jetstream { store_dir: "/data" }',
        "",
    ]
    passwords = {role: f"$NATS_{role.upper()}_PASSWORD" for role in (*ROLES, ADMIN)}
    return "\n".join(head) + authorization_block(passwords)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only: a temp file created 0600, renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # O_CREAT's mode is masked by umask and ignored for an old file
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
