"""Dashboard configuration from the one settings table (``COSTOBS_*``). Pure."""

from __future__ import annotations

import fnmatch
import ipaddress
import json
from dataclasses import dataclass, field
from typing import Literal

from costobs_server.errors import ConfigError
from costobs_server.settings import Settings, load_settings
from costobs_server.vocabulary import DEV_KEY

AuthMode = Literal["none", "password", "oidc"]


@dataclass(frozen=True)
class DashboardConfig:
    api_url: str
    auth: AuthMode
    api_key: str | None
    """The org credential when one key serves every session (embedded; password login)."""
    password: str | None = None
    org_keys: dict[str, str] = field(default_factory=dict)
    """OIDC: e-mail or ``*@domain`` pattern → read key of the org the user belongs to."""

    def key_for_email(self, email: str | None) -> str | None:
        """The credential an OIDC user reads with: the first matching pattern, else the
        dashboard's own key when no mapping is configured."""
        if not self.org_keys:
            return self.api_key
        if not email:
            return None
        email = email.lower()
        for pattern, key in self.org_keys.items():
            if fnmatch.fnmatchcase(email, pattern.lower()):
                return key
        return None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def from_settings(settings: Settings, oidc_configured: bool) -> DashboardConfig:
    api_url = settings.api_url or f"http://{settings.host}:{settings.port}"
    key = settings.dashboard_api_key
    if settings.mode == "embedded" and is_loopback(settings.host):
        if key is None and settings.seeds_dev_key:
            key = DEV_KEY
        return DashboardConfig(api_url, "none", key)
    org_keys: dict[str, str] = {}
    if settings.dashboard_orgs:
        try:
            parsed = json.loads(settings.dashboard_orgs)
        except ValueError as exc:
            raise ConfigError(f"COSTOBS_DASHBOARD_ORGS: not JSON: {exc}") from None
        if not isinstance(parsed, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in parsed.items()
        ):
            raise ConfigError("COSTOBS_DASHBOARD_ORGS: expected a JSON object of strings")
        org_keys = parsed
    if oidc_configured:
        return DashboardConfig(api_url, "oidc", key, org_keys=org_keys)
    if not settings.dashboard_password:
        raise ConfigError(
            "the dashboard needs a login outside embedded loopback mode: configure OIDC "
            "([auth] in .streamlit/secrets.toml) or set COSTOBS_DASHBOARD_PASSWORD"
        )
    if not key:
        raise ConfigError("password login needs COSTOBS_DASHBOARD_API_KEY (the org's read key)")
    return DashboardConfig(api_url, "password", key, password=settings.dashboard_password)


def load(oidc_configured: bool) -> DashboardConfig:
    return from_settings(load_settings(), oidc_configured)
