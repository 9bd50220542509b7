"""The FastStream ``NatsBroker`` of the operator tools (``costobs replay``, ``costobs dlq``).

Same credentials, inbox prefix and reconnect behaviour as every other CostObs connection
(costobs_server/nats_auth.py), expressed as FastStream's security objects. The live consumers
get a broker module of their own (issue 14, FastStream); the two are meant to be unified.
"""

from __future__ import annotations

import logging

from faststream.nats import NatsBroker
from faststream.nats.security import (
    NatsCredentials,
    NatsSecurity,
    NatsToken,
    NatsUserPassword,
)

from costobs_server.nats_auth import NatsAuth, inbox_prefix

log = logging.getLogger(__name__)


def _security(auth: NatsAuth) -> NatsSecurity:
    tls = auth.tls_context()
    if auth.user is not None:
        return NatsUserPassword(auth.user, auth.password or "", ssl_context=tls)
    if auth.token is not None:
        return NatsToken(auth.token, ssl_context=tls)
    if auth.creds is not None:
        return NatsCredentials(str(auth.creds), ssl_context=tls)
    return NatsSecurity(ssl_context=tls)


def ops_broker(url: str, auth: NatsAuth, role: str) -> NatsBroker:
    """A broker connecting as ``role`` (its user, its ``_INBOX.<role>`` replies)."""
    return NatsBroker(
        [u.strip() for u in url.split(",") if u.strip()],
        name=f"costobs-{role}",
        inbox_prefix=inbox_prefix(role),
        security=_security(auth),
        max_reconnect_attempts=-1,
        connect_timeout=5,
        logger=log,
        log_level=logging.DEBUG,  # one line per batch otherwise
        graceful_timeout=30.0,
    )
