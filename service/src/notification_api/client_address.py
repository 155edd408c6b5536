"""The client's address, through trusted reverse proxies only (``TRUSTED_PROXIES``).

Anyone can send ``X-Forwarded-For``; only a proxy of ours writes it
truthfully, and even then only its right-most entries: each proxy appends the
address it received the request from, while everything to their left came
from the client. So the header is read only when the direct peer is a
trusted proxy, and from the right: the first address that is not itself a
trusted proxy is the client. With ``TRUSTED_PROXIES`` empty (the default)
the header is ignored and the peer is the client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.requests import Request

from .settings import IPNetwork

__all__ = ["client_address", "forwarded_client"]


def _trusted(address: str, proxies: Sequence[IPNetwork]) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in proxies)


def forwarded_client(peer: str, forwarded_for: Sequence[str], proxies: Sequence[IPNetwork]) -> str:
    """The client address for a request from ``peer`` with these ``X-Forwarded-For`` headers.

    Example:
        >>> proxies = [ipaddress.ip_network("10.0.0.0/8")]
        >>> forwarded_client("203.0.113.9", ["198.51.100.1"], proxies)  # not from a proxy
        '203.0.113.9'
        >>> forwarded_client("10.0.0.2", ["198.51.100.1, 203.0.113.5, 10.0.0.7"], proxies)
        '203.0.113.5'
        >>> forwarded_client("10.0.0.2", ["10.1.1.1", "10.0.0.7"], proxies)  # all proxies
        '10.1.1.1'
        >>> forwarded_client("10.0.0.2", [], proxies)
        '10.0.0.2'
    """
    if not proxies or not _trusted(peer, proxies):
        return peer
    # Several headers count as one list, in order (RFC 9110, 5.3).
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            # Not a valid address either: returned as it is, so that no whitelist matches it.
            return hop
    return hops[0] if hops else peer


def client_address(request: Request, proxies: Sequence[IPNetwork]) -> str:
    """The address the whitelist checks: the peer, or what trusted proxies say it is.

    Example:
        >>> from starlette.requests import Request
        >>> scope = {"type": "http", "client": ("127.0.0.1", 5000),
        ...          "headers": [(b"x-forwarded-for", b"203.0.113.5")]}
        >>> client_address(Request(scope), [])
        '127.0.0.1'
        >>> client_address(Request(scope), [ipaddress.ip_network("127.0.0.0/8")])
        '203.0.113.5'
    """
    peer = request.client.host if request.client else ""
    return forwarded_client(peer, request.headers.getlist("x-forwarded-for"), proxies)
