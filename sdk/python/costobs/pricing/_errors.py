"""The one exception of the pricing package."""

from __future__ import annotations

from costobs._errors import CostObsError


class PricingError(CostObsError, ValueError):
    """A price table that does not validate, or a quote request that cannot be priced.

    ``entry`` and ``field`` name where a table problem is (``None`` when it is not tied
    to one entry or field), so ``costobs pricing validate`` can point at the line to fix.
    An unknown model is *not* an error: it is quoted at $0 and flagged ``unpriced``.
    """

    def __init__(self, message: str, *, entry: str | None = None, field: str | None = None):
        self.entry = entry
        self.field = field
        where = []
        if entry is not None:
            where.append(f"entry {entry!r}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
