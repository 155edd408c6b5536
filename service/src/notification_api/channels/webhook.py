"""Webhooks: an HTTP POST of JSON, signed with the API key's secret (httpx)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator

import httpcore
import httpx

from ..guarded_network import BlockedAddressError, GuardedBackend, Resolver, system_resolver
from ..netguard import (
    AddressPolicy,
    WebhookURLError,
    check_webhook_url,
)
from ..settings import Settings
from .base import DeliveryError, Message

__all__ = [
    "IDEMPOTENCY_HEADER",
    "NOT_ALLOWED",
    "SIGNATURE_HEADER",
    "UNREACHABLE",
    "WebhookChannel",
    "webhook_signature",
]

logger = logging.getLogger("notification_api.webhook")

#: Header naming the delivery: equal for every retry of one notification.
IDEMPOTENCY_HEADER = "Idempotency-Key"

SIGNATURE_HEADER = "X-Notification-Signature"


def webhook_signature(secret_key: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret_key, body)>``: what a receiver recomputes to verify.

    Example:
        >>> webhook_signature("secret", b"{}")[:15]
        'sha256=77325902'
    """
    digest = hmac.new(secret_key.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class _GuardedTransport(httpx.AsyncBaseTransport):
    """httpx over an httpcore pool whose connections go through a :class:`GuardedBackend`."""

    def __init__(self, backend: GuardedBackend) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=backend,
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            response = await self._pool.handle_async_request(core_request)
        except _CORE_ERRORS as error:  # the caller sees httpx's own error types
            raise httpx.TransportError(f"{type(error).__name__}: {error}") from error
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, response: httpcore.Response) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._response.aiter_stream():
            yield part

    async def aclose(self) -> None:
        await self._response.aclose()


_CORE_ERRORS = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.ProxyError,
    httpcore.UnsupportedProtocol,
)

#: What a client reads in ``last_error``. Deliberately coarse: the network
#: error itself (refused, reset, timed out, TLS alert ...) would tell a caller
#: which ports answer; it goes to the service log only.
UNREACHABLE = "delivery failed: the receiver could not be reached"
NOT_ALLOWED = "delivery refused: the webhook address is not allowed"


class WebhookChannel:
    """POSTs ``{"id", "subject", "body"}``; any non-2xx answer is a failed delivery.

    One ``httpx.AsyncClient`` serves every delivery until :meth:`aclose` closes
    it. Every connection it opens goes through :attr:`backend`, which resolves
    the host once, refuses addresses the policy does not allow
    (``WEBHOOK_ALLOWED_NETWORKS`` adds networks to the public ones), and
    connects to the checked address. Redirects are not followed.

    Example:
        >>> import asyncio
        >>> channel = WebhookChannel(Settings(api_env="test", jwt_secret="s" * 32))
        >>> channel.backend.policy.allowed
        ()
        >>> asyncio.run(channel.aclose())
    """

    def __init__(self, settings: Settings, *, resolver: Resolver = system_resolver) -> None:
        self.timeout = settings.webhook_timeout_seconds
        self.policy = AddressPolicy.from_cidrs(settings.webhook_allowed_networks)
        self.backend = GuardedBackend(
            self.policy, resolver=resolver, resolve_timeout=settings.webhook_timeout_seconds
        )
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        """The shared HTTP client, opened on first use (and again after :meth:`aclose`)."""
        if self._client is None or self._client.is_closed:
            self._client = httpx.AsyncClient(
                transport=_GuardedTransport(self.backend),
                timeout=self.timeout,
                follow_redirects=False,
                # No proxy, .netrc or CA bundle from the environment: the
                # connection must go where the backend checked.
                trust_env=False,
            )
        return self._client

    async def send(self, message: Message) -> None:
        """POST ``message`` to its recipient URL; a generic DeliveryError when it fails."""
        try:
            # Rows queued before the URL rules existed are judged again here.
            check_webhook_url(message.recipient, self.policy)
        except WebhookURLError as refused:
            logger.warning("notification %s: webhook URL refused: %s", message.id, refused)
            raise DeliveryError(NOT_ALLOWED) from refused
        payload = {"id": message.id, "subject": message.subject, "body": message.body}
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: webhook_signature(message.signing_key, body),
            # The same key on every attempt of one notification: a worker that
            # died after the POST but before recording it sends it again, and
            # the receiver drops the repeat.
            IDEMPOTENCY_HEADER: f"notification-{message.id}",
        }
        try:
            # The answer's body is never read: only its status matters.
            async with self.client.stream(
                "POST", message.recipient, content=body, headers=headers
            ) as response:
                status = response.status_code
        except BlockedAddressError as refused:
            logger.warning("notification %s: webhook refused: %s", message.id, refused)
            raise DeliveryError(NOT_ALLOWED) from refused
        except (httpx.HTTPError, TimeoutError, OSError) as error:
            logger.warning(
                "notification %s: webhook failed: %s: %s", message.id, type(error).__name__, error
            )
            raise DeliveryError(UNREACHABLE) from error
        if not 200 <= status < 300:
            logger.warning("notification %s: webhook answered HTTP %s", message.id, status)
            raise DeliveryError(f"delivery failed: the receiver answered {status // 100}xx")

    async def aclose(self) -> None:
        """Close the HTTP client's connections."""
        if self._client is not None:
            await self._client.aclose()
