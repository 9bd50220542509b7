"""billsyncd: provider bills (OpenAI costs, Anthropic cost report) into ``billed_daily``, and
``costobs billing import`` for everything else. Opt-in: without keys it never connects out."""

from billing.providers import ProviderError, anthropic_days, openai_days
from billing.sync import BillSync, configured

__all__ = ["BillSync", "ProviderError", "anthropic_days", "configured", "openai_days"]
