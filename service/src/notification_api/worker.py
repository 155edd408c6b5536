"""The delivery worker: claim due notifications, send them, record the outcome.

Claiming is a lease. In one short transaction the worker selects due rows
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL and MariaDB/MySQL, so concurrent
workers pass over each other's rows; on SQLite, which has no row locks,
sqlrecord begins the transaction with ``BEGIN IMMEDIATE``, so claimers take
turns) and sets their ``locked_until``. Sending happens outside any
transaction. A worker that dies mid-send leaves its lease to expire, and the
row is taken again: a restart loses nothing (at worst a message is sent twice,
never zero times).

Sends are concurrent and bounded: at most ``WORKER_CONCURRENCY`` in flight,
and at most ``WORKER_TENANT_CONCURRENCY`` of one tenant (the account that
queued them). The worker claims whenever a send finishes and frees a slot,
passing over tenants that have their share in flight and taking the others'
rows in turn, oldest first. So a receiver that answers slowly (or not at all
until the timeout) holds up its own tenant's messages only; before, each
round waited for its slowest send before claiming anything else.

Every time the worker compares or writes (due times, leases, ``sent_at``, the
next attempt) is the database's (:mod:`notification_api.clock`), read once per
claim and once per recorded outcome: workers in several processes, on hosts
whose clocks disagree, never both hold a row. The worker also deletes finished
notifications past their retention (:mod:`notification_api.retention`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any

from sqlrecord import Database, Q

from .channels import Channel, DeliveryError, Message
from .clock import database_now
from .models import ApiKey, Notification, NotificationStatus
from .retention import delete_expired
from .secrets_at_rest import secret_box
from .settings import Settings

__all__ = ["DeliveryWorker", "backoff_seconds"]

logger = logging.getLogger("notification_api.worker")

# The sends in flight, each with its tenant (the notification's user_id).
_InFlight = dict["asyncio.Task[None]", int]
# Most candidate rows one claim looks at (and locks for its short transaction).
_MAX_WINDOW = 500


def _take_in_turn(
    window: list[Notification], limit: int, load: Counter[int], share: int
) -> list[Notification]:
    """Up to ``limit`` rows of ``window``, one per tenant in turn, none past its ``share``.

    Example:
        >>> from collections import Counter
        >>> rows = [Notification(id=n, user_id=u) for n, u in enumerate([1, 1, 1, 1, 2, 3], 1)]
        >>> [row.id for row in _take_in_turn(rows, 4, Counter({1: 1}), 3)]  # 1 has 1 of 3
        [1, 5, 6, 2]
        >>> [row.id for row in _take_in_turn(rows, 4, Counter({1: 1}), 2)]  # 1 has 1 of 2
        [1, 5, 6]
    """
    queues: dict[int, list[Notification]] = {}
    for row in window:  # oldest first: tenants in the order of their oldest due row
        queues.setdefault(row.user_id, []).append(row)
    taken: list[Notification] = []
    load = Counter(load)
    while len(taken) < limit:
        progressed = False
        for tenant, rows in queues.items():
            if rows and load[tenant] < share and len(taken) < limit:
                taken.append(rows.pop(0))
                load[tenant] += 1
                progressed = True
        if not progressed:
            break
    return taken


def _finished(in_flight: _InFlight, notification_id: int, task: asyncio.Task[None]) -> None:
    in_flight.pop(task, None)
    if not task.cancelled() and (error := task.exception()) is not None:
        # The outcome could not be recorded (the database went away): the row
        # keeps its lease and is taken again after it.
        logger.error("notification %s: outcome not recorded", notification_id, exc_info=error)


def backoff_seconds(settings: Settings, attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failure: base * 2 ** (attempts - 1).

    Example:
        >>> settings = Settings(api_env="test", jwt_secret="s" * 32, retry_backoff_seconds=2)
        >>> [backoff_seconds(settings, n) for n in (1, 2, 3)]
        [2.0, 4.0, 8.0]
    """
    return float(settings.retry_backoff_seconds * 2 ** max(attempts - 1, 0))


