"""The connection pool: SQLAlchemy's asyncio queue pool, with waiters that notice a freed place.

When every place of ``QueuePool`` (``pool_size`` + ``max_overflow``) is taken, a
checkout waits on the pool's queue until a connection is checked in. A place is
also freed when a connection being opened fails or is given up (its task was
cancelled, by a request timeout say): the pool lowers its count of open
connections, but puts nothing in the queue, so no waiter wakes. If all the
places were connections still being opened (a burst of work at start-up, or
after the pool was emptied) and each of those was given up, every waiter sits
out the whole ``pool_timeout`` with the pool empty and nothing open. The suite's
concurrent-cancellation test met exactly this on a loaded machine (its stall
report: all writers waiting, the pool holding no connection and counting none).

Here a waiter looks again every half second: when a place has come free, it
opens a connection; otherwise it waits on, until ``pool_timeout`` in all. The
pool class, :class:`WatchfulQueuePool`, overrides the queue pool's private
checkout, so it lives in ``_internals``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import URL
from sqlalchemy.pool import AsyncAdaptedQueuePool, NullPool

from ._internals import WatchfulQueuePool, default_pool_class

__all__ = ["WatchfulQueuePool", "pool_class_for"]


def pool_class_for(url: URL, options: dict[str, Any]) -> type[Any] | None:
    """The pool class for an engine on ``url``: the watchful one wherever SQLAlchemy would
    use its asyncio queue pool, unless the caller chose a pool class.

    Example:
        >>> from sqlalchemy.engine import make_url
        >>> pool_class_for(make_url("postgresql+asyncpg://h/db"), {}).__name__
        'WatchfulQueuePool'
        >>> pool_class_for(make_url("sqlite+aiosqlite:///x.db"), {}).__name__  # any 2.x
        'WatchfulQueuePool'
        >>> pool_class_for(make_url("sqlite+aiosqlite://"), {}) is None  # in memory: static
        True
    """
    if "poolclass" in options or "pool" in options:
        return None
    default = default_pool_class(url)
    if default is AsyncAdaptedQueuePool:
        return WatchfulQueuePool
    if default is NullPool and url.get_backend_name() == "sqlite":
        # SQLAlchemy before 2.0.38 gave aiosqlite's file databases no pool at all
        # (its in-memory ones keep StaticPool); pool them as later releases do.
        return WatchfulQueuePool
    return None
