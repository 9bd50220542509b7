"""Display currencies: ISO 4217 codes, dated exchange rates, exact conversion from USD.

USD stays the stored truth everywhere; these turn a USD figure of a day into the org's display
currency with that day's rate (or the latest earlier one, flagged as a fallback).
"""

from costobs_server.currency._file import RateFileError, RateLine, parse_rates_csv
from costobs_server.currency._iso4217 import MINOR_UNITS
from costobs_server.currency._rates import (
    STORED,
    Currency,
    CurrencyError,
    DayRate,
    RateBook,
    Segment,
    currency,
    display,
    exact_product,
    exact_sum,
    parse_day,
    parse_rate,
    rate_text,
)

__all__ = [
    "MINOR_UNITS",
    "STORED",
    "Currency",
    "CurrencyError",
    "DayRate",
    "RateBook",
    "RateFileError",
    "RateLine",
    "Segment",
    "currency",
    "display",
    "exact_product",
    "exact_sum",
    "parse_day",
    "parse_rate",
    "parse_rates_csv",
    "rate_text",
]
