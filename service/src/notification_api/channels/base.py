"""What every channel gets and how it fails."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["Channel", "DeliveryError", "Message"]


@dataclass(frozen=True, slots=True)
class Message:
    """A notification as a channel sees it (plain values: no session needed to send).

    Example:
        >>> Message(id=1, recipient="kim@example.com", subject="Hi", body="...", signing_key="k")
        Message(id=1, recipient='kim@example.com', subject='Hi', body='...', signing_key='k')
    """

    id: int
    recipient: str
    subject: str
    body: str
    signing_key: str


class DeliveryError(Exception):
    """The channel could not deliver; the message is the ``last_error`` a client sees.

    Example:
        >>> str(DeliveryError("SMTP 550: mailbox unavailable"))
        'SMTP 550: mailbox unavailable'
    """


class Channel(Protocol):
    """A way to deliver: ``await channel.send(message)``."""

    async def send(self, message: Message) -> None:
        """Deliver ``message`` or raise :class:`DeliveryError`."""
