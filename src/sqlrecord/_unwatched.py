"""Whether a Core INSERT of plain rows stores what the ORM's unit of work would.

``bulk_create`` owes its users what ``session.add_all`` of ``Model(**row)``
objects and a flush give. For a model that nothing of the user's watches, a Core
INSERT per batch gives the same rows without building an object per row: the
ORM leaves Python-side defaults to Core too, and this module hands Core the rows
as the unit of work would (column keys, ``None`` left out where the ORM leaves
it out). Anything that could see the difference keeps the objects: a listener or
validator, a version counter, inheritance (the discriminator), a dataclass model.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

from sqlalchemy import Column, Integer, MetaData, Table, inspect
from sqlalchemy.orm import Mapper, Session, registry

from ._internals import listener_count

__all__ = ["plain_table_rows"]

# Every event that can watch a new object on its way in, by where it is listened for.
_MAPPER_EVENTS = ("before_insert", "after_insert", "before_update", "after_update")
_INSTANCE_EVENTS = ("init_failure", "load", "refresh", "refresh_flush")
_ATTRIBUTE_EVENTS = ("set", "append", "remove", "init_scalar", "modified", "bulk_replace")
_SESSION_EVENTS = (
    "before_flush",
    "after_flush",
    "after_flush_postexec",
    "before_attach",
    "after_attach",
    "transient_to_pending",
    "pending_to_persistent",
    "pending_to_transient",
    "persistent_to_detached",
    "detached_to_persistent",
    "do_orm_execute",
)

TableRow = Callable[[dict[str, Any]], dict[str, Any]]


def _listened(target: Any, names: tuple[str, ...]) -> bool:
    return any(listener_count(target, name) for name in names)


@functools.cache
def _own_init_listeners() -> int:
    """How many ``init`` listeners SQLAlchemy itself gives every mapped class (one,
    which configures the mappers on first use): more on a model are the user's."""

    class Probe:
        pass

    registry().map_imperatively(
        Probe, Table("probe", MetaData(), Column("id", Integer, primary_key=True))
    )
    return listener_count(inspect(Probe).class_manager, "init")


def _watched(mapper: Mapper[Any], session: Session) -> bool:
    if _listened(mapper, _MAPPER_EVENTS):
        return True
    manager = mapper.class_manager
    if _listened(manager, _INSTANCE_EVENTS):
        return True
    if listener_count(manager, "init") > _own_init_listeners():
        return True
    # A column's listeners are the user's (validators among them); a relationship's
    # are backrefs, and bulk rows set no relationship.
    columns = {prop.key for prop in mapper.column_attrs}
    if any(_listened(manager[key], _ATTRIBUTE_EVENTS) for key in columns):
        return True
    return _listened(session, _SESSION_EVENTS)


def plain_table_rows(model: type[Any], session: Session) -> tuple[Table, TableRow] | None:
    """The table and a row converter, when a Core INSERT of ``model``'s rows in
    ``session`` stores what ``add_all`` and a flush would; else ``None``.

    Example:
        >>> table, as_row = plain_table_rows(Memo, Session())
        >>> table.name, as_row({"text": "hi", "created_at": None, "deleted_at": None})
        ('doc_memos', {'text': 'hi', 'deleted_at': None})
    """
    mapper: Mapper[Any] = inspect(model)
    table = mapper.local_table
    if (
        not isinstance(table, Table)
        or mapper.inherits is not None
        or mapper.polymorphic_on is not None
        or mapper.version_id_col is not None
        or dataclasses.is_dataclass(model)
        or _watched(mapper, session)
    ):
        return None
    column_of: dict[str, Column[Any]] = {}
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        if isinstance(column, Column) and column.table is table:
            column_of[prop.key] = column
    # The unit of work leaves a None out of the INSERT, unless the type stores None as
    # a value of its own (JSON's null): where the column has a default or is a key,
    # that default (or the generated key) applies; elsewhere the row gets NULL either
    # way, and keeping the None keeps the rows' columns alike (one executemany).
    drops_none = {
        key
        for key, column in column_of.items()
        if not column.type.should_evaluate_none
        and (column.primary_key or column.default is not None or column.server_default is not None)
    }

    renamed = any(key != column.key for key, column in column_of.items())

    def as_table_row(row: dict[str, Any]) -> dict[str, Any]:
        if not renamed and drops_none.isdisjoint(row):
            return row  # already what the INSERT takes
        return {
            str(column_of[key].key): value
            for key, value in row.items()
            if value is not None or key not in drops_none
        }

    return table, as_table_row
