"""A write carried out as its plan's route says: an object's row by Core
(``_plan_rows.py``), an UPDATE or DELETE by query (``_plan.plan_query_write``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable
from sqlalchemy.sql.dml import UpdateBase

from ._internals import AloneResult, write_alone
from ._plan_types import Route
from ._row_by_key import delete_row_alone, update_row_alone
from ._row_insert import insert_as_planned

if TYPE_CHECKING:
    from ._registry import ModelDatabase

__all__ = ["write_as_planned", "write_statement_as_planned"]


async def write_as_planned(
    route: Route,
    session: AsyncSession | None,
    database: ModelDatabase | None,
    obj: Any,
    row_write: Any,
) -> None:
    """Write ``obj``'s row by ``row_write``, what the planner gave with ``route``: a Core
    UPDATE or DELETE and its parameters on a connection of ``database``'s autocommit
    engine (``Route.CONNECTION_UPDATE``, ``Route.CONNECTION_DELETE``: ``_row_by_key.py``),
    else a Core INSERT and its row converter (``_row_insert.py``). ``session`` is the
    call's, ``None`` on the routes on a connection of their own.

    Example:
        >>> from sqlalchemy.orm import Session
        >>> from sqlrecord._unwatched import why_row_insert_differs
        >>> memo = Memo(text="hi")
        >>> _, row_insert = why_row_insert_differs(memo, Session(), db.engine.dialect)
        >>> run(write_as_planned(Route.CONNECTION_INSERT, None, db, memo, row_insert))
        >>> memo.id > 0
        True
    """
    if route in (Route.CONNECTION_UPDATE, Route.CONNECTION_DELETE):
        assert database is not None  # an own session's
        by_key = update_row_alone if route is Route.CONNECTION_UPDATE else delete_row_alone
        await by_key(database._autocommit_engine, obj, row_write)
        return
    await insert_as_planned(route, session, database, obj, row_write)


async def write_statement_as_planned(
    route: Route,
    session: AsyncSession | None,
    database: ModelDatabase | None,
    statement: Executable,
) -> AloneResult:
    """Execute the UPDATE or DELETE by query ``statement`` as ``route`` says: on a
    connection of ``database``'s autocommit engine (``Route.CONNECTION_STATEMENT``, no
    ``session``), else by ``session``.

    Example:
        >>> from sqlalchemy import update
        >>> statement = update(Label).where(Label.id == 0).values(name="x")
        >>> run(write_statement_as_planned(Route.CONNECTION_STATEMENT, None, db,
        ...                                statement)).rowcount
        0
    """
    if route is Route.CONNECTION_STATEMENT:
        assert database is not None and isinstance(statement, UpdateBase)
        return await write_alone(database._autocommit_engine, statement, {})
    assert session is not None  # the routes through a session are given one
    return cast("CursorResult[Any]", await session.execute(statement))  # a DML statement's
