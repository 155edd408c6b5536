"""One write statement on a connection of its own, in autocommit, without a session.

An own session whose only work is one statement would begin, send it, commit and
close; on the autocommit engine the statement is a transaction by itself, and a
connection of that engine gives the same without the session's work around it. The
planner takes such a route only where nothing listens to sessions
(``_unwatched.why_session_watched``). Where nothing listens to the engine either, the
driver sends a write itself (``_internals.direct.write_alone``, which falls back here).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Executable

__all__ = ["execute_alone"]


async def execute_alone(
    bind: AsyncEngine, statement: Executable, parameters: dict[str, Any]
) -> CursorResult[Any]:
    """Run ``statement`` with ``parameters`` on a connection of ``bind`` (an autocommit
    engine) of its own, returned to the pool at once. Cancelled mid-statement, the
    connection is discarded (it may still be busy), as an own session's would be.

    Example:
        >>> from sqlalchemy import select
        >>> run(execute_alone(db._autocommit_engine, select(1), {})).scalar_one()
        1
    """
    connection = await bind.connect()
    try:
        result = await connection.execute(statement, parameters)
        await connection.commit()  # no COMMIT is sent: the statement committed itself
    except BaseException as error:
        if isinstance(error, Exception):
            with contextlib.suppress(DBAPIError):
                await connection.close()
        else:
            with contextlib.suppress(Exception):
                await asyncio.shield(connection.invalidate())
        raise
    await connection.close()
    return result
