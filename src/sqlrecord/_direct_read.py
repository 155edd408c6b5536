"""``get(pk)`` and plain ``all()`` in an own session as Core SELECTs, past the ORM's query
machinery.

The ORM's ``Session.get`` builds and runs an ORM query and loads the row through
the mapper's loaders; for a plain single-table model whose loading does nothing
but copy the columns, that is a SELECT by key and a detached object holding the
row. The object comes back as it would from the ORM: detached, every column
loaded, relationships unloaded (``_lazy_guard`` still names them when touched).
Anything the ORM does on load (eager relationship loaders, deferred columns,
polymorphic loading, ``load`` events, ``do_orm_execute`` hooks) keeps the ORM path.

A list read this way also builds its objects only after the connection went back to
the pool (on MySQL/MariaDB after the ROLLBACK that ends the read's transaction): the
objects are never alive while a round trip is awaited, which under concurrency kept
them alive long enough to be promoted through the garbage collector's generations.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapper, Session

from ._direct import PK_PARAM, DirectStatement, execute_alone, key_condition, table_plan

__all__ = ["columns_of", "read_row", "reads_directly", "rows_as_objects"]

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


def columns_of(mapper: Mapper[Any]) -> list[Any]:
    """The columns a direct read selects, in the order :func:`rows_as_objects` takes them."""
    return list(table_plan(mapper).columns.values())


def rows_as_objects(mapper: Mapper[Any], rows: Sequence[Any]) -> list[Any]:
    """Rows of :func:`columns_of` as objects, as the ORM leaves them after a load in a
    session that then closed: detached, every column loaded, nothing pending. A key met
    twice gives the first object again, as an identity map would."""
    plan = table_plan(mapper)
    names = tuple(plan.columns)
    columns = tuple(plan.columns.values())
    key_at = [next(i for i, column in enumerate(columns) if column is pk) for pk in plan.pk]
    # The loop below is the whole cost of a large list: per row, what the ORM's loader
    # does for a new object, with the lookups done once here.
    key_of = itemgetter(*key_at)
    one_column_key = len(key_at) == 1
    identity_class = mapper.identity_key_from_primary_key((None,) * len(key_at))[0]
    manager = mapper.class_manager
    new_instance = manager.new_instance
    dict_of = manager.dict_getter()
    state_of = manager.state_getter()
    objects: list[Any] = []
    seen: dict[Any, Any] = {}
    for row in rows:
        key = key_of(row)
        identity = (identity_class, (key,) if one_column_key else key, None)
        known = seen.get(identity)
        if known is not None:
            objects.append(known)
            continue
        obj = new_instance()
        # Values put straight into a new object's dict are its committed ones already
        # (no attribute event ran): nothing is left to settle.
        dict_of(obj).update(zip(names, row, strict=False))
        state_of(obj).key = identity
        seen[identity] = obj
        objects.append(obj)
    return objects


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
    return None if row is None else rows_as_objects(mapper, [row])[0]
