"""``get(pk)`` in an own session as one Core SELECT, past the ORM's query machinery.

The ORM's ``Session.get`` builds and runs an ORM query and loads the row through
the mapper's loaders; for a plain single-table model whose loading does nothing
but copy the columns, that is a SELECT by key and a detached object holding the
row. The object comes back as it would from the ORM: detached, every column
loaded, relationships unloaded (``_lazy_guard`` still names them when touched).
Anything the ORM does on load (eager relationship loaders, deferred columns,
polymorphic loading, ``load`` events, ``do_orm_execute`` hooks) keeps the ORM path.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import InstanceState, Mapper, Session
from sqlalchemy.orm.base import instance_state

from ._direct import PK_PARAM, DirectStatement, execute_alone, key_condition, settle, table_plan

__all__ = ["read_row", "reads_directly"]

# Loader strategies that leave an attribute unloaded at load time, as a direct read does.
_LAZY_STRATEGIES = frozenset({"select", "raise", "raise_on_sql", "dynamic", "write_only"})
# Session hooks that see or change an ORM load.
_SESSION_HOOKS = ("do_orm_execute", "loaded_as_persistent")


def reads_directly(session: Session, mapper: Mapper[Any]) -> bool:
    """Whether loading a ``mapper`` row by key is copying its columns, nothing more."""
    if mapper.inherits is not None or mapper.polymorphic_on is not None:
        return False
    if len(mapper.tables) != 1:
        return False
    plan = table_plan(mapper)
    if len(plan.columns) != len(mapper.column_attrs):
        return False  # an expression or multi-column attribute
    if any(prop.deferred for prop in mapper.column_attrs):
        return False
    if any(relation.lazy not in _LAZY_STRATEGIES for relation in mapper.relationships):
        return False  # joined, selectin, subquery, immediate, noload: work at load time
    events = mapper.class_manager.dispatch
    if events.load or events.refresh:
        return False
    return not any(getattr(session.dispatch, hook) for hook in _SESSION_HOOKS)


async def read_row(bind: AsyncEngine, mapper: Mapper[Any], key: tuple[Any, ...]) -> Any:
    """The row of ``mapper`` with primary key ``key`` as a detached object, or None."""
    plan = table_plan(mapper)
    params = {PK_PARAM + column.key: value for column, value in zip(plan.pk, key, strict=True)}
    statement = plan.statements.get("get")
    if statement is None:
        condition = key_condition(plan, with_version=False)
        by_key = select(*plan.columns.values()).where(*condition)
        statement = plan.remember("get", DirectStatement(by_key, params))
    row = await execute_alone(bind, statement, params)
    if row is None:
        return None
    obj = mapper.class_manager.new_instance()
    state: InstanceState[Any] = instance_state(obj)
    values = state.dict
    for name, value in zip(plan.columns, row, strict=True):
        values[name] = value
    settle(state)
    state.key = mapper.identity_key_from_primary_key(key)
    return obj
