"""The delivery worker: claim due notifications, send them, record the outcome.

Claiming is a lease. In one short transaction the worker selects due rows
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL and MariaDB/MySQL, so concurrent
workers pass over each other's rows; on SQLite, which has no row locks,
sqlrecord begins the transaction with ``BEGIN IMMEDIATE``, so claimers take
turns) and sets their ``locked_until``. Sending happens outside any
transaction. A worker that dies mid-send leaves its lease to expire, and the
row is taken again: a restart loses nothing (at worst a message is sent twice,
never zero times).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from sqlrecord import Database, Q

from .channels import Channel, DeliveryError, Message
from .models import ApiKey, Notification, NotificationStatus
from .secrets_at_rest import secret_box
from .settings import Settings

__all__ = ["DeliveryWorker", "backoff_seconds"]

logger = logging.getLogger("notification_api.worker")


def backoff_seconds(settings: Settings, attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failure: base * 2 ** (attempts - 1).

    Example:
        >>> settings = Settings(api_env="test", jwt_secret="s" * 32, retry_backoff_seconds=2)
        >>> [backoff_seconds(settings, n) for n in (1, 2, 3)]
        [2.0, 4.0, 8.0]
    """
    return float(settings.retry_backoff_seconds * 2 ** max(attempts - 1, 0))


class DeliveryWorker:
    """Runs in the app's lifespan (``start``/``stop``); ``wake()`` skips the poll wait.

    Example:
        >>> settings = Settings(api_env="test", jwt_secret="s" * 32)
        >>> worker = DeliveryWorker(Database(default=False), settings, channels={})
        >>> worker.running
        False
    """

    def __init__(
        self, database: Database, settings: Settings, *, channels: Mapping[str, Channel]
    ) -> None:
        self.database = database
        self.settings = settings
        self.channels = dict(channels)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether the polling loop is running."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the polling loop in the background."""
        self._task = asyncio.create_task(self._loop(), name="notification-delivery")

    async def stop(self) -> None:
        """Stop the loop; a delivery cut short is retried after its lease (nothing lost)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        """Look for due notifications now instead of at the next poll."""
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            try:
                handled = await self.run_once()
            except Exception:  # the database may be away for a moment: log, wait, retry
                logger.exception("delivery round failed")
                handled = 0
            if handled == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.worker_poll_seconds)
                self._wake.clear()

    async def run_once(self) -> int:
        """Claim one batch of due notifications and deliver them; return how many.

        Example:
            >>> import inspect
            >>> inspect.iscoroutinefunction(DeliveryWorker.run_once)
            True
        """
        messages = await self._claim()
        # Each delivery records its outcome in a session of its own; one that
        # cannot (the database went away) keeps its lease and is retried later.
        outcomes = await asyncio.gather(
            *(self._deliver(message) for message in messages), return_exceptions=True
        )
        for (message, _), outcome in zip(messages, outcomes, strict=True):
            if isinstance(outcome, Exception):
                logger.error("notification %s: outcome not recorded", message.id, exc_info=outcome)
        return len(messages)

    async def _claim(self) -> list[tuple[Message, str]]:
        now = dt.datetime.now(dt.UTC)
        async with self.database.transaction():
            due = await (
                Notification.filter_by(status=NotificationStatus.QUEUED, next_attempt_at__lte=now)
                .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
                .order_by("next_attempt_at", "id")
                .limit(self.settings.worker_batch_size)
                .for_update(skip_locked=True)
                .all()
            )
            lease = now + dt.timedelta(seconds=self.settings.worker_lease_seconds)
            for notification in due:  # flushed by the commit at the end of the block
                notification.locked_until = lease
                notification.attempts += 1
            key_ids = {notification.api_key_id for notification in due}
            stored = await ApiKey.filter_by(id__in=sorted(key_ids)).values_list("id", "secret_key")
        # Stored encrypted (secrets_at_rest); a key no configured key decrypts fails
        # this claim, which the loop logs, and its rows wait for their leases to lapse.
        box = secret_box(self.settings)
        secrets = {key_id: box.reveal(secret) for key_id, secret in stored}
        return [
            (
                Message(
                    id=notification.id,
                    recipient=notification.recipient,
                    subject=notification.subject,
                    body=notification.body,
                    signing_key=secrets[notification.api_key_id],
                ),
                notification.channel,
            )
            for notification in due
        ]

    async def _deliver(self, claimed: tuple[Message, str]) -> None:
        message, channel_name = claimed
        error: str | None = None
        try:
            channel = self.channels[channel_name]
            await channel.send(message)
        except DeliveryError as failure:
            error = str(failure)
        except Exception:  # a bug in a channel must not stop the worker
            logger.exception("notification %s: unexpected delivery error", message.id)
            error = "internal error while sending"
        await self._record(message.id, error)

    async def _record(self, notification_id: int, error: str | None) -> None:
        now = dt.datetime.now(dt.UTC)
        async with self.database.transaction():
            notification = await Notification.get(notification_id)
            if notification is None:  # deleted with its key while it was being sent
                return
            changes: dict[str, Any]
            if error is None:
                changes = {"status": NotificationStatus.SENT, "sent_at": now, "last_error": None}
            elif notification.attempts >= self.settings.max_attempts:
                changes = {"status": NotificationStatus.FAILED, "last_error": error[:1000]}
            else:
                wait = backoff_seconds(self.settings, notification.attempts)
                changes = {
                    "last_error": error[:1000],
                    "next_attempt_at": now + dt.timedelta(seconds=wait),
                }
            await notification.update(**changes, locked_until=None, allow_protected=True)
        logger.info(
            "notification %s: %s (attempt %s)",
            notification_id,
            "sent" if error is None else f"failed: {error}",
            notification.attempts,
        )
