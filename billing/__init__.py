"""billsyncd: provider bills (OpenAI costs, Anthropic cost report) into ``billed_daily``, and
``costobs billing import`` for everything else. Opt-in: without keys it never connects out.

The public names are imported on first use (PEP 562) to keep the CLI's start fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from billing.providers import ProviderError, anthropic_days, openai_days
    from billing.sync import BillSync, configured

_HOMES = {
    "BillSync": "billing.sync",
    "ProviderError": "billing.providers",
    "anthropic_days": "billing.providers",
    "configured": "billing.sync",
    "openai_days": "billing.providers",
}

__all__ = ["BillSync", "ProviderError", "anthropic_days", "configured", "openai_days"]


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'billing' has no attribute {name!r}")
