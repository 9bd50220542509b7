"""alertd: spend alert rules evaluated on the live event stream, delivered to Slack and
signed webhooks. ``alerting.api`` is the rules/targets/history part of the read API.

The public names are imported on first use (PEP 562), so ``costobs --help`` and the CLI's
client commands do not pay for NATS, SQLAlchemy and ClickHouse imports they never use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alerting.delivery import verify_signature
    from alerting.rules import KINDS, Breach, Rule, RuleSpec, evaluate, next_seq
    from alerting.worker import AlertD

_HOMES = {
    "KINDS": "alerting.rules",
    "AlertD": "alerting.worker",
    "Breach": "alerting.rules",
    "Rule": "alerting.rules",
    "RuleSpec": "alerting.rules",
    "evaluate": "alerting.rules",
    "next_seq": "alerting.rules",
    "verify_signature": "alerting.delivery",
}

__all__ = [
    "KINDS",
    "AlertD",
    "Breach",
    "Rule",
    "RuleSpec",
    "evaluate",
    "next_seq",
    "verify_signature",
]


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'alerting' has no attribute {name!r}")
