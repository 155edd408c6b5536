"""Private names of SQLAlchemy's pools: the queue pool's checkout, a dialect's default pool."""

from __future__ import annotations

import math
import time
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry, Pool
from sqlalchemy.util import queue as sa_queue

__all__ = ["RECHECK_SECONDS", "WatchfulQueuePool", "default_pool_class"]

#: Seconds a waiting checkout waits on the queue before it looks for a freed place.
RECHECK_SECONDS = 0.5


class WatchfulQueuePool(AsyncAdaptedQueuePool):
    """``AsyncAdaptedQueuePool`` whose waiting checkouts also notice a place freed by a
    connection that failed to open or was given up while opening (``_pool``).

    Overrides the private checkout hook ``QueuePool._do_get`` and reads the pool's
    private settings and counts (``_timeout``, ``_max_overflow``, ``_overflow``),
    its queue (``_pool``) and that queue's ``Empty`` (``sqlalchemy.util.queue``): a
    pool has no public hook for how a checkout waits.

    Example:
        >>> from sqlalchemy.ext.asyncio import create_async_engine
        >>> engine = create_async_engine("sqlite+aiosqlite:///x.db", poolclass=WatchfulQueuePool)
        >>> type(engine.pool).__name__
        'WatchfulQueuePool'
    """

    def _do_get(self) -> ConnectionPoolEntry:
        # pool_timeout=None: wait as long as it takes, as QueuePool does.
        timeout = math.inf if self._timeout is None else self._timeout
        deadline = time.monotonic() + timeout
        while True:
            if self._max_overflow == -1 or self._overflow < self._max_overflow:
                # A pooled connection, or room to open one: the stock checkout.
                return super()._do_get()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise sa_exc.TimeoutError(
                    f"QueuePool limit of size {self.size()} overflow {self.overflow()} "
                    f"reached, connection timed out, timeout {self._timeout:.2f}",
                    code="3o7r",
                )
            try:
                record: ConnectionPoolEntry = self._pool.get(True, min(remaining, RECHECK_SECONDS))
                return record
            except sa_queue.Empty:
                continue  # look again: a place may have come free meanwhile


def default_pool_class(url: URL) -> type[Pool]:
    """The pool class SQLAlchemy's ``create_async_engine`` gives an engine on ``url``
    when none is chosen.

    Asks the async dialect class (``URL.get_dialect``'s private ``_is_async``
    flag) for its pool class (``get_pool_class``, on ``DefaultDialect`` but not on
    the documented ``Dialect`` interface): no public API tells the default pool
    before an engine exists.

    Example:
        >>> from sqlalchemy.engine import make_url
        >>> default_pool_class(make_url("postgresql+asyncpg://h/db")).__name__
        'AsyncAdaptedQueuePool'
        >>> default_pool_class(make_url("sqlite+aiosqlite://")).__name__
        'StaticPool'
    """
    dialect: Any = url.get_dialect(_is_async=True)
    pool_class: type[Pool] = dialect.get_pool_class(url)
    return pool_class
