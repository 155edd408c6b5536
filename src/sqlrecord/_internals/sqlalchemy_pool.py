"""Private names of SQLAlchemy's pools: the queue pool's checkout and return, a dialect's
default pool, an engine that lends another engine's pool."""

from __future__ import annotations

import contextlib
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Engine
from sqlalchemy.engine.base import OptionEngine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry, Pool
from sqlalchemy.pool.base import _ConnectionRecord
from sqlalchemy.util import queue as sa_queue

from .aiosqlite import release_sqlite_lock

__all__ = [
    "KEEP_SPARE_SECONDS",
    "RECHECK_SECONDS",
    "WatchfulQueuePool",
    "connection_creator_of",
    "default_pool_class",
    "engine_on_pool_of",
]

#: Seconds a waiting checkout waits on the queue before it looks for a freed place.
RECHECK_SECONDS = 0.5

#: Seconds an overflow connection returned to a full pool is kept for the next checkout
#: before it is closed.
KEEP_SPARE_SECONDS = 60.0


class WatchfulQueuePool(AsyncAdaptedQueuePool):
    """``AsyncAdaptedQueuePool`` whose waiting checkouts also notice a place freed by a
    connection that failed to open or was given up while opening (``_pool``).

    Also closes a new connection whose set-up failed (``_create_connection``, with the
    private ``_ConnectionRecord`` and its ``__connect``), as SQLAlchemy does itself
    only from 2.0.58 and 2.1.9.

    Overrides the private hooks of checkout and return (``QueuePool._do_get``,
    ``_do_return_conn``) and reads and keeps the pool's private settings and counts
    (``_timeout``, ``_max_overflow``, ``_overflow``, ``_dec_overflow``), its queue
    (``_pool``) and that queue's ``Empty`` and ``Full`` (``sqlalchemy.util.queue``): a
    pool has no public hook for how a checkout waits or what a return keeps.

    Keeps an overflow connection returned while the queue is full (``pool_size``
    connections idle) as a spare for ``KEEP_SPARE_SECONDS``, where ``QueuePool`` closes
    it at once (``_do_return_conn``): a burst of more than ``pool_size`` concurrent calls
    would otherwise open its overflow connections again each time it recurs (on
    PostgreSQL about 8 ms each, against a quarter of a millisecond for the call). The
    queue's connections are taken first, so the spares are the ones left idle when the
    load falls; one idle for longer is closed at the pool's next checkout.
    Spares count among the overflow, so ``pool_size + max_overflow`` still bounds the
    connections open, and among ``checkedin()``.

    Example:
        >>> from sqlalchemy.ext.asyncio import create_async_engine
        >>> engine = create_async_engine("sqlite+aiosqlite:///x.db", poolclass=WatchfulQueuePool)
        >>> type(engine.pool).__name__
        'WatchfulQueuePool'
    """

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._spares: deque[tuple[float, ConnectionPoolEntry]] = deque()

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        try:
            self._pool.put(record, False)
        except sa_queue.Full:
            # Closing the stale ones waits for the next checkout, a call's own: a return
            # may come from a garbage collector, with no event loop to close them on.
            self._spares.append((time.monotonic(), record))

    def _close_stale_spares(self) -> None:
        spares = self._spares
        stale_before = time.monotonic() - KEEP_SPARE_SECONDS
        while spares and spares[0][0] < stale_before:
            self._close_spare(spares.popleft()[1])

    def _close_spare(self, record: ConnectionPoolEntry) -> None:
        try:
            record.close()
        finally:
            self._dec_overflow()

    def dispose(self) -> None:
        """Close the spares too, then what ``QueuePool.dispose`` closes."""
        while self._spares:
            self._close_spare(self._spares.pop()[1])
        super().dispose()

    def checkedin(self) -> int:
        """Idle connections: the queue's and the spares."""
        return super().checkedin() + len(self._spares)

    def checkedout(self) -> int:
        """Connections in use: the spares, idle, are not among them."""
        return super().checkedout() - len(self._spares)

    def _create_connection(self) -> ConnectionPoolEntry:
        # SQLAlchemy before 2.0.58 (2.1 before 2.1.9) drops a connection whose "connect"
        # listeners failed, a call cancelled while its connection was set up among
        # them, without closing it: its driver's thread or socket lives on until the
        # garbage collector finds it. Later releases close it themselves (and leave
        # the record without a connection, so nothing is closed twice here).
        record = _ConnectionRecord(self, connect=False)
        try:
            record._ConnectionRecord__connect()  # type: ignore[attr-defined]
        except BaseException:
            stranded, record.dbapi_connection = record.dbapi_connection, None
            if stranded is not None:
                release_sqlite_lock(stranded)  # SQLite: closed without waiting
                with contextlib.suppress(Exception):
                    self._close_connection(stranded, terminate=True)
            raise
        return record

    def _do_get(self) -> ConnectionPoolEntry:
        self._close_stale_spares()
        if self._spares:
            try:
                return self._pool.get(False)
            except sa_queue.Empty:
                return self._spares.pop()[1]  # the newest: the older ones may age out
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
                return self._pool.get(True, min(remaining, RECHECK_SECONDS))
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


