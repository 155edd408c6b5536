"""Where webhooks may go: the address policy that keeps the worker off internal networks.

A webhook URL is chosen by the caller, and the worker POSTs to it from inside
the operator's network; without a policy a caller could reach cloud metadata
(``169.254.169.254``), databases on loopback or anything on a private network,
and read from ``last_error`` whether a port is open (server-side request
forgery). The policy is applied twice:

- when a notification is queued (:func:`check_webhook_url`): the URL must be
  plain ``http(s)://host[:port]/...`` with no user information, and a host
  that *is* an address (in any spelling a resolver accepts: ``2130706433``,
  ``0x7f000001``, ``127.1``, ``0177.0.0.1``, ``[::ffff:127.0.0.1]`` ...) or a
  name that always means this machine (``localhost``) must be allowed;
- when it is sent (:class:`~notification_api.guarded_network.GuardedBackend`):
  the host name is resolved once,
  every address it resolves to must be allowed, and the connection goes to
  the address that was checked, never to a second resolution of the name
  (no DNS rebinding). TLS still verifies the certificate against the name.

Allowed are the globally routable unicast addresses, and whatever networks
the operator lists in ``WEBHOOK_ALLOWED_NETWORKS`` (on-premise receivers, the
test suite's loopback receiver).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

__all__ = [
    "AddressPolicy",
    "IPAddress",
    "WebhookTarget",
    "WebhookURLError",
    "check_webhook_url",
    "parse_host",
    "parse_webhook_url",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


# IANA's IPv4 special-purpose registry, and the rest of what is not a public
# unicast address. Kept here rather than taken from ``ipaddress.is_global``,
# whose tables changed between Python releases.
_BLOCKED_V4 = _networks(
    "0.0.0.0/8",  # "this network", 0.0.0.0 reaches the local host on Linux
    "10.0.0.0/8",
    "100.64.0.0/10",  # carrier-grade NAT
    "127.0.0.0/8",
    "169.254.0.0/16",  # link-local: cloud metadata services live here
    "172.16.0.0/12",
    "192.0.0.0/24",  # IETF protocol assignments
    "192.0.2.0/24",  # documentation
    "192.88.99.0/24",  # 6to4 relay anycast
    "192.168.0.0/16",
    "198.18.0.0/15",  # benchmarking
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, and the broadcast address
)
# IPv6 unicast that is routed on the internet lies in 2000::/3; inside it, these are not.
_GLOBAL_V6 = ipaddress.IPv6Network("2000::/3")
_BLOCKED_V6 = _networks(
    "2001::/23",  # IETF protocol assignments, Teredo (2001::/32) among them
    "2001:db8::/32",  # documentation
    "3fff::/20",  # documentation
)
# Forms that carry an IPv4 address inside an IPv6 one: judged by the IPv4 address.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")


class WebhookURLError(ValueError):
    """A webhook URL the service will not deliver to; the message says why.

    Example:
        >>> str(WebhookURLError("user information is not allowed"))
        'user information is not allowed'
    """


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    return None


def _public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv4Address):
        return not any(address in network for network in _BLOCKED_V4)
    embedded = _embedded_ipv4(address)
    if embedded is not None:  # NAT64 and 6to4 reach the IPv4 address they carry
        return _public(embedded)
    return address in _GLOBAL_V6 and not any(address in network for network in _BLOCKED_V6)


@dataclass(frozen=True)
class AddressPolicy:
    """Public unicast addresses, plus the ``allowed`` networks; nothing else.

    Example:
        >>> import ipaddress
        >>> policy = AddressPolicy.from_cidrs(["127.0.0.1/32"])
        >>> [policy.allows(ipaddress.ip_address(a)) for a in ("8.8.8.8", "10.0.0.1", "127.0.0.1")]
        [True, False, True]
        >>> policy.allows(ipaddress.ip_address("::ffff:127.0.0.1"))  # the same address
        True
    """

    allowed: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_cidrs(cls, cidrs: Iterable[str | IPNetwork]) -> AddressPolicy:
        """A policy allowing ``cidrs`` besides the public addresses."""
        return cls(tuple(ipaddress.ip_network(cidr) for cidr in cidrs))

    def allows(self, address: IPAddress) -> bool:
        """Whether the worker may connect to ``address``."""
        if isinstance(address, ipaddress.IPv6Address):
            if address.ipv4_mapped is not None:  # one address, two spellings
                address = address.ipv4_mapped
            elif address.scope_id:  # fe80::1%eth0 is judged as fe80::1
                address = ipaddress.IPv6Address(int(address))
        if any(address in network for network in self.allowed):
            return True
        if address.is_multicast or address.is_unspecified or address.is_loopback:
            return False  # belt and braces over the tables above
        return _public(address)


# -- parsing -----------------------------------------------------------------

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_IPV4_PART = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_PORT = re.compile(r"^[0-9]{1,5}$")
# Names that never denote a public receiver: single labels are resolved through
# search domains to internal hosts, and these suffixes are internal by design.
_LOOPBACK_NAMES = ("localhost",)
_INTERNAL_SUFFIXES = (
    "local",
    "localdomain",
    "internal",
    "intranet",
    "lan",
    "home",
    "corp",
    "private",
    "arpa",
)
_LOOPBACK = (ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv6Address("::1"))


def _parse_ipv4_number(part: str) -> int | None:
    if not _IPV4_PART.match(part):
        return None
    if part.startswith("0x"):
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8) if all(c in "01234567" for c in part) else None
    return int(part)


def _parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """inet_aton's forms, as a resolver reads them: 1-4 parts, decimal/octal/hex."""
    parts = host.split(".")
    if len(parts) > 4:
        return None
    numbers = [_parse_ipv4_number(part) for part in parts]
    if any(number is None for number in numbers):
        return None
    values = [number for number in numbers if number is not None]
    *leading, last = values
    if any(value > 255 for value in leading) or last >= 256 ** (5 - len(values)):
        return None
    total = last
    for index, value in enumerate(leading):
        total += value << (8 * (3 - index))
    return ipaddress.IPv4Address(total)


