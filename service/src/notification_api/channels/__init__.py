"""Delivery channels: each sends one notification or raises :class:`DeliveryError`."""

from __future__ import annotations

from .base import Channel, DeliveryError, Message
from .email import EmailChannel
from .webhook import WebhookChannel

__all__ = ["Channel", "DeliveryError", "EmailChannel", "Message", "WebhookChannel"]
