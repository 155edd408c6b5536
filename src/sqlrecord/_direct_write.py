"""One-row INSERT, UPDATE and DELETE sent as a Core statement, past the ORM's unit of work.

An own session's ``create()``/``save()``/``delete()`` of a lone object, and a served
session's ``create()``, spend most of their CPU time in the flush machinery (the
unit of work, the session's transaction bookkeeping, identity-map registration),
for what is one statement.
When ``_one_statement`` shows that the flush would be exactly that statement, it
is sent directly: the row's values, and ``RETURNING`` for every value the
database or a column default supplies, so the object comes back as the ORM would
leave it after commit: detached, every column loaded, no pending changes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import InstanceState, Session
from sqlalchemy.orm import exc as orm_exc
from sqlalchemy.sql.elements import ClauseElement

from ._direct import (
    PK_PARAM,
    DirectStatement,
    TablePlan,
    execute_alone,
    execute_on,
    key_condition,
    settle,
    table_plan,
)

__all__ = ["delete_row", "insert_row", "update_row", "writes_directly"]


def writes_directly(state: InstanceState[Any], dialect: Any, *, deleting: bool = False) -> bool:
    """Whether ``state``'s write may go as one Core statement on ``dialect``.

    The caller has shown already that the flush would be one statement
    (``_one_statement``); this checks what the direct statement itself needs.
    """
    mapper = state.mapper
    plan = table_plan(mapper)
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


async def insert_row(
    target: AsyncEngine | Session, state: InstanceState[Any], *, savepoint: bool = False
) -> None:
    """INSERT ``state``'s object as one statement and settle it as a loaded row with its
    identity: on a connection of its own (``AsyncEngine``), or on a served session's
    connection, in its transaction (the session's sync ``Session``; with ``savepoint``,
    inside a SAVEPOINT of its own, sent in the same trip to the driver)."""
    mapper = state.mapper
    plan = table_plan(mapper)
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
    for key, column, default in plan.scalar_defaults:
        if column.key not in params:
            params[column.key] = values[key] = default
    if plan.version is not None and plan.next_version is not None:
        params[plan.version.key] = values[plan.key_of[plan.version.key]] = plan.next_version(None)
    given = frozenset(params)
    cached = plan.statements.get(given)
    if cached is None:
        missing = [column for column in plan.columns.values() if column.key not in given]
        statement = insert(plan.table).returning(*missing) if missing else insert(plan.table)
        cached = plan.remember(given, (DirectStatement(statement, given), missing))
    statement, missing = cached
    if isinstance(target, Session):
        row = await execute_on(target, mapper, statement, params, savepoint=savepoint)
    else:
        row = await execute_alone(target, statement, params)
    if row is not None:
        for column, value in zip(missing, row, strict=True):
            values[plan.key_of[column.key]] = value
    settle(state)
    state.key = mapper.identity_key_from_instance(state.obj())


async def update_row(bind: AsyncEngine, state: InstanceState[Any]) -> None:
    """UPDATE the changed columns of ``state``'s row as one statement.

    A row that is gone (or whose version moved on) raises the ORM's own
    ``StaleDataError``, which the session scope turns into sqlrecord's error.
    """
    plan = table_plan(state.mapper)
    values = state.dict
    changed = [key for key in state.committed_state if key in plan.columns and key in values]
    if not changed:
        return
    params = _row_condition_params(plan, state)
    params.update({plan.columns[key].key: values[key] for key in changed})
    if plan.version is not None and plan.next_version is not None:
        params[plan.version.key] = plan.next_version(values[plan.key_of[plan.version.key]])
    given = frozenset(params)
    cached = plan.statements.get(given)
    if cached is None:
        fetched = [column for column in plan.onupdate if column.key not in given]
        # The primary key comes back too: no row back means no row matched.
        condition = key_condition(plan, with_version=True)
        statement = update(plan.table).where(*condition).returning(*plan.pk, *fetched)
        cached = plan.remember(given, (DirectStatement(statement, given), fetched))
    statement, fetched = cached
    row = await execute_alone(bind, statement, params)
    if row is None:
        raise orm_exc.StaleDataError(
            f"UPDATE of {plan.table.name} matched no row: it was deleted or changed since "
            "it was loaded."
        )
    for column, value in zip(fetched, row[len(plan.pk) :], strict=True):
        values[plan.key_of[column.key]] = value
    if plan.version is not None and plan.next_version is not None:
        values[plan.key_of[plan.version.key]] = params[plan.version.key]
    settle(state)


async def delete_row(bind: AsyncEngine, state: InstanceState[Any]) -> None:
    """DELETE ``state``'s row as one statement; the object ends deleted and detached.

    A row that is gone (or whose version moved on) raises the ORM's own
    ``StaleDataError``, as from a flush.
    """
    plan = table_plan(state.mapper)
    params = _row_condition_params(plan, state)
    statement = plan.statements.get("delete")
    if statement is None:
        condition = key_condition(plan, with_version=True)
        statement = plan.remember(
            "delete", DirectStatement(delete(plan.table).where(*condition), params)
        )
    if await execute_alone(bind, statement, params, count=True) != 1:
        raise orm_exc.StaleDataError(
            f"DELETE of {plan.table.name} matched no row: it was deleted or changed since "
            "it was loaded."
        )
    # As after an ORM flush and commit: was_deleted is true, and sqlrecord refuses
    # to write the object again. No public API sets it on an object outside a session.
    state._deleted = True


def _row_condition_params(plan: TablePlan, state: InstanceState[Any]) -> dict[str, Any]:
    """The values for :func:`key_condition`: the identity key, and the loaded version."""
    identity = state.key[1] if state.key is not None else ()
    params = {PK_PARAM + column.key: value for column, value in zip(plan.pk, identity, strict=True)}
    if plan.version is not None:
        params[PK_PARAM + plan.version.key] = state.dict[plan.key_of[plan.version.key]]
    return params
