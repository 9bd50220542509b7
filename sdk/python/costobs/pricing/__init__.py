"""CostObs pricing engine: one versioned price table, exact ``Decimal`` costs.

    from costobs.pricing import load_price_table
    table = load_price_table()                  # the bundled table, cached
    q = table.quote(provider="openai", model="gpt-4o-2024-08-06",
                    usage={"input_tokens": 1000, "output_tokens": 20})
    q.cost_usd  # Decimal('0.0027')

See ``pricing/README.md`` in the repository for the table format and the matching rules.
"""

from ._errors import PricingError
from ._load import load_price_table, table_from_data
from ._table import PriceTable, Quote

__all__ = ["PriceTable", "PricingError", "Quote", "load_price_table", "table_from_data"]
