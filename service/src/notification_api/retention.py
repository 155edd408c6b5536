"""Retention: finished notifications are deleted once they are old enough.

A ``sent`` or ``failed`` notification is deleted ``NOTIFICATION_RETENTION_DAYS``
after it was finished (its ``updated_at``: nothing changes a finished row), in
transactions of at most ``RETENTION_BATCH_SIZE`` rows, so a sweep never holds
many locks or a long transaction. A queued notification is never deleted, how
old it may be. The age is measured on the database's clock
(:mod:`notification_api.clock`), so a process with a skewed clock deletes
nothing early. Rows are picked with ``FOR UPDATE SKIP LOCKED``: workers that
sweep at once delete different rows instead of waiting for each other.

The delivery workers sweep every ``RETENTION_SWEEP_SECONDS``;
``python -m notification_api cleanup`` sweeps once, for a scheduled job.
"""

from __future__ import annotations

import datetime as dt

from sqlrecord import Database

from .clock import database_now
from .models import Notification, NotificationStatus
from .settings import Settings

__all__ = ["FINISHED", "delete_expired", "delete_expired_batch"]

#: The states a notification never leaves: what retention may delete.
FINISHED = (NotificationStatus.SENT, NotificationStatus.FAILED)


async def delete_expired_batch(database: Database, settings: Settings) -> int:
    """Delete up to ``RETENTION_BATCH_SIZE`` expired notifications in one transaction.

    Returns how many were deleted; 0 when ``NOTIFICATION_RETENTION_DAYS`` is 0
    (kept forever).

    Example:
        >>> import inspect
        >>> inspect.iscoroutinefunction(delete_expired_batch)
        True
    """
    days = settings.notification_retention_days
    if days == 0:
        return 0
    async with database.transaction() as session:
        cutoff = await database_now(session) - dt.timedelta(days=days)
        expired = await (
            Notification.filter_by(status__in=FINISHED, updated_at__lt=cutoff)
            .limit(settings.retention_batch_size)
            .for_update(skip_locked=True)
            .values_list("id", flat=True)
        )
        if expired:
            await Notification.filter_by(id__in=expired).hard_delete()
    return len(expired)


async def delete_expired(database: Database, settings: Settings) -> int:
    """Delete every expired notification, batch after batch; return how many.

    Example:
        >>> import inspect
        >>> inspect.iscoroutinefunction(delete_expired)
        True
    """
    deleted = 0
    while (batch := await delete_expired_batch(database, settings)) > 0:
        deleted += batch
        if batch < settings.retention_batch_size:
            break  # the last, partial batch: nothing more is expired
    return deleted
