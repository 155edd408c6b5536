"""Ending a session: closed with one rollback per connection, or discarded when cancelled."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from ._internals import connections_opened_by

__all__ = ["close_session", "discard"]


async def close_session(session: AsyncSession, *, failing: bool, cancelled: bool = False) -> None:
    """Close ``session``; while another error propagates, a failure to close (the
    connection is already gone) must not replace it: the pool discards the connection."""
    if cancelled:
        await discard(session)
        return
    if not failing:
        await session.run_sync(_close_resetting_once)
        return
    with contextlib.suppress(sa_exc.DBAPIError):
        await session.close()


def _close_resetting_once(session: Session) -> None:
    """``Session.close``, with one rollback per connection instead of two.

    ``Session.close`` rolls back each connection's transaction and then closes the
    connection; the pool, which no longer sees a transaction, rolls back once more
    on check-in. On MySQL/MariaDB that is a second ROLLBACK round trip, on SQLite a
    second hand-off to the driver's thread. Closing the connections the session
    opened first lets each end its own transaction and tell the pool that it needs
    no reset (``Session.close`` finds them the same way).
    """
    for connection in connections_opened_by(session):
        connection.close()
    session.close()


async def discard(session: AsyncSession) -> None:
    """End a session whose work was cancelled mid-statement: its connection may still be
    busy (SQLite keeps running the query in its thread) or halfway through the driver's
    protocol, so it is invalidated (closed, never pooled again) instead of reused.
    On SQLite the engine's invalidate hook also stops the statement and rolls back
    (``_internals.release_sqlite_lock``)."""
    with contextlib.suppress(Exception):
        await asyncio.shield(session.invalidate())
