"""alertd: spend alert rules evaluated on the live event stream, delivered to Slack and
signed webhooks. ``alerting.api`` is the rules/targets/history part of the read API."""

from alerting.delivery import verify_signature
from alerting.rules import KINDS, Breach, Rule, RuleSpec, evaluate, next_seq
from alerting.worker import AlertD

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
