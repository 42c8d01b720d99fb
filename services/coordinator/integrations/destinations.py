"""Where webhooks may be sent: a guard against server-side request forgery.

Whoever may create a webhook subscription chooses a URL the coordinator will POST to from
inside the operator's network. Without a guard that is a way to reach what only the
coordinator can reach: its own ports (``127.0.0.1``), the databases and NATS on the private
network, a cloud metadata service (``169.254.169.254``). So a destination is refused when
any address it has is **not globally routable** — loopback, link-local, private (RFC 1918,
IPv6 unique local ``fc00::/7``), unspecified, multicast, reserved, carrier-grade NAT
(``100.64.0.0/10``), documentation and benchmarking ranges, and IPv6 forms that embed such an
IPv4 address (IPv4-mapped, 6to4, Teredo, NAT64) — unless the operator allowed it:

- ``COORDINATOR_WEBHOOK_ALLOWED_NETWORKS='["10.20.0.0/16"]'`` allows those networks only;
- ``COORDINATOR_WEBHOOK_ALLOW_PRIVATE=true`` allows every such address (development, tests).

**Scheme:** ``https`` always; plain ``http`` only to addresses the operator allowed by one of
the two settings above (an internal receiver the operator vouches for), or anywhere when
``COORDINATOR_WEBHOOK_ALLOW_HTTP=true``. Over plain http a payload can be read, and changed,
by anyone on the path (the signature proves who sent it, not that nobody read it).

A host name is judged by **every** address it resolves to (one forbidden address refuses it:
a resolver may hand out any of them). The check runs when a subscription is created or
enabled and again before each delivery, because DNS can change after the subscription was
accepted (DNS rebinding); the delivery then connects to the very address that was checked
(:func:`pinned`), so the name cannot resolve differently between the check and the
connection. Redirects are never followed.
"""

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

__all__ = [
    "Address",
    "DestinationPolicy",
    "Network",
    "Refused",
    "Resolver",
    "Target",
    "check_url",
    "forbidden_reason",
    "resolve",
    "split_url",
]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[Address]]

_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SITE_LOCAL = ipaddress.IPv6Network("fec0::/10")
_PRIVATE_V4 = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
_ULA = ipaddress.IPv6Network("fc00::/7")


class Refused(ValueError):
    """The destination may not receive webhooks; the message says why."""


class _Settings(Protocol):
    @property
    def webhook_allow_private(self) -> bool: ...
    @property
    def webhook_allowed_networks(self) -> list[Network]: ...
    @property
    def webhook_allow_http(self) -> bool: ...


@dataclass(frozen=True)
class DestinationPolicy:
    """What the operator allows beyond public https destinations (default: nothing)."""

    allow_private: bool = False
    allowed_networks: tuple[Network, ...] = ()
    allow_http: bool = False

    @classmethod
    def from_settings(cls, settings: _Settings) -> "DestinationPolicy":
        return cls(
            allow_private=settings.webhook_allow_private,
            allowed_networks=tuple(settings.webhook_allowed_networks),
            allow_http=settings.webhook_allow_http,
        )

    def allowed(self, address: Address) -> bool:
        """Whether the operator allowed this address explicitly (by network or wholesale)."""
        if any(address.version == n.version and address in n for n in self.allowed_networks):
            return True
        return self.allow_private and forbidden_reason(address) is not None


def _embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client's address
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def forbidden_reason(address: Address) -> str | None:
    """Why ``address`` may not receive webhooks by default, or None if it is globally routable."""
    if isinstance(address, ipaddress.IPv6Address):
        if (embedded := _embedded_v4(address)) is not None and (inner := forbidden_reason(embedded)):
            return f"an IPv6 form of {embedded}, {inner}"
        if address in _SITE_LOCAL:
            return "a site-local address (fec0::/10, deprecated)"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address):
        if any(address in n for n in _PRIVATE_V4):
            return "a private address (RFC 1918)"
        if address in _CGNAT:
            return "a carrier-grade NAT address (100.64.0.0/10)"
    elif address in _ULA:
        return "a unique local address (fc00::/7)"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private or not address.is_global:
        return "a special-purpose address that is not globally routable"
    return None


def resolve(host: str, port: int) -> list[Address]:
    """Every address ``host`` resolves to for TCP (in the resolver's order, without repeats)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return _unique(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos)


def _unique(addresses: Iterable[Address]) -> list[Address]:
    seen: dict[Address, None] = {}
    for address in addresses:
        seen.setdefault(address, None)
    return list(seen)


@dataclass(frozen=True)
class Target:
    """A checked destination: the URL's host and port and the addresses it may be reached at."""

    scheme: str
    host: str
    port: int
    addresses: tuple[Address, ...]


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def split_url(url: str) -> tuple[str, str, int]:
    """The scheme, host (without brackets) and port of ``url``; :class:`Refused` if unusable."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"not a usable URL: {exc}") from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in ("http", "https"):
        raise Refused(f"the scheme must be https (or http where allowed), not {scheme or 'none'!r}")
    if not host:
        raise Refused("the URL has no host")
    return scheme, host, port if port is not None else (443 if scheme == "https" else 80)


def check_url(url: str, policy: DestinationPolicy, resolver: Resolver = resolve) -> Target:
    """The addresses ``url`` may be delivered to, or :class:`Refused` with the reason.

    A host name that does not resolve raises :class:`OSError` (``socket.gaierror``): the
    caller decides whether that refuses (at subscription) or is a failure to retry (at
    delivery)."""
    scheme, host, port = split_url(url)
    literal = _literal(host)
    addresses = [literal] if literal is not None else _unique(resolver(host, port))
    if not addresses:
        raise OSError(f"{host} resolves to no address")
    for address in addresses:
        reason = forbidden_reason(address)
        if reason is not None and not policy.allowed(address):
            where = f"{address} is" if literal is not None else f"{host} resolves to {address},"
            raise Refused(
                f"{where} {reason}: webhooks are not sent there unless the operator allows it "
                "(COORDINATOR_WEBHOOK_ALLOWED_NETWORKS or COORDINATOR_WEBHOOK_ALLOW_PRIVATE)"
            )
    if scheme == "http" and not policy.allow_http and not all(policy.allowed(a) for a in addresses):
        raise Refused(
            "plain http is allowed only to addresses the operator allowed "
            "(COORDINATOR_WEBHOOK_ALLOWED_NETWORKS, COORDINATOR_WEBHOOK_ALLOW_PRIVATE) or when "
            "COORDINATOR_WEBHOOK_ALLOW_HTTP is set: use https"
        )
    return Target(scheme, host, port, tuple(addresses))