def parse_host(host: str) -> tuple[str, IPAddress | None]:
    """``(normalised host, address if the host is one)``; raises :class:`WebhookURLError`.

    A host whose last label is a number is an IPv4 address to a URL parser and
    to the C resolver alike, in any of their spellings; only the usual one is
    accepted.

    Example:
        >>> parse_host("127.0.0.1")
        ('127.0.0.1', IPv4Address('127.0.0.1'))
        >>> parse_host("0x7f.1")
        Traceback (most recent call last):
        ...
        notification_api.netguard.WebhookURLError: write the IPv4 address 127.0.0.1 as four \
decimal numbers (a.b.c.d)
        >>> parse_host("[::1]")
        ('::1', IPv6Address('::1'))
        >>> parse_host("Hooks.Example.COM.")
        ('hooks.example.com', None)
    """
    if host.startswith("[") and host.endswith("]"):
        try:
            address = ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise WebhookURLError("the host is not a valid IPv6 address") from None
        if address.scope_id:
            raise WebhookURLError("IPv6 zone identifiers are not allowed")
        return str(address), address
    name = host.lower()
    name = name.removesuffix(".")
    if not name or len(name) > 253:
        raise WebhookURLError("the host name is empty or too long")
    labels = name.split(".")
    if _IPV4_PART.match(labels[-1]):
        address4 = _parse_ipv4(name)
        if address4 is None:
            raise WebhookURLError("the host is not a valid IPv4 address")
        if str(address4) != name:
            # 2130706433, 0x7f000001, 127.1, 0177.0.0.1 all mean 127.0.0.1 to a
            # resolver; no receiver needs them, and refusing them leaves one
            # spelling per address to judge.
            raise WebhookURLError(
                f"write the IPv4 address {address4} as four decimal numbers (a.b.c.d)"
            )
        return str(address4), address4
    if not all(_LABEL.match(label) for label in labels):
        raise WebhookURLError(
            "the host must be a DNS name (letters, digits, hyphens; IDN in xn-- form) "
            "or an IP address"
        )
    return name, None


