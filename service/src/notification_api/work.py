"""``python -m notification_api work``: the delivery worker as a process of its own.

No HTTP server: the process claims and sends due notifications, and sweeps
expired ones, until SIGTERM or SIGINT. Then it stops claiming, gives the sends
in flight the longest send timeout to finish (``WEBHOOK_TIMEOUT_SECONDS``,
``SMTP_TIMEOUT_SECONDS``), cuts short any still running (their rows keep their
leases and are taken again after them), closes its connections and returns.
Any number of these run beside any number of ``serve-api`` processes on one
database: claims skip each other's rows, and leases are on the database's clock.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from .channels import EmailChannel, WebhookChannel
from .database import make_database
from .migrate import upgrade_to_head
from .settings import Settings
from .worker import DeliveryWorker

__all__ = ["run_worker", "stop_grace_seconds"]

logger = logging.getLogger("notification_api.work")

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def stop_grace_seconds(settings: Settings) -> float:
    """How long a stopping worker waits for its sends: the longest send timeout, plus 1 s.

    Example:
        >>> stop_grace_seconds(Settings(api_env="test", jwt_secret="s" * 32,
        ...                             webhook_timeout_seconds=5, smtp_timeout_seconds=10))
        11.0
    """
    return max(settings.webhook_timeout_seconds, settings.smtp_timeout_seconds) + 1.0


async def run_worker(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Deliver until SIGTERM/SIGINT (or until ``stop`` is set), then stop gracefully.

    Applies the migrations first when ``MIGRATE_ON_START`` is on, as ``serve`` does.

    Example:
        >>> import inspect
        >>> inspect.iscoroutinefunction(run_worker)
        True
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in _STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    database = make_database(settings)
    webhooks = WebhookChannel(settings)
    worker = DeliveryWorker(
        database, settings, channels={"email": EmailChannel(settings), "webhook": webhooks}
    )
    try:
        # The models name no database: in this block (and the worker's tasks) they use this one.
        with database.as_default():
            if settings.migrate_on_start:
                await upgrade_to_head(database)
            worker.start()
            logger.info(
                "delivery worker %s started: %s sends at once, polling every %s s",
                os.getpid(),
                settings.worker_concurrency,
                settings.worker_poll_seconds,
            )
            await stop.wait()
            grace = stop_grace_seconds(settings)
            logger.info(
                "delivery worker %s stopping (sends in flight get %s s)", os.getpid(), grace
            )
            await worker.stop(grace=grace)
    finally:
        for signum in _STOP_SIGNALS:
            loop.remove_signal_handler(signum)
        await worker.stop()  # a no-op after the graceful stop; cuts sends short on an error
        await webhooks.aclose()
        await database.dispose()
    logger.info("delivery worker %s stopped", os.getpid())
