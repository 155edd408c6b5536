"""Connecting only where the address policy allows: resolve once, check all, connect to one.

The webhook channel's HTTP client runs on :class:`GuardedBackend`, so that the
policy of :mod:`notification_api.netguard` also holds when the message is
sent, after the name is resolved: a name that resolves to an internal
address is refused before any packet leaves, and the connection goes to the
address that was checked (no DNS rebinding).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Iterable, Sequence
from typing import Protocol

import httpcore

from .netguard import AddressPolicy

__all__ = ["BlockedAddressError", "GuardedBackend", "Resolver", "system_resolver"]


class Resolver(Protocol):
    """``await resolver(host, port)``: the addresses (as text) the worker may connect to.

    :func:`system_resolver` is the default; tests pass their own to play DNS.
    """

    def __call__(self, host: str, port: int, /) -> Awaitable[Sequence[str]]:
        """Resolve ``host``."""


class BlockedAddressError(Exception):
    """Raised at connection time: the host resolved to an address the policy refuses.

    Example:
        >>> BlockedAddressError("10.0.0.1").args
        ('10.0.0.1',)
    """


async def system_resolver(host: str, port: int) -> Sequence[str]:
    """The addresses of ``host`` from the operating system's resolver (``getaddrinfo``).

    Example:
        >>> import asyncio
        >>> asyncio.run(system_resolver("127.0.0.1", 80))
        ['127.0.0.1']
    """
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    found: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        if sockaddr[0] not in found:
            found.append(str(sockaddr[0]))
    return found


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with a checkpoint: resolve once, check all, connect to one.

    The HTTP client asks it for a TCP connection to ``host:port``. It resolves
    the host itself, refuses (:class:`BlockedAddressError`, before any packet
    leaves) when any address is not allowed, and then connects to the checked
    addresses in turn, by address. The client keeps using the host name for
    the ``Host`` header, SNI and certificate verification.

    Example:
        >>> import asyncio
        >>> backend = GuardedBackend(AddressPolicy())
        >>> asyncio.run(backend.checked_addresses("10.0.0.1", 80))
        Traceback (most recent call last):
        ...
        notification_api.guarded_network.BlockedAddressError: 10.0.0.1 resolves to 10.0.0.1
    """

    def __init__(
        self,
        policy: AddressPolicy,
        *,
        resolver: Resolver = system_resolver,
        resolve_timeout: float = 5.0,
    ) -> None:
        self.policy = policy
        self.resolver = resolver
        self.resolve_timeout = resolve_timeout
        self._inner = httpcore.AnyIOBackend()

    async def checked_addresses(self, host: str, port: int) -> list[str]:
        """Every address ``host`` resolves to, if every one is allowed."""
        async with asyncio.timeout(self.resolve_timeout):
            resolved = list(await self.resolver(host, port))
        if not resolved:
            raise BlockedAddressError(f"{host} resolves to no address")
        for text in resolved:
            try:
                address = ipaddress.ip_address(text)
            except ValueError:
                raise BlockedAddressError(f"{host} resolves to {text!r}") from None
            if not self.policy.allows(address):
                raise BlockedAddressError(f"{host} resolves to {address}")
        return resolved

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Connect to the first reachable checked address of ``host``."""
        addresses = await self.checked_addresses(host, port)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Never: webhooks go over TCP only."""
        raise BlockedAddressError("unix sockets are not webhook receivers")

    async def sleep(self, seconds: float) -> None:
        """As the default backend does."""
        await self._inner.sleep(seconds)
