"""Bill line items: ``"<model>, <kind>"`` names a cost billed for one model (OpenAI's own
format; billsyncd writes Anthropic's model and token type the same way). Pure, and light: the
read API imports it without the HTTP client the provider fetchers need."""

from __future__ import annotations

ITEM_SEPARATOR = ", "


def item_model(line_item: str) -> str | None:
    """The model a line item was billed for, None for other costs (web search, …)."""
    model, sep, _ = line_item.partition(ITEM_SEPARATOR)
    return model if sep and model else None
