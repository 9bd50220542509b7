"""The SDK's exceptions: one root, mixed with the built-in each one behaves like."""

from __future__ import annotations


class CostObsError(Exception):
    """Root of every exception the costobs SDK raises on purpose."""


class ConfigError(CostObsError, ValueError):
    """A setting has a bad value; the message names the argument or environment variable."""


class UnsupportedClientError(CostObsError, TypeError):
    """``costobs.wrap`` was given an object it has no adapter for."""
