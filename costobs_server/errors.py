"""One exception root for CostObs: the SDK's ``costobs.CostObsError``, which the server's
errors derive from too, so ``except CostObsError`` catches a bad price table from the SDK's
pricing engine (``PricingError``) and a bad setting of the server alike. Each error mixes in
the built-in it behaves like (``ConfigError`` is a ``ValueError``…), so callers that only
know the built-ins keep working. An error that is not a ``CostObsError`` is a bug.
"""

from costobs import CostObsError as CostObsError


class ConfigError(CostObsError, ValueError):
    """A setting is missing or has a bad value; the message names the variable."""


class InvalidInput(CostObsError, ValueError):
    """Input from outside (a request, a file, a message, a rule) breaks a rule; the message
    names what is wrong. Pydantic validators raise it too (it is a ``ValueError``)."""


class NotFound(CostObsError, LookupError):
    """The thing asked for does not exist (in the caller's org)."""


class StoreError(CostObsError, RuntimeError):
    """The event store refused or failed an operation."""


class Unavailable(CostObsError, RuntimeError):
    """A dependency (NATS, ClickHouse, an upstream API) cannot take the work right now."""
