"""What sqlrecord's direct statements share: a table plan per mapper, running one
statement on a connection of its own, and settling an object as the ORM would.

The direct paths (``_direct_write``, ``_direct_read``) send one Core statement
past the ORM's unit of work and query machinery when a call is provably that
statement; see those modules for when.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Callable
from typing import Any, Literal, overload

from sqlalchemy import Column, Table, bindparam
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import InstanceState, Mapper

__all__ = [
    "PK_PARAM",
    "TablePlan",
    "execute_alone",
    "execute_on",
    "key_condition",
    "settle",
    "table_plan",
]

#: Prefix of the bound parameters that name a row by its key (never a column's key).
PK_PARAM = "sqlrecord_pk_"


class TablePlan:
    """What a mapper's direct statements need, worked out once per mapper, and the
    statements built so far (one per set of columns given)."""

    __slots__ = (
        "as_none",
        "columns",
        "key_of",
        "next_version",
        "onupdate",
        "pk",
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
        version = mapper.version_id_col
        self.version: Column[Any] | None = None if version is None else table.c[str(version.key)]
        generator = mapper.version_id_generator
        self.next_version: Callable[[Any], Any] | None = generator if callable(generator) else None
        self.onupdate = [
            column
            for column in self.columns.values()
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

    def remember(self, key: Any, statement: Any) -> Any:
        """Keep ``statement`` under ``key`` (bounded: a model updated in many different
        column sets must not grow the cache without end) and return it."""
        if len(self.statements) >= _STATEMENTS_PER_TABLE:
            self.statements.clear()
        self.statements[key] = statement
        return statement


_STATEMENTS_PER_TABLE = 256
# Weak: a model class that goes away (tests declare them on the fly) takes its plan along.
_PLANS: weakref.WeakKeyDictionary[Mapper[Any], TablePlan] = weakref.WeakKeyDictionary()


def table_plan(mapper: Mapper[Any]) -> TablePlan:
    """The :class:`TablePlan` of ``mapper``, made on first use."""
    plan = _PLANS.get(mapper)
    if plan is None:
        plan = _PLANS[mapper] = TablePlan(mapper)
    return plan


def key_condition(plan: TablePlan, *, with_version: bool) -> list[Any]:
    """``WHERE`` a row's key (and its version, for a versioned model), as bound parameters
    named ``PK_PARAM + column key``."""
    condition = [column == bindparam(PK_PARAM + column.key) for column in plan.pk]
    if with_version and plan.version is not None:
        condition.append(plan.version == bindparam(PK_PARAM + plan.version.key))
    return condition


def settle(state: InstanceState[Any]) -> None:
    """Make the values in the object's dict its committed ones: no pending changes.

    The step an ORM flush ends with (``Session._register_persistent``). No public
    API clears the "modified" flag: ``set_committed_value`` leaves it set, and
    ``make_transient_to_detached`` would also expire the unloaded relationships,
    which must stay lazy (``_lazy_guard``) as after an ORM write.
    """
    state._commit_all(state.dict)


@overload
async def execute_alone(
    bind: AsyncEngine, statement: Any, params: dict[str, Any]
) -> Row[Any] | None: ...


@overload
async def execute_alone(
    bind: AsyncEngine, statement: Any, params: dict[str, Any], *, count: Literal[True]
) -> int: ...


async def execute_alone(
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


async def execute_on(
    connection: AsyncConnection, statement: Any, params: dict[str, Any]
) -> Row[Any] | None:
    """Run ``statement`` on a served session's connection, in its transaction; its row."""
    result = await connection.execute(statement, params)
    return result.first() if result.returns_rows else None


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
