"""One-row INSERT, UPDATE and DELETE sent as a Core statement, past the ORM's unit of work.

An own session's ``create()``/``save()`` of a lone object spends most of its
CPU time in the flush machinery (the unit of work, the session's transaction
bookkeeping, identity-map registration), for what is one statement. When
``_one_statement`` shows that the flush would be exactly that statement, it is
sent directly: the row's values, and ``RETURNING`` for every value the database
or a column default supplies, so the object comes back as the ORM would leave
it after commit: detached, every column loaded, no pending changes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Literal, overload

from sqlalchemy import Column, Table, bindparam, delete, insert, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import InstanceState, Mapper
from sqlalchemy.orm import exc as orm_exc
from sqlalchemy.sql.elements import ClauseElement

__all__ = ["delete_row", "insert_row", "update_row", "writes_directly"]

_PK_PARAM = "sqlrecord_pk_"


class _Plan:
    """What a mapper's direct writes need, worked out once per mapper."""

    __slots__ = (
        "as_none",
        "columns",
        "key_of",
        "next_version",
        "onupdate",
        "pk",
        "pk_keys",
        "statements",
        "table",
        "version",
    )

    def __init__(self, mapper: Mapper[Any]) -> None:
        table = mapper.local_table
        assert isinstance(table, Table)
        self.table = table
        # attribute key -> column, for attributes stored in this table's columns
        self.columns: dict[str, Column[Any]] = {}
        for prop in mapper.column_attrs:
            column = prop.columns[0]
            if isinstance(column, Column) and column.table is table and len(prop.columns) == 1:
                self.columns[prop.key] = column
        self.key_of = {column.key: key for key, column in self.columns.items()}
        self.pk: list[Column[Any]] = [table.c[str(column.key)] for column in mapper.primary_key]
        self.pk_keys = frozenset(column.key for column in self.pk)
        version = mapper.version_id_col
        self.version: Column[Any] | None = None if version is None else table.c[str(version.key)]
        generator = mapper.version_id_generator
        self.next_version: Callable[[Any], Any] | None = generator if callable(generator) else None
        self.onupdate = [
            column
            for column in table.columns
            if column.onupdate is not None or column.server_onupdate is not None
        ]
        # As the ORM does: a column with no default of any kind gets an explicit
        # NULL, so a NOT NULL one fails as "cannot be null" on every database.
        self.as_none = [
            (key, column)
            for key, column in self.columns.items()
            if not (column.primary_key or column.default is not None)
            and column.server_default is None
            and not column.type.should_evaluate_none
        ]
        self.statements: dict[Any, Any] = {}


_PLANS: dict[Mapper[Any], _Plan] = {}


def _plan(mapper: Mapper[Any]) -> _Plan:
    plan = _PLANS.get(mapper)
    if plan is None:
        plan = _PLANS[mapper] = _Plan(mapper)
    return plan


def writes_directly(state: InstanceState[Any], dialect: Any, *, deleting: bool = False) -> bool:
    """Whether ``state``'s write may go as one Core statement on ``dialect``.

    The caller has shown already that the flush would be one statement
    (``_one_statement``); this checks what the direct statement itself needs.
    """
    mapper = state.mapper
    plan = _plan(mapper)
    if len(plan.columns) != len(mapper.column_attrs):
        return False  # an expression or multi-column attribute: the ORM knows best
    if getattr(mapper, "_insert_orm_defaults", {}).get(plan.table):
        return False  # dataclass-level defaults the ORM applies at flush time
    if mapper.version_id_col is not None and mapper.version_id_generator is False:
        return False  # a version the server generates
    values = state.dict
    if any(isinstance(values.get(key), ClauseElement) for key in plan.columns):
        return False  # a SQL expression assigned to an attribute
    if deleting:
        # The WHERE clause needs the loaded key and version, and nothing comes back.
        return state.key is not None and (
            plan.version is None or plan.key_of[plan.version.key] in values
        )
    if state.key is None:
        return bool(dialect.insert_returning)
    changed = state.committed_state
    if any(column.key in changed for column in plan.pk):
        return False  # a primary key changed: the ORM carries it
    if plan.version is not None:
        version_key = plan.key_of[plan.version.key]
        if version_key in changed or version_key not in values:
            return False  # a version set by hand, or not loaded
    return bool(dialect.update_returning)


async def insert_row(bind: AsyncEngine, state: InstanceState[Any]) -> None:
    """INSERT ``state``'s object as one statement and make it a detached, loaded row."""
    mapper = state.mapper
    plan = _plan(mapper)
    values = state.dict
    params: dict[str, Any] = {}
    for key, column in plan.columns.items():
        if key in values:
            value = values[key]
            # As the ORM does: None for a column with a default lets the default apply.
            if value is None and not column.type.should_evaluate_none:
                continue
            params[column.key] = value
    for key, column in plan.as_none:
        if column.key not in params:
            params[column.key] = values[key] = None
    if plan.version is not None and plan.next_version is not None:
        params[plan.version.key] = values[plan.key_of[plan.version.key]] = plan.next_version(None)
    given = frozenset(params)
    statement = plan.statements.get(given)
    if statement is None:
        missing = [column for column in plan.table.columns if column.key not in given]
        statement = insert(plan.table).returning(*missing) if missing else insert(plan.table)
        plan.statements[given] = statement
    row = await _execute_alone(bind, statement, params)
    if row is not None:
        for name, value in row._mapping.items():
            values[plan.key_of[name]] = value
    _settle(state)
    state.key = mapper.identity_key_from_instance(state.obj())


