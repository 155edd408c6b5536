"""The delivery worker: claim due notifications, send them, record the outcome.

Claiming is a lease. In one short transaction the worker selects due rows
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL and MariaDB/MySQL, so concurrent
workers pass over each other's rows) and sets ``locked_until`` with a
compare-and-set UPDATE that only matches a row still unclaimed; SQLite, which
has no row locks, relies on that UPDATE alone. Sending happens outside any
transaction. A worker that dies mid-send leaves its lease to expire, and the
row is taken again: a restart loses nothing (at worst a message is sent twice,
never zero times).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sqlrecord import Database

from .channels import Channel, DeliveryError, Message
from .database import take_write_lock
from .models import ApiKey, Notification, NotificationStatus
from .settings import Settings

__all__ = ["DeliveryWorker", "backoff_seconds"]

logger = logging.getLogger("notification_api.worker")
_SKIP_LOCKED_DIALECTS = {"postgresql", "mysql", "mariadb"}


def backoff_seconds(settings: Settings, attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failure: base * 2 ** (attempts - 1).

    Example:
        >>> settings = Settings(api_env="test", jwt_secret="s" * 32, retry_backoff_seconds=2)
        >>> [backoff_seconds(settings, n) for n in (1, 2, 3)]
        [2.0, 4.0, 8.0]
    """
    return float(settings.retry_backoff_seconds * 2 ** max(attempts - 1, 0))


def _claimable(now: dt.datetime) -> list[ColumnElement[bool]]:
    return [
        Notification.status == NotificationStatus.QUEUED,
        Notification.next_attempt_at <= now,
        or_(Notification.locked_until.is_(None), Notification.locked_until < now),
    ]


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
        # Each delivery records its outcome in a session of its own.
        await asyncio.gather(*(self._deliver(message) for message in messages))
        return len(messages)

    async def _claim(self) -> Sequence[tuple[Message, str]]:
        now = dt.datetime.now(dt.UTC)
        lease = now + dt.timedelta(seconds=self.settings.worker_lease_seconds)
        async with self.database.transaction() as session:
            await take_write_lock(session)
            due = (
                select(Notification.id)
                .where(*_claimable(now))
                .order_by(Notification.next_attempt_at, Notification.id)
                .limit(self.settings.worker_batch_size)
            )
            if self.database.engine.dialect.name in _SKIP_LOCKED_DIALECTS:
                due = due.with_for_update(skip_locked=True)
            claimed = [
                notification_id
                for notification_id in (await session.scalars(due)).all()
                if await _take(session, notification_id, now, lease)
            ]
            rows = await session.execute(
                select(Notification, ApiKey.secret_key)
                .join(ApiKey, ApiKey.id == Notification.api_key_id)
                .where(Notification.id.in_(claimed))
            )
            return [
                (
                    Message(
                        id=notification.id,
                        recipient=notification.recipient,
                        subject=notification.subject,
                        body=notification.body,
                        signing_key=secret_key,
                    ),
                    notification.channel,
                )
                for notification, secret_key in rows
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
        async with self.database.transaction() as session:
            await take_write_lock(session)
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


async def _take(
    session: AsyncSession, notification_id: int, now: dt.datetime, lease: dt.datetime
) -> bool:
    # Compare-and-set: matches only while the row is still claimable, so two
    # workers that both saw it (SQLite has no SKIP LOCKED) cannot both take it.
    result = await session.execute(
        update(Notification)
        .where(Notification.id == notification_id, *_claimable(now))
        .values(locked_until=lease, attempts=Notification.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]
