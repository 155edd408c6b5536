"""What sqlrecord's direct statements share: a table plan per mapper, running one
statement on a connection of its own, and settling an object as the ORM would.

The direct paths (``_direct_write``, ``_direct_read``) send one Core statement
past the ORM's unit of work and query machinery when a call is provably that
statement; see those modules for when.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import Any, Literal, overload

from sqlalchemy import Column, ColumnDefault, Table, bindparam
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import InstanceState, Mapper, Session
from sqlalchemy.util import greenlet_spawn

from ._dbapi_path import CompiledStatement, run_alone
from ._dbapi_served import run_in_transaction

__all__ = [
    "PK_PARAM",
    "DirectStatement",
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
        "scalar_defaults",
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
        # Defaults that are plain values: sent as given values, so the INSERT has no
        # default left to compute at execution time (_dbapi_path sends it as it is).
        self.scalar_defaults = [
            (key, column, column.default.arg)
            for key, column in self.columns.items()
            if isinstance(column.default, ColumnDefault) and column.default.is_scalar
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


class DirectStatement:
    """A direct statement, the names of the parameters it is run with, and its compiled
    form per dialect (a model may be used on several databases)."""

    __slots__ = ("_compiled", "column_keys", "statement")

    def __init__(self, statement: Any, column_keys: Iterable[str]) -> None:
        self.statement = statement
        self.column_keys = tuple(sorted(column_keys))
        self._compiled: weakref.WeakKeyDictionary[Dialect, CompiledStatement | None] = (
            weakref.WeakKeyDictionary()
        )

    def compiled_for(self, dialect: Dialect) -> CompiledStatement | None:
        """The statement compiled for ``dialect`` (once), or None when only
        ``Connection.execute`` can run it."""
        try:
            return self._compiled[dialect]
        except KeyError:
            compiled = CompiledStatement.usable(self.statement, dialect, self.column_keys)
            self._compiled[dialect] = compiled
            return compiled


@overload
async def execute_alone(
    bind: AsyncEngine, direct: DirectStatement, params: dict[str, Any]
) -> tuple[Any, ...] | None: ...


@overload
async def execute_alone(
    bind: AsyncEngine, direct: DirectStatement, params: dict[str, Any], *, count: Literal[True]
) -> int: ...


async def execute_alone(
    bind: AsyncEngine, direct: DirectStatement, params: dict[str, Any], *, count: bool = False
) -> tuple[Any, ...] | int | None:
    """Run ``direct`` on a connection of its own as a transaction by itself; return its
    row, or with ``count=True`` the number of rows it matched."""
    engine = bind.sync_engine
    compiled = direct.compiled_for(engine.dialect)
    return await run_alone(engine, direct.statement, compiled, params, count=count)


async def execute_on(
    session: Session,
    mapper: Mapper[Any],
    direct: DirectStatement,
    params: dict[str, Any],
    *,
    savepoint: bool = False,
) -> tuple[Any, ...] | None:
    """Run ``direct`` on a served session's connection for ``mapper``, in its
    transaction (with ``savepoint``, inside a SAVEPOINT of its own); its row."""
    compiled = direct.compiled_for(session.get_bind(mapper).dialect)
    return await greenlet_spawn(
        run_in_transaction, session, mapper, direct.statement, compiled, params, savepoint
    )
