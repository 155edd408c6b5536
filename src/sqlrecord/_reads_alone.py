"""Reads alone: one SELECT on a connection of its own, in an own session's place, where
the planner's proofs (``_unwatched_load.py``) found nothing that could tell the two apart.

Objects (``Route.CONNECTION_LOAD``): their rows, and the objects built as the ORM's loading
builds them, as ``session.get`` or ``session.scalars`` in an own session and its close
leave them: an object by its key (``get``), a query's objects (``all``, ``first``).
Columns (``Route.CONNECTION_READ``, and the session's routes for them): the keys and rows
of ``values``, ``count``, aggregates and the like.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from ._internals import key_select, loaded_rows, read_alone
from ._on_connection import execute_on_connection
from ._plan_types import Route
from ._scope_session import OwnOrServedSession

__all__ = ["load_alone", "load_query_alone", "read_columns_as_planned"]


async def load_alone(bind: AsyncEngine, model: type[Any], key: tuple[Any, ...]) -> list[Any]:
    """The ``model`` objects of the rows with primary key ``key``, read on a connection of
    ``bind`` of its own and built as the ORM's loading builds them, detached: none or
    one (more only where the table lets several rows share a key, which ``session.get``
    refuses: the caller asks it).

    Example:
        >>> label = run(Label.create(name="hi"))
        >>> [found.name for found in run(load_alone(db._autocommit_engine, Label, (label.id,)))]
        ['hi']
    """
    mapper = inspect(model)
    by_key = key_select(mapper)
    # Unwatched: the planner's proof (why_load_differs) asked just now.
    _, rows = await read_alone(bind, by_key.statement, by_key.parameters(key), unwatched=True)
    return loaded_rows(mapper, by_key, rows)


async def load_query_alone(
    bind: AsyncEngine, model: type[Any], statement: Select[Any]
) -> list[Any]:
    """The ``model`` objects of ``statement``'s rows (a query's SELECT of the model, which
    the planner's proof found to read the model's columns alone), read on a connection of
    ``bind`` of its own and built as the ORM's loading builds them, detached, in the
    order of the rows.

    Example:
        >>> from sqlalchemy import select
        >>> _ = run(Label.create(name="b")), run(Label.create(name="a"))
        >>> found = run(load_query_alone(db._autocommit_engine, Label,
        ...                              select(Label).order_by(Label.name)))
        >>> [label.name for label in found]
        ['a', 'b']
    """
    mapper = inspect(model)
    _, rows = await read_alone(bind, statement, {}, unwatched=True)
    return loaded_rows(mapper, key_select(mapper), rows)


async def read_columns_as_planned(
    route: Route, sessions: OwnOrServedSession, model: type[Any], statement: Select[Any]
) -> tuple[list[str], Sequence[Any]]:
    """The keys and rows of a SELECT of columns, read as ``route`` says
    (``_plan.plan_column_read``): on a connection of its own in the own session's place
    (``Route.CONNECTION_READ``: the session is not opened), by the session's connection,
    bound as ``session.execute`` would bind it (``Route.CORE_READ``), or by the session
    (the call's ``sessions``: a scope's).

    Example:
        >>> from sqlalchemy import func, select
        >>> async def count(route: Route) -> tuple[list[str], Any]:
        ...     sessions = OwnOrServedSession(db, None, autocommit=True)
        ...     try:
        ...         return await read_columns_as_planned(route, sessions, Label,
        ...                                              select(func.count().label("n")))
        ...     finally:
        ...         if sessions.opened:
        ...             await sessions.session.close()
        >>> run(count(Route.CONNECTION_READ)) == run(count(Route.CORE_READ))
        True
    """
    if route is Route.CONNECTION_READ:
        return await read_alone(sessions.own_bind, statement, {}, unwatched=True)
    session = sessions.session
    if route is Route.CORE_READ:
        bind_arguments = {"mapper": inspect(model), "clause": statement}
        result = await execute_on_connection(session, statement, None, bind_arguments)
    else:
        result = await session.execute(statement)
    return list(result.keys()), result.all()