class DeliveryWorker:
    """Claims and sends due notifications in the background (``start``/``stop``).

    It runs in the app's lifespan (``python -m notification_api serve``) or on
    its own (``work``); ``wake()`` skips the poll wait. Besides the deliveries
    it sweeps expired notifications every ``RETENTION_SWEEP_SECONDS``.

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
        self._stopping = asyncio.Event()
        self._grace = 0.0
        self._task: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether the polling loop is running."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the polling loop (and the retention sweep) in the background."""
        self._stopping.clear()
        self._task = asyncio.create_task(self._loop(), name="notification-delivery")
        if self.settings.notification_retention_days > 0:
            self._sweeper = asyncio.create_task(self._sweep(), name="notification-retention")

    async def stop(self, *, grace: float = 0.0) -> None:
        """Stop claiming; give the sends in flight ``grace`` seconds, then cut them short.

        A send cut short keeps its row's lease, and the row is taken again after
        it (nothing is lost; the receiver may see it twice, under one
        ``Idempotency-Key``). With ``grace=0`` (the app's shutdown) they are cut
        at once.
        """
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self._task is not None:
            self._grace = grace
            self._stopping.set()
            self._wake.set()
            if grace <= 0:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        """Look for due notifications now instead of at the next poll."""
        self._wake.set()

    async def _loop(self) -> None:
        in_flight: _InFlight = {}
        try:
            while not self._stopping.is_set():
                # Cleared before claiming: a wake() during the claim is not lost.
                self._wake.clear()
                try:
                    await self._fill(in_flight)
                except Exception:  # the database may be away for a moment: log, wait, retry
                    logger.exception("claiming due notifications failed")
                # Until a send frees a slot, a new notification arrives, or the poll is due.
                waker = asyncio.ensure_future(self._wake.wait())
                try:
                    await asyncio.wait(
                        {waker, *in_flight},
                        timeout=self.settings.worker_poll_seconds,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    waker.cancel()
            if in_flight:  # stopping: the sends under way may finish within the grace
                await asyncio.wait(set(in_flight), timeout=self._grace)
        finally:
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)

    async def _sweep(self) -> None:
        while True:
            try:
                deleted = await delete_expired(self.database, self.settings)
            except Exception:  # like a claim: log, and try again at the next sweep
                logger.exception("deleting expired notifications failed")
            else:
                if deleted:
                    logger.info("retention: %s expired notification(s) deleted", deleted)
            await asyncio.sleep(self.settings.retention_sweep_seconds)

    async def run_once(self) -> int:
        """Claim what fits in ``WORKER_CONCURRENCY`` slots (fairly), send it, wait; how many.

        Example:
            >>> import inspect
            >>> inspect.iscoroutinefunction(DeliveryWorker.run_once)
            True
        """
        in_flight: _InFlight = {}
        started = await self._fill(in_flight)
        await asyncio.gather(*in_flight, return_exceptions=True)
        return started

    async def _fill(self, in_flight: _InFlight) -> int:
        """Claim due rows while slots are free and start their sends; return how many."""
        started = 0
        while (room := self.settings.worker_concurrency - len(in_flight)) > 0:
            claimed = await self._claim(min(room, self.settings.worker_batch_size), in_flight)
            if not claimed:
                break
            for message, channel_name, tenant in claimed:
                task = asyncio.create_task(
                    self._deliver((message, channel_name)), name=f"notification-{message.id}"
                )
                in_flight[task] = tenant
                task.add_done_callback(functools.partial(_finished, in_flight, message.id))
            started += len(claimed)
        return started

    async def _claim(self, limit: int, in_flight: _InFlight) -> list[tuple[Message, str, int]]:
        """Lease up to ``limit`` due rows, taking tenants in turn, each up to its share."""
        share = self.settings.worker_tenant_concurrency
        load = Counter(in_flight.values())
        full = sorted(tenant for tenant, count in load.items() if count >= share)
        async with self.database.transaction() as session:
            now = await database_now(session)
            query = Notification.filter_by(
                status=NotificationStatus.QUEUED, next_attempt_at__lte=now
            ).filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
            if full:  # their rows could not be taken anyway; look at the others'
                query = query.exclude(user_id__in=full)
            # A window of candidates wide enough to hold several tenants; the
            # rows of it not taken are unlocked again by the commit.
            window = await (
                query.order_by("next_attempt_at", "id")
                .limit(min(limit * share, _MAX_WINDOW))
                .for_update(skip_locked=True)
                .all()
            )
            due = _take_in_turn(window, limit, load, share)
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
                notification.user_id,
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
        async with self.database.transaction() as session:
            notification = await Notification.get(notification_id)
            if notification is None:  # deleted with its key while it was being sent
                return
            now = await database_now(session)
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
            # The worker's own bookkeeping: trusted code, so plain assignments.
            for name, value in {**changes, "locked_until": None}.items():
                setattr(notification, name, value)
            await notification.save()
        logger.info(
            "notification %s: %s (attempt %s)",
            notification_id,
            "sent" if error is None else f"failed: {error}",
            notification.attempts,
        )
