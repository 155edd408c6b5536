"""The database's clock: the one time every process of the service agrees on.

Leases, due times and retention compare timestamps that different processes
wrote. Each process's own clock may be off (a skewed host, a paused VM), and
a worker running ten minutes ahead would see every lease as expired and take
rows another worker is sending. So the worker asks the database for the time
(``sqlrecord.utc_now()``: ``CLOCK_TIMESTAMP()`` on PostgreSQL,
``UTC_TIMESTAMP(6)`` on MySQL/MariaDB; on SQLite, which runs inside the
process, it is the process's clock, and the only one there is).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sqlrecord import utc_now

__all__ = ["database_now"]


async def database_now(session: AsyncSession) -> dt.datetime:
    """The database server's current time, in UTC (timezone-aware), on ``session``.

    Example:
        >>> import asyncio
        >>> from sqlrecord import Database
        >>> async def ask() -> dt.datetime:
        ...     database = Database("sqlite+aiosqlite://", default=False)
        ...     async with database.transaction() as session:
        ...         now = await database_now(session)
        ...     await database.dispose()
        ...     return now
        >>> asyncio.run(ask()).tzinfo
        datetime.timezone.utc
    """
    now: dt.datetime = (await session.execute(select(utc_now()))).scalar_one()
    return now
