"""Names every part of the server shares, defined once and cheap to import (no third-party
imports): the CLI, the dashboard and the metadata DB all read them from here."""

from __future__ import annotations

# The org and key seeded on first boot in embedded/dev mode (never when COSTOBS_PRODUCTION).
DEFAULT_ORG = "default"
DEV_KEY = "costobs_dev_secret_key"