class _EngineOnPoolOf(OptionEngine):
    """``engine.execution_options()``'s kind of engine (the same events, options, echo
    and dialect as the engine it copies), drawing its connections from another
    engine's pool.

    ``OptionEngine`` is private, as is its ``pool`` property, which this overrides: no
    public engine shares one engine's event listeners while using another's pool.
    """

    def __init__(self, events_of: Engine, pool_of: Engine) -> None:
        self._pool_of = pool_of
        super().__init__(events_of, {})

    @property
    def pool(self) -> Pool:
        return self._pool_of.pool

    @pool.setter
    def pool(self, pool: Pool) -> None:  # dispose() replaces the pool
        self._pool_of.pool = pool


# The pool events a listener on an engine may register (all but ``first_connect``, which
# sets up the engine's own dialect and ran when its pool first connected).
_POOL_EVENTS = (
    "connect",
    "checkout",
    "checkin",
    "reset",
    "invalidate",
    "soft_invalidate",
    "close",
    "detach",
    "close_detached",
)


def engine_on_pool_of(events_of: AsyncEngine, pool_of: AsyncEngine) -> AsyncEngine:
    """An engine that is ``events_of`` for everything a caller sees (its event listeners,
    also ones added later, its execution options, its echo) but checks its connections
    out of ``pool_of``'s pool (and ``dispose()`` disposes that pool).

    ``pool_of``'s pool passes each of its events on to the listeners of ``events_of``'s
    pool, looked up when the event fires: a listener for ``connect`` or ``checkout`` on
    ``events_of`` (a session setting, a ping) sees both pools' connections, and
    ``pool_of`` needs no listeners of its own for them. ``Pool.dispatch`` is private.

    Example:
        >>> from sqlalchemy import event
        >>> from sqlalchemy.ext.asyncio import create_async_engine
        >>> main = create_async_engine("sqlite+aiosqlite://")
        >>> other = create_async_engine("sqlite+aiosqlite://")
        >>> lent = engine_on_pool_of(main, other)
        >>> lent.pool is other.pool, lent.pool is main.pool
        (True, False)
    """
    for name in _POOL_EVENTS:
        event.listen(pool_of.sync_engine.pool, name, _forwarder(events_of.sync_engine, name))
    return AsyncEngine(_EngineOnPoolOf(events_of.sync_engine, pool_of.sync_engine))


def connection_creator_of(engine: AsyncEngine) -> Callable[..., Any]:
    """What opens ``engine``'s connections (its URL, ``connect_args`` and ``do_connect``
    listeners, a token injected per connection among them), for another pool to open its
    connections alike. ``Pool._invoke_creator`` is private.

    Example:
        >>> from sqlalchemy.ext.asyncio import create_async_engine
        >>> callable(connection_creator_of(create_async_engine("sqlite+aiosqlite://")))
        True
    """
    sync_engine = engine.sync_engine

    def creator(connection_record: Any = None) -> Any:
        return sync_engine.pool._invoke_creator(connection_record)

    return creator


def _forwarder(engine: Engine, name: str) -> Callable[..., None]:
    def forward(*args: Any) -> None:
        getattr(engine.pool.dispatch, name)(*args)  # the pool of now: dispose() replaces it

    return forward
