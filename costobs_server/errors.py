"""One exception root for the server; each mixes in the built-in it behaves like."""


class CostObsError(Exception):
    """Root of every error CostObs raises on purpose."""


class ConfigError(CostObsError, ValueError):
    """A setting is missing or has a bad value; the message names the variable."""


class StoreError(CostObsError, RuntimeError):
    """The event store refused or failed an operation."""
