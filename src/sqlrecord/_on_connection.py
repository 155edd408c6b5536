"""A statement on a session's connection, in one hand-off to SQLAlchemy's sync API.

``await session.connection()`` and then ``await connection.execute()`` cross from asyncio
into SQLAlchemy's sync code twice, each a greenlet of its own; the planner's Core routes
through a session (a served INSERT, a SELECT of columns) take the connection and run the
statement in one crossing, as the session's own ``execute`` does. Rows are buffered as
``AsyncConnection.execute`` buffers them; a statement whose rows would be streamed is
left to ``AsyncConnection``, which refuses it with its own error.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

__all__ = ["execute_on_connection"]


async def execute_on_connection(
    session: AsyncSession,
    statement: Executable,
    parameters: dict[str, Any] | None,
    bind_arguments: dict[str, Any],
) -> CursorResult[Any]:
    """Run ``statement`` with ``parameters`` on ``session``'s connection for
    ``bind_arguments`` (as ``session.connection(bind_arguments=...)`` chooses it).

    Example:
        >>> from sqlalchemy import select, literal
        >>> async def one() -> int:
        ...     async with db.sessionmaker() as session:
        ...         result = await execute_on_connection(session, select(literal(1)), None, {})
        ...         return result.scalar_one()
        >>> run(one())
        1
    """
    result = await session.run_sync(_buffered, statement, parameters, bind_arguments)
    if result is not None:
        return result
    connection = await session.connection(bind_arguments=bind_arguments)
    return await connection.execute(statement, parameters)


def _buffered(
    session: Session,
    statement: Executable,
    parameters: dict[str, Any] | None,
    bind_arguments: dict[str, Any],
) -> CursorResult[Any] | None:
    connection = session.connection(bind_arguments=bind_arguments)
    options = {**connection.get_execution_options(), **statement.get_execution_options()}
    if options.get("stream_results") or options.get("yield_per"):
        return None  # nothing run: AsyncConnection.execute refuses it, as it should
    return connection.execute(statement, parameters)
