"""Webhooks: an HTTP POST of JSON, signed with the API key's secret (httpx)."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx

from ..settings import Settings
from .base import DeliveryError, Message

__all__ = ["IDEMPOTENCY_HEADER", "SIGNATURE_HEADER", "WebhookChannel", "webhook_signature"]

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


class WebhookChannel:
    """POSTs ``{"id", "subject", "body"}``; any non-2xx answer is a failed delivery.

    One ``httpx.AsyncClient`` serves every delivery until :meth:`aclose` closes it.

    Example:
        >>> import asyncio
        >>> channel = WebhookChannel(Settings(api_env="test", jwt_secret="s" * 32))
        >>> asyncio.run(channel.aclose())
    """

    def __init__(self, settings: Settings) -> None:
        self.timeout = settings.webhook_timeout_seconds
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        """The shared HTTP client, opened on first use (and again after :meth:`aclose`)."""
        if self._client is None or self._client.is_closed:
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        return self._client

    async def send(self, message: Message) -> None:
        """POST ``message`` to its recipient URL."""
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
            response = await self.client.post(message.recipient, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise DeliveryError(f"webhook: {type(error).__name__}: {error}") from error
        if not response.is_success:
            raise DeliveryError(f"webhook: HTTP {response.status_code} from the receiver")

    async def aclose(self) -> None:
        """Close the HTTP client's connections."""
        if self._client is not None:
            await self._client.aclose()
