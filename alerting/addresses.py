"""Which addresses alert deliveries may reach, checked when a target is created and again at
every connection, after DNS resolution.

An alert target is a URL an admin types in, and the server POSTs to it: left alone that is a
port scanner and SSRF reaching loopback services, the cloud metadata endpoint (169.254.169.254)
and the private network. So a delivery may connect only to a *global* address — not private,
loopback, link-local, shared (CGNAT), multicast, reserved or unspecified, IPv4 inside IPv6
included — unless ``COSTOBS_ALERT_TARGET_ALLOW`` lists it (CIDRs, addresses or host names;
embedded mode allows loopback by default, for receivers on the same machine).

The check sits in the connection itself (``GuardedTransport``): the host is resolved once,
each address checked, and the connection made to that very address (TLS still verifies the
host name). A name that resolved to a public address when the target was created and to a
private one now (DNS rebinding) is refused at delivery; so is any address a redirect would
lead to (deliveries do not follow redirects anyway). Deliveries connect directly: proxies from
the environment are not used, since the check must see the address actually connected to.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from costobs_server.errors import ConfigError, CostObsError, InvalidInput
from costobs_server.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]


class BlockedAddress(CostObsError, httpcore.ConnectError):
    """The target resolves to an address the allow-list does not permit."""


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _plain(address: IPAddress) -> IPAddress:
    """IPv4 written inside IPv6 (``::ffff:127.0.0.1``) is judged as the IPv4 it reaches."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_public(address: IPAddress) -> bool:
    plain = _plain(address)
    return plain.is_global and not plain.is_multicast


def parse_allow_entry(entry: str) -> IPNetwork | str:
    """A CIDR or address (as a network), or a lower-case host name; ``ValueError`` otherwise."""
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        pass
    name = entry.lower().rstrip(".")
    labels = name.split(".")
    if not name or len(name) > 253 or not all(_label_ok(label) for label in labels):
        raise InvalidInput(f"{entry!r} is neither a CIDR, an IP address nor a host name")
    return name


def _label_ok(label: str) -> bool:
    return 0 < len(label) <= 63 and label.replace("-", "").isalnum() and label[0] != "-"


@dataclass(frozen=True)
class TargetPolicy:
    """The allow-list, and the checks made with it."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()
    resolve: Resolver = field(default=system_resolver, compare=False)

    @classmethod
    def from_entries(cls, entries: Iterable[str], resolve: Resolver | None = None) -> TargetPolicy:
        parsed = [parse_allow_entry(e) for e in entries]
        return cls(
            tuple(p for p in parsed if not isinstance(p, str)),
            frozenset(p for p in parsed if isinstance(p, str)),
            resolve or system_resolver,
        )

    def allows_address(self, address: IPAddress) -> bool:
        plain = _plain(address)
        return is_public(plain) or any(plain in n for n in self.networks)

    async def allowed_addresses(self, host: str, port: int) -> list[str]:
        """The addresses ``host`` resolves to now, all of them allowed; ``BlockedAddress``
        naming the setting when any is not (one bad answer is enough to refuse: a resolver
        alternating answers must not get a foot in)."""
        name = host.lower().rstrip(".").strip("[]")
        try:
            literal: IPAddress | None = ipaddress.ip_address(name)
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                addresses = await self.resolve(host, port)
            except OSError as exc:
                raise BlockedAddress(f"host {host!r} does not resolve ({exc})") from None
            if name in self.hosts:  # allowed by name, whatever it resolves to
                return addresses
        refused = [a for a in addresses if not self.allows_address(ipaddress.ip_address(a))]
        if refused or not addresses:
            raise BlockedAddress(
                f"{host!r} is a private, loopback or link-local address "
                "(allow it with COSTOBS_ALERT_TARGET_ALLOW)"
            )
        return addresses

    async def check_url(self, url: str) -> None:
        """At creation: ``ValueError`` when the URL's host is not an allowed destination."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput("url must be an http(s) URL with a host")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise InvalidInput("url has an invalid port") from None
        try:
            await self.allowed_addresses(parts.hostname, port)
        except BlockedAddress as exc:
            raise InvalidInput(f"url: {exc}") from None


def policy_from_settings(settings: Settings, resolve: Resolver | None = None) -> TargetPolicy:
    """The policy of COSTOBS_ALERT_TARGET_ALLOW (or the mode's default); a bad entry stops
    start-up naming the variable."""
    try:
        return TargetPolicy.from_entries(settings.alert_target_allow_entries, resolve)
    except ValueError as exc:
        raise ConfigError(f"invalid configuration: COSTOBS_ALERT_TARGET_ALLOW: {exc}") from None


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks, then connects to the checked address itself."""

    def __init__(self, policy: TargetPolicy) -> None:
        self.policy = policy
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:  # resolution is part of connecting: the same timeout bounds it
            addresses = await asyncio.wait_for(self.policy.allowed_addresses(host, port), timeout)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host!r} timed out") from None
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:  # pragma: no cover - deliveries never use sockets
        raise BlockedAddress("unix sockets are not alert targets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with every connection checked by ``policy``."""

    def __init__(self, policy: TargetPolicy) -> None:
        super().__init__(trust_env=False)
        # httpx has no public hook for the network backend; the pool is rebuilt the way
        # httpx builds it, with ours (tests/test_alert_targets.py pins that it is used)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            network_backend=_GuardedBackend(policy),
        )
