"""A new object's row inserted by Core, and the object left as the ORM's flush leaves it.

The planner takes this route for a ``save`` or ``create`` of a new object where
``_unwatched.why_row_insert_differs`` and ``_one_statement.why_not_one_statement`` find
nothing that could tell it from ``session.add(obj)`` and a flush: ``Route.CORE_INSERT``
through the session (a served one, or an own one something listens to), or
``Route.CONNECTION_INSERT`` on a connection of the autocommit engine, without the own
session (which would only begin, commit and close). The INSERT is the flush's: the same
row, the same column defaults run by Core, the database's values returned where the
flush would return them. The object then takes what the flush would give it: the
generated key, the values of Python-side defaults, the values the database returned; it
ends with its identity key and no history, persistent in the session it was added to or
detached, as a closed own session leaves it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Insert, inspect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import InstanceState, Mapper, Session

from ._internals import (
    AloneResult,
    call_sync_api,
    execute_held,
    held_connection,
    mark_inserted,
    register_inserted,
    why_engine_watched,
    write_alone,
)
from ._on_connection import execute_on_connection
from ._plan_types import Route

if TYPE_CHECKING:
    from ._registry import ModelDatabase

__all__ = ["insert_as_planned", "insert_row", "insert_row_alone", "row_of", "settle_inserted"]


async def insert_as_planned(
    route: Route,
    session: AsyncSession | None,
    database: ModelDatabase | None,
    obj: Any,
    row_insert: tuple[Insert, Callable[[dict[str, Any]], dict[str, Any]]],
) -> None:
    """Insert ``obj``'s row by ``row_insert`` (the INSERT and the row converter the planner
    gave) as its ``route`` says: on a connection of ``database``'s autocommit engine (an
    own session's, ``Route.CONNECTION_INSERT``: ``session`` is ``None``, nothing opened
    for it), else through ``session`` (``Route.CORE_INSERT``).

    Example:
        >>> from sqlalchemy.orm import Session
        >>> from sqlrecord._unwatched import why_row_insert_differs
        >>> memo = Memo(text="hi")
        >>> _, row_insert = why_row_insert_differs(memo, Session(), db.engine.dialect)
        >>> run(insert_as_planned(Route.CONNECTION_INSERT, None, db, memo, row_insert))
        >>> inspect(memo).detached
        True
    """
    statement, as_table_row = row_insert
    if route is Route.CONNECTION_INSERT:
        assert database is not None  # an own session's
        await insert_row_alone(database._autocommit_engine, obj, statement, as_table_row)
        return
    assert session is not None  # the route through a session is given one
    await insert_row(session, obj, statement, as_table_row)


async def insert_row(
    session: AsyncSession,
    obj: Any,
    statement: Insert,
    as_table_row: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    """Add ``obj`` to ``session`` (pending, as the flush finds it), run ``statement``, the
    INSERT of its row (made by ``as_table_row``: both ``_unwatched.why_row_insert_differs``'s)
    on the session's connection (by the driver, where the connection's transaction runs
    and nothing watches its statements: ``_internals.direct_held``), and settle ``obj``:
    persistent, as after the flush (a rollback of the session's transaction makes it
    transient again; the session's close leaves it detached).

    Example:
        >>> from sqlalchemy.orm import Session
        >>> from sqlrecord._unwatched import why_row_insert_differs
        >>> async def insert_memo() -> Memo:
        ...     memo = Memo(text="hi")
        ...     async with db.sessionmaker() as session:
        ...         dialect = session.get_bind().dialect
        ...         _, (statement, as_row) = why_row_insert_differs(memo, Session(), dialect)
        ...         await insert_row(session, memo, statement, as_row)
        ...         await session.commit()
        ...     return memo
        >>> run(insert_memo()).id > 0
        True
    """
    session.add(obj)
    table_row = as_table_row(row_of(obj))
    # Bound as the flush binds its statements: by the model's base mapper.
    mapper = inspect(type(obj)).base_mapper
    result = await _on_held(session, mapper, statement, table_row)
    if result is None:
        bind_arguments = {"mapper": mapper}
        result = await execute_on_connection(session, statement, table_row, bind_arguments)
    settle_inserted(obj, table_row, result, session.sync_session)


async def _on_held(
    session: AsyncSession, mapper: Mapper[Any], statement: Insert, table_row: dict[str, Any]
) -> AloneResult | None:
    """The INSERT sent by the driver on the connection ``session`` holds for ``mapper``,
    in its running transaction; ``None``, nothing sent, where that cannot be done."""
    bind = session.bind
    if not isinstance(bind, AsyncEngine):
        return None  # bound to a connection, or by mapper: the session's own lookup
    sync_session = session.sync_session
    if sync_session.get_bind(mapper=mapper) is not bind.sync_engine:
        return None
    if why_engine_watched(bind) is not None:
        return None
    engine = bind.sync_engine
    if held_connection(sync_session, engine) is None:
        return None  # the transaction's first statement: the Connection begins it
    connection = held_connection(sync_session, engine, innermost=True)
    if connection is None:  # the write's SAVEPOINT, not sent yet: sent now, as the flush asks
        connection = await call_sync_api(_connection_of, sync_session, mapper)
    return await execute_held(bind, connection, statement, table_row)


def _connection_of(session: Session, mapper: Mapper[Any]) -> Connection:
    return session.connection(bind_arguments={"mapper": mapper})


async def insert_row_alone(
    bind: AsyncEngine,
    obj: Any,
    statement: Insert,
    as_table_row: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    """Like :func:`insert_row`, on a connection of ``bind`` (an autocommit engine) of its
    own, returned to the pool at once; cancelled mid-statement, the connection is
    discarded (it may still be busy), as an own session's would be.

    Example:
        >>> from sqlalchemy.orm import Session
        >>> from sqlrecord._unwatched import why_row_insert_differs
        >>> memo = Memo(text="hi")
        >>> _, (statement, as_row) = why_row_insert_differs(memo, Session(), db.engine.dialect)
        >>> run(insert_row_alone(db._autocommit_engine, memo, statement, as_row))
        >>> memo.id > 0, inspect(memo).detached
        (True, True)
    """
    table_row = as_table_row(row_of(obj))
    result = await write_alone(bind, statement, table_row)
    settle_inserted(obj, table_row, result)


def row_of(obj: Any) -> dict[str, Any]:
    """The field values ``obj`` holds, by attribute name (what the flush reads).

    Example:
        >>> row_of(Memo(text="hi"))
        {'text': 'hi'}
    """
    loaded = inspect(obj).dict
    mapper: Mapper[Any] = inspect(type(obj))
    return {prop.key: loaded[prop.key] for prop in mapper.column_attrs if prop.key in loaded}


def settle_inserted(
    obj: Any,
    table_row: dict[str, Any],
    result: AloneResult,
    session: Session | None = None,
) -> None:
    """Give ``obj`` what the flush of its INSERT gives it (``table_row``, by column key,
    was the row sent): the database's values where it returned them, the values of
    Python-side defaults Core ran, the generated key; then its identity key, and its
    values committed: persistent in ``session``, which it was added to, or detached (an
    own session, closed at once, would leave it so).

    Example:
        >>> from sqlalchemy import create_engine
        >>> from sqlalchemy.orm import Session
        >>> from sqlrecord._unwatched import why_row_insert_differs
        >>> engine = create_engine("sqlite://")
        >>> Memo.metadata.create_all(engine, tables=[inspect(Memo).local_table])
        >>> memo = Memo(text="hi")
        >>> _, (statement, as_row) = why_row_insert_differs(memo, Session(), engine.dialect)
        >>> with engine.begin() as connection:
        ...     settle_inserted(memo, as_row({"text": "hi"}), connection.execute(statement,
        ...                     as_row({"text": "hi"})))
        >>> memo.id, inspect(memo).detached, memo.created_at is not None
        (1, True, True)
    """
    state: InstanceState[Any] = inspect(obj)
    mapper = state.mapper
    loaded = state.dict
    sent = result.last_inserted_params()
    assert not isinstance(sent, list)  # one row: its parameters
    returned = result.returned_defaults
    returned_values = returned._mapping if returned is not None else {}
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        if column.primary_key or column.table is not mapper.local_table:
            continue
        if column.key in table_row:
            continue  # the row's own value: the flush keeps the one the object holds
        if column in returned_values:
            loaded[prop.key] = returned_values[column]
        elif _python_default(column) and column.key in sent:
            loaded[prop.key] = sent[column.key]
    keys = []
    for key_column, value in zip(
        mapper.primary_key, result.inserted_primary_key or (), strict=True
    ):
        key = mapper.get_property_by_column(key_column).key
        if loaded.get(key) is None and value is not None:
            loaded[key] = value
        keys.append(loaded.get(key))
    if session is not None:
        register_inserted(session, state)
    else:
        mark_inserted(state, mapper.identity_key_from_primary_key(tuple(keys)))


def _python_default(column: Any) -> bool:
    default = getattr(column, "default", None)
    return default is not None and bool(default.is_scalar or default.is_callable)