async def update_row(bind: AsyncEngine, state: InstanceState[Any]) -> None:
    """UPDATE the changed columns of ``state``'s row as one statement.

    A row that is gone (or whose version moved on) raises the ORM's own
    ``StaleDataError``, which the session scope turns into sqlrecord's error.
    """
    plan = _plan(state.mapper)
    values = state.dict
    changed = [key for key in state.committed_state if key in plan.columns and key in values]
    if not changed:
        return
    params = _row_condition_params(plan, state)
    params.update({plan.columns[key].key: values[key] for key in changed})
    if plan.version is not None and plan.next_version is not None:
        params[plan.version.key] = plan.next_version(values[plan.key_of[plan.version.key]])
    given = frozenset(params)
    statement = plan.statements.get(given)
    if statement is None:
        fetched = [column for column in plan.onupdate if column.key not in given]
        # The primary key comes back too: no row back means no row matched.
        statement = update(plan.table).where(*_row_condition(plan)).returning(*plan.pk, *fetched)
        plan.statements[given] = statement
    row = await _execute_alone(bind, statement, params)
    if row is None:
        raise orm_exc.StaleDataError(
            f"UPDATE of {plan.table.name} matched no row: it was deleted or changed since "
            "it was loaded."
        )
    for name, value in row._mapping.items():
        if name not in plan.pk_keys:
            values[plan.key_of[name]] = value
    if plan.version is not None and plan.next_version is not None:
        values[plan.key_of[plan.version.key]] = params[plan.version.key]
    _settle(state)


async def delete_row(bind: AsyncEngine, state: InstanceState[Any]) -> None:
    """DELETE ``state``'s row as one statement; the object ends deleted and detached.

    A row that is gone (or whose version moved on) raises the ORM's own
    ``StaleDataError``, as from a flush.
    """
    plan = _plan(state.mapper)
    params = _row_condition_params(plan, state)
    statement = plan.statements.get("delete")
    if statement is None:
        statement = plan.statements["delete"] = delete(plan.table).where(*_row_condition(plan))
    if await _execute_alone(bind, statement, params, count=True) != 1:
        raise orm_exc.StaleDataError(
            f"DELETE of {plan.table.name} matched no row: it was deleted or changed since "
            "it was loaded."
        )
    # As after an ORM flush and commit: was_deleted is true, and sqlrecord refuses
    # to write the object again. No public API sets it on an object outside a session.
    state._deleted = True


def _row_condition(plan: _Plan) -> list[Any]:
    """``WHERE`` the row's key (and its version, for a versioned model) as loaded."""
    condition = [column == bindparam(_PK_PARAM + column.key) for column in plan.pk]
    if plan.version is not None:
        condition.append(plan.version == bindparam(_PK_PARAM + plan.version.key))
    return condition


def _row_condition_params(plan: _Plan, state: InstanceState[Any]) -> dict[str, Any]:
    """The values for :func:`_row_condition`: the identity key, and the loaded version."""
    identity = state.key[1] if state.key is not None else ()
    params = {
        _PK_PARAM + column.key: value for column, value in zip(plan.pk, identity, strict=True)
    }
    if plan.version is not None:
        params[_PK_PARAM + plan.version.key] = state.dict[plan.key_of[plan.version.key]]
    return params


def _settle(state: InstanceState[Any]) -> None:
    """Make the values in the object's dict its committed ones: no pending changes.

    The step an ORM flush ends with (``Session._register_persistent``). No public
    API clears the "modified" flag: ``set_committed_value`` leaves it set, and
    ``make_transient_to_detached`` would also expire the unloaded relationships,
    which must stay lazy (``_lazy_guard``) as after an ORM write.
    """
    state._commit_all(state.dict)


@overload
async def _execute_alone(
    bind: AsyncEngine, statement: Any, params: dict[str, Any]
) -> Row[Any] | None: ...


@overload
async def _execute_alone(
    bind: AsyncEngine, statement: Any, params: dict[str, Any], *, count: Literal[True]
) -> int: ...


async def _execute_alone(
    bind: AsyncEngine, statement: Any, params: dict[str, Any], *, count: bool = False
) -> Row[Any] | int | None:
    """Run ``statement`` on a connection of its own and commit (a no-op in autocommit);
    return its row, or with ``count=True`` the number of rows it matched."""

    def run(connection: Connection) -> Row[Any] | int | None:
        result = connection.execute(statement, params)
        outcome: Row[Any] | int | None = None
        if count:
            outcome = result.rowcount
        elif result.returns_rows:
            outcome = result.first()
        connection.commit()
        return outcome

    connection = bind.connect()
    try:
        await connection.start()
        outcome = await connection.run_sync(run)
    except BaseException as error:
        await _abandon(connection, cancelled=not isinstance(error, Exception))
        raise
    await connection.close()
    return outcome


async def _abandon(connection: AsyncConnection, *, cancelled: bool) -> None:
    if connection.sync_connection is None:
        return  # never connected: nothing to give back
    if cancelled:
        # Cancelled mid-statement: the connection may still be busy, so it is
        # closed for good instead of pooled (see _scope.discard).
        with contextlib.suppress(Exception):
            await asyncio.shield(connection.invalidate())
        return
    with contextlib.suppress(sa_exc.DBAPIError):
        await connection.close()
