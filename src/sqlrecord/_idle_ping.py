"""Pre-ping pooled connections that have sat idle, not every checkout.

SQLAlchemy's ``pool_pre_ping`` sends a round trip on every checkout: for a
short own session that is a third of its round trips. What a ping guards
against (a server restart, an idle timeout, a firewall dropping the socket)
happens to connections that sat in the pool; one checked in a moment ago is
almost always alive, and if it is not, the call fails with
``DatabaseUnavailableError`` and SQLAlchemy drops every older connection of the
pool, so the failure does not repeat.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine

from .exceptions import ConfigurationError

__all__ = ["DEFAULT_PING_AFTER_IDLE", "install_idle_ping", "ping_after_idle"]

#: Seconds a pooled connection may sit unused before it is pinged at checkout.
DEFAULT_PING_AFTER_IDLE = 1.0

_RETURNED_AT = "sqlrecord_returned_at"


def ping_after_idle(pool_pre_ping: bool | float) -> float | None:
    """The idle seconds after which to ping, from ``Database(pool_pre_ping=...)``.

    Example:
        >>> ping_after_idle(True), ping_after_idle(False), ping_after_idle(30)
        (1.0, None, 30.0)
    """
    if pool_pre_ping is True:
        return DEFAULT_PING_AFTER_IDLE
    if pool_pre_ping is False:
        return None
    if not isinstance(pool_pre_ping, int | float) or pool_pre_ping < 0:
        raise ConfigurationError(
            f"pool_pre_ping={pool_pre_ping!r} is not a setting: pass True (ping connections "
            "idle for over a second), a number of seconds (0: every checkout) or False."
        )
    return float(pool_pre_ping)


def install_idle_ping(engine: AsyncEngine, *, idle_seconds: float) -> None:
    """Ping a connection at checkout when it was returned more than ``idle_seconds`` ago.

    A connection that fails the ping is replaced by a fresh one (the pool retries
    the checkout), as with SQLAlchemy's own ``pool_pre_ping``.

    Example:
        >>> from sqlalchemy.ext.asyncio import create_async_engine
        >>> install_idle_ping(create_async_engine("sqlite+aiosqlite://"), idle_seconds=1.0)
    """
    sync_engine = engine.sync_engine
    dialect = sync_engine.dialect

    @event.listens_for(sync_engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:  # None: the connection was invalidated on the way back
            record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(sync_engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned_at = record.info.get(_RETURNED_AT)
        if returned_at is None or time.monotonic() - returned_at < idle_seconds:
            return  # freshly opened, or in use a moment ago
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as error:
            message = f"the idle connection failed its ping: {error}"
            raise sa_exc.DisconnectionError(message) from error
        if not alive:
            raise sa_exc.DisconnectionError("the idle connection failed its ping")