@dataclass(frozen=True)
class WebhookTarget:
    """A webhook URL taken apart: what the worker connects to.

    Example:
        >>> parse_webhook_url("https://hooks.example.com/in")
        WebhookTarget(scheme='https', host='hooks.example.com', port=443, address=None)
    """

    scheme: str
    host: str
    port: int
    address: IPAddress | None


def parse_webhook_url(url: str) -> WebhookTarget:
    """Check the URL's form; the policy is not applied (see :func:`check_webhook_url`).

    Example:
        >>> parse_webhook_url("http://user:pw@example.com/")
        Traceback (most recent call last):
        ...
        notification_api.netguard.WebhookURLError: user information (user:password@) is not allowed
    """
    if any(ch.isspace() or ord(ch) < 0x20 or ch == "\\" for ch in url):
        raise WebhookURLError("the URL contains white space, control characters or '\\'")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise WebhookURLError("the URL cannot be parsed") from None
    if parts.scheme not in ("http", "https") or not url.startswith(f"{parts.scheme}://"):
        raise WebhookURLError("the URL must start with http:// or https://")
    netloc = parts.netloc
    if "@" in netloc:
        raise WebhookURLError("user information (user:password@) is not allowed")
    if "%" in netloc:
        raise WebhookURLError("percent-encoding is not allowed in the host")
    if netloc.startswith("["):
        end = netloc.find("]") + 1
        host, rest = netloc[:end], netloc[end:]
        if not end or (rest and not rest.startswith(":")):
            raise WebhookURLError("the host is not a valid IPv6 address")
        port_text = rest[1:] if rest else None
    else:
        host, colon, port_text_or_empty = netloc.partition(":")
        port_text = port_text_or_empty if colon else None
    if port_text is not None and not _PORT.match(port_text):
        raise WebhookURLError("the port must be a number from 1 to 65535")
    port = int(port_text) if port_text else (443 if parts.scheme == "https" else 80)
    if not 1 <= port <= 65535:
        raise WebhookURLError("the port must be a number from 1 to 65535")
    normalised, address = parse_host(host)
    # The HTTP client must see the same host as this check: a URL that two
    # parsers read differently is refused rather than guessed at.
    try:
        client_view = httpx.URL(url)
    except httpx.InvalidURL:
        raise WebhookURLError("the URL cannot be parsed") from None
    seen = client_view.raw_host.decode("ascii", "replace").lower().removesuffix(".")
    if client_view.userinfo or seen not in (host.lower().strip("[]").removesuffix("."), normalised):
        raise WebhookURLError("the URL's host is ambiguous")
    return WebhookTarget(parts.scheme, normalised, port, address)


def check_webhook_url(url: str, policy: AddressPolicy) -> WebhookTarget:
    """Form and policy as far as they can be known before resolving: raises WebhookURLError.

    Example:
        >>> policy = AddressPolicy()
        >>> check_webhook_url("https://hooks.example.com/in", policy).host
        'hooks.example.com'
        >>> check_webhook_url("http://169.254.169.254/latest/meta-data/", policy)
        Traceback (most recent call last):
        ...
        notification_api.netguard.WebhookURLError: the address 169.254.169.254 is not allowed \
(private, loopback, link-local, multicast or reserved)
    """
    target = parse_webhook_url(url)
    host = target.host
    labels = host.split(".")
    if target.address is not None:
        addresses: tuple[IPAddress, ...] = (target.address,)
    elif host in _LOOPBACK_NAMES or labels[-1] in _LOOPBACK_NAMES:
        addresses = _LOOPBACK
    elif len(labels) == 1 or labels[-1] in _INTERNAL_SUFFIXES:
        raise WebhookURLError(
            f"{host!r} is an internal host name: use a fully qualified public name"
        )
    else:
        return target  # a name: judged by what it resolves to when sent
    for address in addresses:
        if not policy.allows(address):
            raise WebhookURLError(
                f"the address {address} is not allowed "
                "(private, loopback, link-local, multicast or reserved)"
            )
    return target
