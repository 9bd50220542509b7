"""Names every part of the server shares, defined once and cheap to import (stdlib only): the
wire schema, the store, the read API, alerting, the dashboard, the CLI and the metadata DB all
read them from here.

The SDKs are packages of their own and cannot import the server: their copies (Python
``costobs._context.FIELDS``, ``MAX_TAGS`` and the batch limits of ``costobs._config``;
TypeScript ``src/context.ts``; Go ``metadata.go``) are pinned to these by
``tests/test_vocabulary.py``, and every SDK validates against the published wire schema, which
is generated from ``costobs_server.wire`` and so from here.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Final

# The org and key seeded on first boot in embedded/dev mode (never when COSTOBS_PRODUCTION).
DEFAULT_ORG = "default"
DEV_KEY = "costobs_dev_secret_key"

# --- the nine dimensions ----------------------------------------------------------------------

DIMENSIONS: Final[dict[str, str]] = {
    "customer": "customer_id",
    "user": "user_id",
    "trace": "trace_id",
    "feature": "feature",
    "team": "team",
    "service": "service",
    "environment": "environment",
    "prompt": "prompt_key",
    "prompt_version": "prompt_version",
}
"""The nine first-class metadata fields of an event: public name (a read-API level, an alert
scope) → the wire field and ``events`` column that holds it ('' when absent)."""
DIMENSION_COLUMNS: Final = tuple(DIMENSIONS.values())
HIGH_CARDINALITY: Final = {name: DIMENSIONS[name] for name in ("customer", "user")}
"""About one value per end user: no daily cross-dimension rollup holds them (the pair rollups
pair them with the rest)."""

LEVELS: Final[dict[str, str]] = {
    "provider": "provider",
    "model": "model",
    **{name: column for name, column in DIMENSIONS.items() if name != "trace"},
    "status": "status",
}
"""What the read API groups spend by: level name → events column. A trace is one request or a
few, so it is looked up (requests), not grouped by."""

ALERT_DIMENSIONS: Final[dict[str, str]] = {
    "provider": "provider",
    "model": "model",
    "canonical_model": "canonical_model",
    **{name: DIMENSIONS[name] for name in ("feature", "team", "customer", "user", "environment")},
}
"""What alert rules scope and group by: name → event field / events column."""

# --- tags -------------------------------------------------------------------------------------

TAG_KEY: Final = r"[A-Za-z_][A-Za-z0-9_.\-]{0,63}"
"""A tag key: a bounded identifier (a pattern, to embed in larger ones)."""
TAG_KEY_RE: Final = re.compile(rf"^{TAG_KEY}$")
TAG_KEY_HELP: Final = "a letter or _, then up to 63 letters, digits, _ . -"
MAX_TAGS: Final = 32
"""Tags on one event."""
MAX_TEXT: Final = 256
"""Characters of a tag value, a dimension's value, a model name."""

# --- batches ----------------------------------------------------------------------------------

MAX_BATCH_EVENTS: Final = 1000
"""Events in one ``POST /v1/events`` by default (COSTOBS_MAX_BATCH_EVENTS)."""
MAX_BODY_BYTES: Final = 5 * 1024 * 1024
"""A request body by default (COSTOBS_MAX_BODY_BYTES)."""

# --- money as text ----------------------------------------------------------------------------

MONEY_PLACES: Final = 18
"""Decimal places money keeps on the wire and in the store (``Decimal(38, 18)``)."""
_QUANTUM = Decimal(1).scaleb(-MONEY_PLACES)


def money_text(value: Decimal | int | None) -> str:
    """Money as the API, the store and the wire write it: a plain decimal string, no exponent
    and no trailing zeros (``"0.0125"``, ``"3"``, ``"0"`` for zero or none), rounded half-even
    to ``MONEY_PLACES`` only when it has more. Exact otherwise (``normalize()`` would round to
    the context's 28 digits; this does not)."""
    if value is None:
        return "0"
    d = Decimal(value)
    exponent = d.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MONEY_PLACES:
        d = d.quantize(_QUANTUM, ROUND_HALF_EVEN)
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


NO_VALUE: Final = "—"


def usd(value: str | Decimal | int | None) -> str:
    """Money for people, the one rule of every dashboard page and alert message: dollars,
    thousands grouped, at least cents and every further digit kept (``$1,234.50``, ``$0.0035``,
    ``$123.456789``). Nothing is rounded: a fired alert's observed figure and its threshold
    differ on screen whenever they differ. Text that is not a number is shown as it came."""
    if value is None or value == "":
        return NO_VALUE
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if not d.is_finite():
        return str(value)
    # format(d, "f") is exact; abs() and a precision ("…,.12f") round to 28 digits
    whole, _, frac = format(d.copy_abs(), "f").partition(".")
    sign = "-" if d < 0 else ""
    return f"{sign}${int(whole):,}.{frac.rstrip('0').ljust(2, '0')}"
