"""CostObs pricing engine: one versioned price table, exact ``Decimal`` costs.

    from costobs.pricing import load_price_table
    table = load_price_table()                  # the bundled table, cached
    q = table.quote(provider="openai", model="gpt-4o-2024-08-06",
                    usage={"input_tokens": 1000, "output_tokens": 20})
    q.cost_usd  # Decimal('0.0027')

``USAGE_COUNTS`` are the normalised usage counts the engine prices (the wire's ``usage`` count
fields, in the ``events`` table's column order); ``BUNDLED_TABLE`` is the JSON table shipped in
the package and ``read_table_file`` parses a .json/.yaml table into plain data without
compiling it (``table_from_data`` compiles it).

See ``pricing/README.md`` in the repository for the table format and the matching rules.
"""

from costobs._fields import COUNTS as USAGE_COUNTS

from ._errors import PricingError
from ._load import BUNDLED as BUNDLED_TABLE
from ._load import load_price_table, read_table_file, table_from_data
from ._table import PriceTable, Quote

__all__ = [
    "BUNDLED_TABLE",
    "USAGE_COUNTS",
    "PriceTable",
    "PricingError",
    "Quote",
    "load_price_table",
    "read_table_file",
    "table_from_data",
]
